"""Factory for a real, unmodified `ccxt.bitget` (sync) that plays the trading bot in tests.

Wiring (README, "Routing a bot through the sidecar"): every `urls['api']` entry points at the venue's HTTPS URL
with `https_proxy` set to the sidecar and the sidecar's CA trusted (explicit proxy), or at the plain-HTTP reverse
listener. Bitget's entries are `https://api.{hostname}`-style templates with no path prefix (ccxt puts
`/api/v2/...` in the path), so the rewrite keeps nothing but scheme and host.

`load_markets()` is limited to swap markets (`options.fetchMarkets.types = ["swap"]`): one
`GET /api/v2/mix/market/contracts` per product type (USDT-FUTURES, USDC-FUTURES, COIN-FUTURES); currencies are
not fetched (`fetchCurrencies: False`), so no spot endpoint is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ccxt
from tests.fakes.bitget import DEFAULT_ACCOUNTS
from tests.support.ccxt_bots import trust_ca

__all__ = ["DEFAULT_API_KEY", "DEFAULT_PASSPHRASE", "DEFAULT_SECRET", "make_bitget"]

DEFAULT_API_KEY, (DEFAULT_SECRET, DEFAULT_PASSPHRASE) = next(iter(DEFAULT_ACCOUNTS.items()))


def make_bitget(
    base_url: str,
    *,
    api_key: str = DEFAULT_API_KEY,
    secret: str = DEFAULT_SECRET,
    password: str = DEFAULT_PASSPHRASE,
    ca_file: str | Path | None = None,
    https_proxy: str | None = None,
    timeout_ms: int = 10_000,
    options: Mapping[str, Any] | None = None,
) -> ccxt.bitget:
    if https_proxy is not None and not base_url.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for HTTPS venues (the proxy intercepts TLS)")
    exchange = ccxt.bitget({
        "apiKey": api_key,
        "secret": secret,
        "password": password,
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": {"fetchMarkets": {"types": ["swap"]}, "fetchCurrencies": False, "defaultType": "swap",
                    **(options or {})},
    })
    base = base_url.rstrip("/")
    api = exchange.urls["api"]
    for key, url in list(api.items()):
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            api[key] = base
    if ca_file is not None:
        trust_ca(exchange, ca_file)
    if https_proxy is not None:
        exchange.https_proxy = https_proxy
    return exchange
