"""The WebSocket half of bench_proxy.py: a Binance-shaped WebSocket upstream and the clients that load it.

    python bench/bench_ws.py --serve PORT --frames N     # the upstream alone (bench_proxy.py starts it)

The upstream runs in its own process (so it shares no GIL with the client) and serves two paths:

    /ws-fapi/v1            Binance USDⓈ-M's WebSocket API: every `order.place` frame is answered at once with
                           `{"id", "status": 200, "result": <the REST order object>, "rateLimits"}`
    /ws/btcusdt@aggTrade   a public market-data stream: after the client's SUBSCRIBE (answered
                           `{"result": null, "id"}`) it pushes exactly --frames `aggTrade` events as fast as it can

The clients: `drive_orders` keeps one socket per connection and sends signed `order.place` frames, each after
the previous answer (request/response, as a bot does); `drive_market` subscribes once and counts the pushed
frames. Both are bounded by their count and by a time limit, and read the proxy's CPU time (a callback) only
around the measured part: handshakes and warm-up frames are not in it. No compression is negotiated (Binance
offers none), and no keep-alive pings are sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ORDER_PATH = "/ws-fapi/v1"
STREAM = "btcusdt@aggTrade"
STREAM_PATH = f"/ws/{STREAM}"
# what both ends allow: no permessage-deflate, no pings, frames far below the size limit; a close handshake
# stuck behind frames still in flight (a stream stopped at the time limit) gives up after 2 s
SOCKET_OPTIONS: dict[str, Any] = {"compression": None, "ping_interval": None, "max_size": 1 << 20,
                                  "close_timeout": 2}
ANSWER_TIMEOUT_S = 10.0

# ---- the upstream -------------------------------------------------------------------------------------------

_order_ids = itertools.count(8_100_000_001)
RATE_LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400,
                "count": 1}]


def order_answer(frame: Any) -> str:
    """What Binance answers an `order.place` frame (anything else: its error envelope)."""
    if not isinstance(frame, dict) or not isinstance(frame.get("params"), dict):
        return json.dumps({"id": None, "status": 400, "error": {"code": -1000, "msg": "Invalid JSON"}})
    params = frame["params"]
    if frame.get("method") != "order.place":
        return json.dumps({"id": frame.get("id"), "status": 400,
                           "error": {"code": -1020, "msg": "This operation is not supported."}})
    now = int(time.time() * 1000)
    order_id = next(_order_ids)
    order_type = params.get("type", "LIMIT")
    return json.dumps({"id": frame.get("id"), "status": 200, "result": {
        "orderId": order_id, "symbol": params.get("symbol", "BTCUSDT"), "status": "NEW",
        "clientOrderId": params.get("newClientOrderId", f"bench{order_id}"), "price": params.get("price", "0"),
        "avgPrice": "0.00", "origQty": params.get("quantity", "0"), "executedQty": "0", "cumQty": "0",
        "cumQuote": "0", "timeInForce": params.get("timeInForce", "GTC"), "type": order_type, "reduceOnly": False,
        "closePosition": False, "side": params.get("side", "BUY"), "positionSide": "BOTH", "stopPrice": "0",
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": order_type, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0, "updateTime": now,
    }, "rateLimits": RATE_LIMITS})


async def _serve_orders(ws: ServerConnection) -> None:
    async for message in ws:
        try:
            frame = json.loads(message)
        except ValueError:
            frame = None
        await ws.send(order_answer(frame))


async def _serve_stream(ws: ServerConnection, frames: int) -> None:
    """Exactly `frames` events after the SUBSCRIBE, then nothing until the client closes."""
    try:
        request = json.loads(await ws.recv())
    except ValueError:
        return
    await ws.send(json.dumps({"result": None, "id": request.get("id") if isinstance(request, dict) else None}))
    trade = 2_400_000_000
    for n in range(frames):
        now = int(time.time() * 1000)
        await ws.send(f'{{"e":"aggTrade","E":{now},"s":"BTCUSDT","a":{trade + n},"p":"{50000 + n % 100}.10",'
                      f'"q":"0.001","nq":"0.001","f":{3 * (trade + n)},"l":{3 * (trade + n)},"T":{now},'
                      f'"m":{"true" if n % 2 else "false"}}}')
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(600):
            await ws.wait_closed()


async def _serve(port: int, frames: int) -> None:
    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path.split("?", 1)[0] if ws.request else ""
        with contextlib.suppress(ConnectionClosed):
            if path == ORDER_PATH:
                await _serve_orders(ws)
            elif path == STREAM_PATH:
                await _serve_stream(ws, frames)

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port, **SOCKET_OPTIONS):
        await stop


def serve_upstream(port: int, frames: int) -> None:
    # the benchmark's port probes connect and hang up without a handshake: nothing worth a traceback
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    asyncio.run(_serve(port, frames))


# ---- the clients ------------------------------------------------------------------------------------------


def order_frame(api_key: str, secret: str) -> str:
    """A signed `order.place` frame as a bot sends it: HMAC-SHA256 (hex) over the parameters sorted by name."""
    params: dict[str, str | int] = {
        "apiKey": api_key, "price": "50000", "quantity": "0.001", "side": "BUY", "symbol": "BTCUSDT",
        "timeInForce": "GTC", "timestamp": int(time.time() * 1000), "type": "LIMIT",
    }
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"id": str(uuid.uuid4()), "method": "order.place", "params": params})


@dataclass
class WsLoad:
    """What a WebSocket load saw: `count` answered order frames (or pushed frames received), round trips, errors
    (answers that are not status 200, broken or silent sockets), and the proxy's CPU seconds around it."""

    count: int = 0
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    cpu_before: float | None = None
    cpu_after: float | None = None
    note: str = ""


async def _order_worker(ws: ClientConnection, counter: itertools.count[int], limit: int, deadline: float,
                        api: tuple[str, str], load: WsLoad | None) -> None:
    while time.monotonic() < deadline:
        if next(counter) >= limit:
            return
        frame = order_frame(*api)
        started = time.perf_counter()
        try:
            await ws.send(frame)
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                answer = json.loads(await ws.recv())
        except (ConnectionClosed, TimeoutError, OSError, ValueError):
            if load is not None:
                load.errors += 1
            return  # a socket that broke or fell silent carries no more orders
        if load is None:
            continue
        load.latencies_s.append(time.perf_counter() - started)
        load.count += 1
        if not isinstance(answer, dict) or answer.get("status") != 200:
            load.errors += 1


async def _drive_orders(url: str, orders: int, connections: int, warmup: int, time_limit_s: float,
                        cpu: Callable[[], float | None], api: tuple[str, str]) -> WsLoad:
    load = WsLoad()
    deadline = time.monotonic() + time_limit_s
    sockets: list[ClientConnection] = []
    try:
        for _ in range(connections):
            sockets.append(await connect(url, open_timeout=ANSWER_TIMEOUT_S, **SOCKET_OPTIONS))
        warm = itertools.count()
        await asyncio.gather(*(_order_worker(ws, warm, warmup, deadline, api, None) for ws in sockets))
        counter = itertools.count()
        load.cpu_before = cpu()
        started = time.perf_counter()
        await asyncio.gather(*(_order_worker(ws, counter, orders, deadline, api, load) for ws in sockets))
        load.elapsed_s = time.perf_counter() - started
        load.cpu_after = cpu()
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    if load.count < orders:
        load.note = "errors" if load.errors else f"stopped at the {time_limit_s:.0f} s limit"
    return load


def drive_orders(port: int, orders: int, connections: int, warmup: int, time_limit_s: float,
                 cpu: Callable[[], float | None], api_key: str, secret: str) -> WsLoad:
    """`orders` order frames over `connections` sockets, one frame in flight on each, after `warmup` unmeasured."""
    url = f"ws://127.0.0.1:{port}{ORDER_PATH}"
    try:
        return asyncio.run(asyncio.wait_for(
            _drive_orders(url, orders, connections, warmup, time_limit_s, cpu, (api_key, secret)),
            time_limit_s + 30))
    except (OSError, TimeoutError, ConnectionClosed, ValueError) as exc:
        return WsLoad(note=f"failed: {type(exc).__name__}: {str(exc)[:80]}")


async def _drive_market(url: str, frames: int, time_limit_s: float, cpu: Callable[[], float | None]) -> WsLoad:
    load = WsLoad()
    async with connect(url, open_timeout=ANSWER_TIMEOUT_S, **SOCKET_OPTIONS) as ws:
        load.cpu_before = cpu()
        started = time.perf_counter()
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [STREAM], "id": 1}))
        try:
            async with asyncio.timeout(time_limit_s):
                while load.count < frames:
                    message = await ws.recv()
                    if isinstance(message, str) and message.startswith('{"e":'):
                        load.count += 1
        except TimeoutError:
            load.note = f"stopped at the {time_limit_s:.0f} s limit"
        except ConnectionClosed:
            load.errors += 1
            load.note = "the socket closed early"
        load.elapsed_s = time.perf_counter() - started
        load.cpu_after = cpu()
    return load


def drive_market(port: int, frames: int, time_limit_s: float, cpu: Callable[[], float | None]) -> WsLoad:
    """Subscribe to the stream and receive the `frames` events the upstream pushes (or stop at the limit)."""
    try:
        return asyncio.run(asyncio.wait_for(
            _drive_market(f"ws://127.0.0.1:{port}{STREAM_PATH}", frames, time_limit_s, cpu), time_limit_s + 30))
    except (OSError, TimeoutError, ConnectionClosed, ValueError) as exc:
        return WsLoad(note=f"failed: {type(exc).__name__}: {str(exc)[:80]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the benchmark's WebSocket upstream")
    parser.add_argument("--serve", type=int, metavar="PORT", required=True)
    parser.add_argument("--frames", type=int, default=20_000, help="market-data frames per subscription")
    args = parser.parse_args(argv)
    serve_upstream(args.serve, args.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
