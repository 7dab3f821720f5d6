"""A minimal ccxt bot that trades Binance USDⓈ-M futures through the riskwall sidecar.

It knows nothing about riskwall except two environment variables that every `requests`-based client reads:

    HTTPS_PROXY=http://127.0.0.1:8080                          # the sidecar's explicit proxy
    REQUESTS_CA_BUNDLE=/riskwall-ca/mitmproxy-ca-cert.pem      # the sidecar's CA, from its confdir volume

(ccxt reads them when `requests_trust_env` is on.) One round: load the markets, fetch the mark price (so the
sidecar learns it and can value market orders), place a small limit order far below the market and cancel
it, then send a deliberately oversized order that the example policy blocks (`order-qty`), which ccxt
raises as InvalidOrder with the sidecar's message. Each step prints one JSON line.

Environment: BINANCE_API_KEY, BINANCE_API_SECRET (a Binance demo-trading key); BOT_SYMBOL (default
BTC/USDT:USDT); BOT_OVERSIZED_QTY (default 5); BINANCE_FAPI_URL to use another futures host than Binance's
demo-trading one (e.g. https://testnet.binancefuture.com, or a test double); BOT_ROUNDS (default 1) and
BOT_INTERVAL_S (default 60) to repeat. Exit status: 0 when every round behaved, 1 otherwise, including when
the oversized order was NOT blocked (it is then cancelled at once).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import ccxt

FIREWALL_MARK = "Risk firewall"  # riskwall's rejection messages start with it


def log(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def make_exchange() -> ccxt.binanceusdm:
    exchange = ccxt.binanceusdm({
        "apiKey": os.environ["BINANCE_API_KEY"],
        "secret": os.environ["BINANCE_API_SECRET"],
        "enableRateLimit": True,
        "timeout": 10_000,
        # HTTPS_PROXY and REQUESTS_CA_BUNDLE come from the environment
        "requests_trust_env": True,
        # currencies live on the spot host (api.binance.com), which the futures sidecar has no reason to allow
        "options": {"fetchCurrencies": False},
    })
    base = os.environ.get("BINANCE_FAPI_URL", "").rstrip("/")
    if base:
        for key, url in list(exchange.urls["api"].items()):
            if isinstance(url, str) and url.startswith("https://"):
                exchange.urls["api"][key] = base + urlsplit(url).path
    else:
        exchange.enable_demo_trading(True)
    return exchange


def smallest_valid_amount(exchange: ccxt.binanceusdm, symbol: str, price: float) -> float:
    market = exchange.market(symbol)
    step = float(market["precision"]["amount"] or 0.001)
    min_amount = float(market["limits"]["amount"]["min"] or step)
    min_notional = float(market["limits"]["cost"]["min"] or 100) * 1.1
    steps = math.ceil(max(min_amount, min_notional / price) / step)
    return float(exchange.amount_to_precision(symbol, steps * step))


def one_round(exchange: ccxt.binanceusdm, symbol: str, oversized: float) -> bool:
    mark = float(exchange.fetch_mark_price(symbol)["markPrice"])
    price = float(exchange.price_to_precision(symbol, mark * 0.8))
    amount = smallest_valid_amount(exchange, symbol, price)
    log("mark_price", symbol=symbol, mark=mark)

    order = exchange.create_order(symbol, "limit", "buy", amount, price)
    log("order_placed", id=order["id"], amount=amount, price=price)
    exchange.cancel_order(order["id"], symbol)
    log("order_cancelled", id=order["id"])

    try:
        stray = exchange.create_order(symbol, "limit", "buy", oversized, price)
    except ccxt.InvalidOrder as exc:
        if FIREWALL_MARK not in str(exc):
            log("oversized_refused_by_exchange", error=str(exc))
            return False
        log("oversized_blocked_by_riskwall", amount=oversized, error=str(exc))
        return True
    exchange.cancel_order(stray["id"], symbol)
    log("oversized_not_blocked", id=stray["id"], amount=oversized)
    return False


def main() -> int:
    symbol = os.environ.get("BOT_SYMBOL", "BTC/USDT:USDT")
    oversized = float(os.environ.get("BOT_OVERSIZED_QTY", "5"))
    rounds = max(1, int(os.environ.get("BOT_ROUNDS", "1")))
    interval = float(os.environ.get("BOT_INTERVAL_S", "60"))
    exchange = make_exchange()
    exchange.load_markets()
    log("markets_loaded", count=len(exchange.markets), proxy=os.environ.get("HTTPS_PROXY"))
    healthy = True
    for n in range(rounds):
        try:
            healthy = one_round(exchange, symbol, oversized) and healthy
        except ccxt.BaseError as exc:
            log("round_failed", round=n, error_type=type(exc).__name__, error=str(exc))
            healthy = False
        if n + 1 < rounds:
            time.sleep(interval)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
