"""Factory for the real, unmodified `ccxt.bingx` (sync) that plays the trading bot in tests.

Wiring (README, "Routing a bot through the sidecar"; docs/venues.md §8): every `urls['api']` entry (`swap`,
`spot`, `cswap`, `wallets`, `api`, ...; each ends in `/openApi`) is pointed at the venue's HTTPS URL (explicit
proxy, with `https_proxy` and the sidecar's CA trusted through the transport adapter from
tests/support/ccxt_bots.py) or at the plain-HTTP reverse listener, keeping each entry's `/openApi` path.

ccxt.bingx with keys calls, in `load_markets`: `GET /openApi/wallets/v1/capital/config/getall` (currencies),
`GET /openApi/swap/v2/quote/contracts`, `GET /openApi/cswap/v1/market/contracts` and
`GET /openApi/spot/v1/common/symbols`. All of them pass the sidecar as reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ccxt
from tests.fakes.bingx import DEFAULT_ACCOUNTS
from tests.support.ccxt_bots import rewrite_api_urls, trust_ca

__all__ = ["DEFAULT_API_KEY", "DEFAULT_SECRET", "make_bingx"]

DEFAULT_API_KEY, DEFAULT_SECRET = next(iter(DEFAULT_ACCOUNTS.items()))
DEFAULT_TIMEOUT_MS = 10_000


def make_bingx(
    base_url: str,
    *,
    api_key: str | None = DEFAULT_API_KEY,
    secret: str | None = DEFAULT_SECRET,
    ca_file: str | Path | None = None,
    https_proxy: str | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    options: Mapping[str, Any] | None = None,
) -> ccxt.bingx:
    """A sync ccxt.bingx trading swaps whose every API URL is `base_url` (a venue over HTTPS, or a listener)."""
    if https_proxy is not None and not base_url.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for HTTPS venues (the proxy intercepts TLS)")
    exchange = ccxt.bingx({
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": {"defaultType": "swap", **(options or {})},
    })
    rewrite_api_urls(exchange, base_url)
    if ca_file is not None:
        trust_ca(exchange, ca_file)
    if https_proxy is not None:
        exchange.https_proxy = https_proxy
    return exchange
