"""`riskwall policy bench POLICY`: what a policy costs per order on the embedded engine, stage by stage.

Like `opa bench` for a policy author: the same order request, signed like a bot's (its price a hair lower each
time, as a bot re-quotes), goes `--orders` times through the venue's adapter (parse), the decision sequence on
the in-memory store, or on a Redis given with `--state` (decide: view, rules, reservation), and the learning
from an exchange-shaped answer (learn: the order rests, its reservation moves to it), so resting orders
accumulate as they would in a day of trading.
Printed per stage: median, p99 and mean microseconds. No proxy: the proxy's own cost is `make bench`'s
business. On Redis each order is decided and learned back to back, as a bot that trades without pause sends it:
decide and learn then each hold one round trip to the server and its script's time there. The run's keys live
under a prefix of its own and are deleted after it, so an account a sidecar keeps on the same server is never
touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from riskwall.decider import decide_request, learn_answer
from riskwall.model import Venue, Verdict
from riskwall.policy import Policy, PolicyError, load_policy
from riskwall.state import REDIS_SCHEMES, StateStore, StateUnavailable, UnsupportedStateUrl, open_store
from riskwall.state.breaker import without_password
from riskwall.venues import HttpRequest, adapter_for

DEFAULT_ORDERS = 2000
MAX_ORDERS = 1_000_000
BENCH_KEY = "riskwall-policy-bench-" + "k" * 42  # not a real key: its fingerprint is what the policy sees


@dataclass(frozen=True, slots=True)
class _Venue:
    symbol: str
    quantity: str
    price: str
    request: Callable[[str, str, str, int], HttpRequest]  # (symbol, quantity, price, n) → the order request
    answer: Callable[[str, str, str, int], bytes]  # the venue accepting it: a resting order


def _binance_request(symbol: str, quantity: str, price: str, n: int) -> HttpRequest:
    query = (("symbol", symbol), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", quantity),
             ("price", price), ("newClientOrderId", f"bench-{n}"), ("timestamp", "1767225600000"),
             ("signature", "f" * 64))
    return HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order?" + urlencode(query), query,
                       {"x-mbx-apikey": BENCH_KEY}, b"")


def _binance_answer(symbol: str, quantity: str, price: str, n: int) -> bytes:
    return json.dumps({"orderId": 1_000_000 + n, "symbol": symbol, "status": "NEW", "clientOrderId": f"bench-{n}",
                       "price": price, "origQty": quantity, "executedQty": "0", "side": "BUY",
                       "positionSide": "BOTH", "type": "LIMIT", "reduceOnly": False}).encode()


def _bybit_request(symbol: str, quantity: str, price: str, n: int) -> HttpRequest:
    body = json.dumps({"category": "linear", "symbol": symbol, "side": "Buy", "orderType": "Limit", "qty": quantity,
                       "price": price, "orderLinkId": f"bench-{n}"}).encode()
    return HttpRequest("POST", "api.bybit.com", 443, "/v5/order/create", (),
                       {"x-bapi-api-key": BENCH_KEY, "content-type": "application/json"}, body)


def _bybit_answer(symbol: str, quantity: str, price: str, n: int) -> bytes:
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": {"orderId": f"bench-order-{n}",
                                                                "orderLinkId": f"bench-{n}"},
                       "retExtInfo": {}, "time": 1767225600000}).encode()


def _okx_request(symbol: str, quantity: str, price: str, n: int) -> HttpRequest:
    body = json.dumps({"instId": symbol, "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": quantity,
                       "px": price, "clOrdId": f"bench{n}"}).encode()
    return HttpRequest("POST", "www.okx.com", 443, "/api/v5/trade/order", (),
                       {"ok-access-key": BENCH_KEY, "content-type": "application/json"}, body)


def _okx_answer(symbol: str, quantity: str, price: str, n: int) -> bytes:
    return json.dumps({"code": "0", "msg": "", "data": [{"ordId": str(2_000_000 + n), "clOrdId": f"bench{n}",
                                                         "tag": "", "sCode": "0", "sMsg": "Order placed"}]}).encode()


VENUES: dict[Venue, _Venue] = {
    Venue.BINANCEUSDM: _Venue("BTCUSDT", "0.001", "50000", _binance_request, _binance_answer),
    Venue.BYBIT: _Venue("BTCUSDT", "0.001", "50000", _bybit_request, _bybit_answer),
    Venue.OKX: _Venue("BTC-USDT-SWAP", "1", "50000", _okx_request, _okx_answer),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy", help="a policy file or folder")
    parser.add_argument("--venue", default="binanceusdm", choices=[v.value for v in VENUES],
                        help="the venue whose order request is read (default binanceusdm)")
    parser.add_argument("--symbol", help="the order's symbol as the venue writes it (default BTCUSDT, "
                                         "BTC-USDT-SWAP for okx)")
    parser.add_argument("--quantity", help="the order's size as the venue writes it (default 0.001; 1 contract "
                                           "for okx)")
    parser.add_argument("--price", default=None, help="the order's limit price (default 50000)")
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS,
                        help=f"orders to decide (default {DEFAULT_ORDERS}); each rests, so they accumulate")
    parser.add_argument("--state", default="memory://", metavar="URL",
                        help="the store decided on: memory:// (default) or redis://host:port/db; on Redis the "
                             "run's keys go under a prefix of its own and are deleted after it")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")


def main(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        print(f"riskwall: invalid policy {args.policy}:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    if not 1 <= args.orders <= MAX_ORDERS:
        print(f"riskwall: --orders must be between 1 and {MAX_ORDERS}", file=sys.stderr)
        return 2
    venue = Venue(args.venue)
    spec = VENUES[venue]
    order = (args.symbol or spec.symbol, args.quantity or spec.quantity, args.price or spec.price)
    try:
        report = asyncio.run(bench(policy, venue, order, args.orders, args.state))
    except UnsupportedStateUrl as exc:
        print(f"riskwall: {exc}", file=sys.stderr)
        return 2
    except StateUnavailable as exc:
        print(f"riskwall: the state store {without_password(args.state)} did not answer: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 0


def requoted(price: str, n: int) -> str:
    """`price` lowered by n ten-millionths of itself (n counted modulo 10,000, so at most 0.1%), written plainly."""
    base = Decimal(price)
    return format(base - base * (n % 10_000) / 10_000_000, "f")


async def bench(policy: Policy, venue: Venue, order: tuple[str, str, str], orders: int,
                state: str = "memory://") -> dict[str, Any]:
    """Time each stage of `orders` orders; the verdicts are counted (a policy that blocks still costs)."""
    url, throwaway = state, state.split("://", 1)[0] in REDIS_SCHEMES
    if throwaway:
        from riskwall.state.redis import drop_throwaway_store, throwaway_url  # Redis's client, only if asked for

        url = throwaway_url(state)
    store = open_store(url)
    try:
        report = await _timed(store, policy, venue, order, orders)
    finally:
        await store.close()
        if throwaway:
            await drop_throwaway_store(url)
    return {**report, "state": without_password(state).split("?", 1)[0]}


async def _timed(store: StateStore, policy: Policy, venue: Venue, order: tuple[str, str, str],
                 orders: int) -> dict[str, Any]:
    adapter, spec = adapter_for(venue), VENUES[venue]
    stages: dict[str, list[float]] = {"parse": [], "decide": [], "learn": [], "total": []}
    verdicts: dict[str, int] = {}
    clock = time.perf_counter_ns
    for n in range(orders):
        # each order a hair below the last, as a bot re-quotes: a duplicate_orders rule sees distinct orders
        symbol, quantity, price = order
        order_n = (symbol, quantity, requoted(price, n))
        request = spec.request(*order_n, n)
        started = clock()
        parsed = adapter.parse_request(request)
        parsed_at = clock()
        evaluation = await decide_request(parsed, policy, store, f"bench{n:012d}")
        decided_at = clock()
        deciding = evaluation.decision.deciding
        outcome = f"block {deciding.rule_id} ({deciding.reason})" if deciding and \
            evaluation.decision.verdict is Verdict.BLOCK else "allow"
        verdicts[outcome] = verdicts.get(outcome, 0) + 1
        stages["parse"].append((parsed_at - started) / 1000)
        stages["decide"].append((decided_at - parsed_at) / 1000)
        finished = decided_at
        if evaluation.decision.verdict is Verdict.ALLOW:
            await learn_answer(store, adapter, evaluation.parsed or parsed, request, 200, spec.answer(*order_n, n),
                               f"bench{n:012d}", evaluation.reserved)
            finished = clock()
            stages["learn"].append((finished - decided_at) / 1000)
        stages["total"].append((finished - started) / 1000)
    return {
        "policy_revision": policy.revision,
        "venue": venue.value,
        "order": dict(zip(("symbol", "quantity", "price"), order, strict=True)),
        "orders": orders,
        "verdicts": verdicts,
        "stages_us": {name: _summary(values) for name, values in stages.items() if values},
    }


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 1),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
            "mean": round(statistics.fmean(ordered), 1)}


def render(report: dict[str, Any]) -> str:
    order = report["order"]
    lines = [f"policy revision {report['policy_revision']}, venue {report['venue']}, {report['orders']} orders of "
             f"{order['quantity']} {order['symbol']} at {order['price']} (each rests), "
             f"{'in-memory store' if report['state'].startswith('memory') else 'store ' + report['state']}",
             f"{'stage':<8} {'p50 us':>9} {'p99 us':>9} {'mean us':>9}   (total: parse + decide + learn)"]
    for name, numbers in report["stages_us"].items():
        lines.append(f"{name:<8} {numbers['p50']:>9.1f} {numbers['p99']:>9.1f} {numbers['mean']:>9.1f}")
    lines += [f"{count:>8} {outcome}" for outcome, count in sorted(report["verdicts"].items())]
    return "\n".join(lines)
