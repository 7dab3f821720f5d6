"""Factories for the real, unmodified Bybit WebSocket clients that play the trading bot in tests: ccxt.pro `bybit`
(4.5.64) and pybit 5.17.0's `unified_trading.WebSocketTrading` (`/v5/trade`) and private `WebSocket`
(`/v5/private`), both on websocket-client 1.9.2.

Three wirings each (the first to test against the fake itself, the other two as a bot reaches the firewall,
README, "Routing WebSocket clients"):

- direct: the fake's own `ws://` (or `wss://` + `ca_file`) URLs;
- explicit proxy: the client keeps the venue's `wss://` URLs and tunnels through the proxy (`CONNECT`), trusting
  the proxy's CA;
- reverse listener: the client's URLs are the sidecar's plain listener (`ws://127.0.0.1:PORT/v5/...`).

ccxt.pro bybit: socket URLs live in `urls['api']['ws']`: `public.{spot,linear,inverse,option}`,
`private.contract` (what `watchOrders`/`watchMyTrades`/`watchPositions` use for a unified account: ccxt calls
`GET /v5/user/query-api` and `GET /v5/account/info` first), `private.spot.{unified,nonUnified}`, `private.usdc`
and `private.trade` (`createOrderWs`/`editOrderWs`/`cancelOrderWs`). The others are templates
`wss://stream.{hostname}/...` that `implode_hostname` fills, but `private.trade` is the literal
`wss://stream.bybit.com/v5/trade` (testnet/demo likewise), read as is — so setting `hostname` alone would leave
order entry on Bybit. `make_bybit_pro` therefore rewrites every entry (scheme and host; the path is kept) and
the REST `urls['api']` entries (`load_markets`, the unified-account check and the positions snapshot are REST).
CA trust: the `cafile` constructor option (one `ssl.create_default_context(cafile=...)` for REST and sockets; it
replaces certifi). Proxy: `https_proxy` (REST through aiohttp) and `wss_proxy` (sockets: aiohttp
`ws_connect(proxy=)`, which sends `CONNECT`); ccxt reads no proxy environment variables here.

pybit (`WebSocketTrading(testnet=..., demo=..., domain=..., tld=...)`, `WebSocket(channel_type, ...)`): the URL is
always `wss://{stream|stream-testnet|stream-demo}.{domain}.{tld}/v5/...` (`TRADE_WSS`, `PRIVATE_WSS` module
constants, formatted inside `_WebSocketManager._connect(url)`, which the constructor calls and which blocks
until the socket is open). No argument can give a port or `ws://`, so the least invasive way is a subclass
(`_LocalUrl`) whose `_connect` ignores the template and connects to the given URL (the reconnect path calls
`_connect` too, so it stays on that URL). pybit runs `WebSocketApp.run_forever(ping_interval, ping_timeout)`
with no proxy or TLS options, so websocket-client reads the environment when it connects: `https_proxy` (for
`wss://`; `http_proxy` for `ws://`; `no_proxy` is honoured, with no built-in exemption for 127.0.0.1) and
`WEBSOCKET_CLIENT_CA_BUNDLE` (a CA file that replaces the default trust store). `_LocalUrl._connect` sets exactly
those while it runs (they are process-wide) and restores them after, hiding every other proxy variable, so a
direct or reverse client never goes through a proxy the test environment might set.

pybit 5.17.0 sends a request and only then registers what should handle its answer (`_send_order_operation`:
`ws.send` before `_set_callback`; `subscribe`: before `subscriptions[req_id] = ...`). Against a venue on loopback
the answer regularly wins that race: an order answer is dropped ("response for unregistered reqId"), a subscribe
answer raises KeyError in websocket-client's thread and the socket is torn down. A firewall that answers a
blocked order itself, at once, makes the same race likely in production. The subclasses here wait (bounded,
`_REGISTRATION_RACE_S`) in the receiving thread until pybit's own bookkeeping has caught up; nothing sent or
received changes.

Build pybit clients from a plain thread (the constructor blocks until connected and has sent `auth`; pass
`retries=1` to fail fast), call `exit()` when done. `WebSocketTrading.place_order(callback, error_callback=None,
**order)` (also `amend_order`, `cancel_order`, `place_batch_order`, `amend_batch_order`, `cancel_batch_order`,
whose kwargs are `category=..., request=[...]`): `callback(answer)` only for retCode 0, `error_callback(answer)`
otherwise (dropped with a log line when none is given); pybit never raises on a venue error. The private
`WebSocket` subscribes with `order_stream(cb)`, `execution_stream(cb)`, `position_stream(cb)`; every push
reaches `cb(message)` as the parsed frame.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt.pro
from pybit.unified_trading import WebSocket, WebSocketTrading
from tests.fakes.bybit import DEFAULT_ACCOUNTS
from tests.support.ccxt_bots import rewrite_api_urls

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_SECRET",
    "DEFAULT_TIMEOUT_MS",
    "direct_bybit_pro",
    "direct_pybit_private",
    "direct_pybit_trading",
    "make_bybit_pro",
    "make_pybit_private",
    "make_pybit_trading",
    "proxied_bybit_pro",
    "proxied_pybit_private",
    "proxied_pybit_trading",
    "reverse_bybit_pro",
    "reverse_pybit_private",
    "reverse_pybit_trading",
    "ws_origin_for",
]

DEFAULT_API_KEY, DEFAULT_SECRET = next(iter(DEFAULT_ACCOUNTS.items()))
DEFAULT_TIMEOUT_MS = 10_000
_REGISTRATION_RACE_S = 1.0  # how long pybit's own bookkeeping may lag the frame it just sent (see _Trading)
_PROXY_VARIABLES = ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                    "ALL_PROXY", "WEBSOCKET_CLIENT_CA_BUNDLE")


def ws_origin_for(origin: str) -> str:
    """`https://h:p` -> `wss://h:p`, `http://h:p` -> `ws://h:p` (the fake serves REST and sockets on one port)."""
    parts = urlsplit(origin)
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}[parts.scheme]
    return f"{scheme}://{parts.netloc}"


# ---- ccxt.pro bybit -------------------------------------------------------------------------------------


def _rewrite_ws_urls(urls: dict[str, Any], ws_origin: str) -> None:
    """Every socket URL (nested dicts) onto `ws_origin`, keeping its path."""
    for key, url in list(urls.items()):
        if isinstance(url, dict):
            _rewrite_ws_urls(url, ws_origin)
        elif isinstance(url, str) and url.startswith(("ws://", "wss://")):
            urls[key] = ws_origin + urlsplit(url).path


def make_bybit_pro(rest_url: str, ws_origin: str, *, api_key: str = DEFAULT_API_KEY, secret: str = DEFAULT_SECRET,
                   ca_file: str | Path | None = None, proxy_url: str | None = None,
                   options: Mapping[str, Any] | None = None) -> ccxt.pro.bybit:
    """The one place a ccxt.pro bybit test bot is built. Call from a coroutine; `await bot.close()` when done."""
    config: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": False,
        "timeout": DEFAULT_TIMEOUT_MS,
        "options": dict(options or {}),
    }
    if ca_file is not None:
        config["cafile"] = str(ca_file)  # read once, in the constructor
    exchange = ccxt.pro.bybit(config)
    rewrite_api_urls(exchange, rest_url)
    _rewrite_ws_urls(exchange.urls["api"]["ws"], ws_origin.rstrip("/"))
    if proxy_url is not None:
        exchange.https_proxy = proxy_url  # REST (load_markets, account checks) through aiohttp
        exchange.wss_proxy = proxy_url  # every socket (wss://)
    return exchange


def direct_bybit_pro(fake_origin: str, *, ca_file: str | Path | None = None, **kwargs: Any) -> ccxt.pro.bybit:
    """Straight to a fake: `http://` (sockets `ws://`) or `https://` with `ca_file` (sockets `wss://`)."""
    return make_bybit_pro(fake_origin, ws_origin_for(fake_origin), ca_file=ca_file, **kwargs)


def proxied_bybit_pro(venue_origin: str, proxy_url: str, ca_file: str | Path, **kwargs: Any) -> ccxt.pro.bybit:
    """Through an explicit proxy: the venue's `https://` origin (sockets `wss://` on the same host), the proxy's CA."""
    if not venue_origin.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for TLS venues (the proxy intercepts TLS)")
    return make_bybit_pro(venue_origin, ws_origin_for(venue_origin), ca_file=ca_file, proxy_url=proxy_url, **kwargs)


def reverse_bybit_pro(listener_origin: str, **kwargs: Any) -> ccxt.pro.bybit:
    """To a reverse listener: `http://127.0.0.1:PORT` for REST, `ws://127.0.0.1:PORT/v5/...` for sockets."""
    if not listener_origin.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP / ws://")
    return make_bybit_pro(listener_origin, ws_origin_for(listener_origin), **kwargs)


# ---- pybit WebSocketTrading and private WebSocket ------------------------------------------------------


@contextmanager
def _scoped_environment(values: Mapping[str, str], *, hide: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*hide, *values)}
    try:
        for name in hide:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _LocalUrl:
    """pybit's connect, to a given URL instead of its `wss://stream.{domain}.{tld}` template, in a given env."""

    _fixed_url: str
    _environment: dict[str, str]

    def _connect(self, url: str) -> None:
        with _scoped_environment(self._environment, hide=_PROXY_VARIABLES):
            super()._connect(self._fixed_url)  # type: ignore[misc]


class _Trading(_LocalUrl, WebSocketTrading):
    def __init__(self, url: str, environment: Mapping[str, str], **kwargs: Any) -> None:
        self._fixed_url, self._environment = url, dict(environment)  # before: the constructor connects
        super().__init__(**kwargs)

    def _handle_incoming_message(self, message: dict[str, Any]) -> None:
        # pybit 5.17.0 sends an order frame and only then registers its reqId's callbacks; an answer that comes
        # back first (loopback, or a firewall answering at once) finds none and is dropped with a log line.
        # Waiting (bounded) for pybit's own registration changes timing only, never what is sent or received.
        req_id = message.get("reqId")
        if message.get("op") != "auth" and req_id is not None:
            deadline = time.monotonic() + _REGISTRATION_RACE_S
            while req_id not in self.callback_directory and time.monotonic() < deadline:
                time.sleep(0.001)
        super()._handle_incoming_message(message)


class _Private(_LocalUrl, WebSocket):
    def __init__(self, url: str, environment: Mapping[str, str], **kwargs: Any) -> None:
        self._fixed_url, self._environment = url, dict(environment)
        super().__init__(channel_type="private", **kwargs)

    def _process_subscription_message(self, message: dict[str, Any]) -> None:
        # the same race for subscribe: pybit records the req_id in `subscriptions` after sending; an answer that
        # comes back first raises KeyError in websocket-client's thread, which tears the socket down
        deadline = time.monotonic() + _REGISTRATION_RACE_S
        while message.get("req_id") not in self.subscriptions and time.monotonic() < deadline:
            time.sleep(0.001)
        super()._process_subscription_message(message)


def _pybit_environment(url: str, ca_file: str | Path | None, proxy_url: str | None) -> dict[str, str]:
    if url.startswith("wss://") and ca_file is None:
        raise ValueError("a wss:// URL needs the CA that signs its certificate (the fake's or the proxy's)")
    environment = {}
    if ca_file is not None:
        environment["WEBSOCKET_CLIENT_CA_BUNDLE"] = str(ca_file)
    if proxy_url is not None:
        if not url.startswith("wss://"):
            raise ValueError("explicit-proxy wiring is for wss:// venues (the proxy intercepts TLS)")
        environment["https_proxy"] = proxy_url  # websocket-client's variable for wss:// targets
    return environment


def make_pybit_trading(url: str, *, api_key: str = DEFAULT_API_KEY, secret: str = DEFAULT_SECRET,
                       ca_file: str | Path | None = None, proxy_url: str | None = None,
                       **kwargs: Any) -> WebSocketTrading:
    """pybit's `WebSocketTrading` on `url` (`.../v5/trade`), connected and `auth` sent. Call `exit()` when done.

    `kwargs` go to pybit (`recv_window`, `referral_id`, `retries`, `ping_interval`, ...)."""
    return _Trading(url, _pybit_environment(url, ca_file, proxy_url), testnet=False, api_key=api_key,
                    api_secret=secret, **kwargs)


def make_pybit_private(url: str, *, api_key: str = DEFAULT_API_KEY, secret: str = DEFAULT_SECRET,
                       ca_file: str | Path | None = None, proxy_url: str | None = None, **kwargs: Any) -> WebSocket:
    """pybit's private `WebSocket` on `url` (`.../v5/private`), connected and `auth` sent. `exit()` when done."""
    return _Private(url, _pybit_environment(url, ca_file, proxy_url), testnet=False, api_key=api_key,
                    api_secret=secret, **kwargs)


def direct_pybit_trading(fake_origin: str, *, ca_file: str | Path | None = None, **kwargs: Any) -> WebSocketTrading:
    """Straight to a fake (`http://` or `https://` origin + `ca_file`): its `/v5/trade`."""
    return make_pybit_trading(ws_origin_for(fake_origin) + "/v5/trade", ca_file=ca_file, **kwargs)


def direct_pybit_private(fake_origin: str, *, ca_file: str | Path | None = None, **kwargs: Any) -> WebSocket:
    return make_pybit_private(ws_origin_for(fake_origin) + "/v5/private", ca_file=ca_file, **kwargs)


def proxied_pybit_trading(venue_origin: str, proxy_url: str, ca_file: str | Path, **kwargs: Any) -> WebSocketTrading:
    """Through an explicit proxy: the venue's `wss://.../v5/trade`, `https_proxy` and the proxy's CA."""
    return make_pybit_trading(ws_origin_for(venue_origin) + "/v5/trade", ca_file=ca_file, proxy_url=proxy_url,
                              **kwargs)


def proxied_pybit_private(venue_origin: str, proxy_url: str, ca_file: str | Path, **kwargs: Any) -> WebSocket:
    return make_pybit_private(ws_origin_for(venue_origin) + "/v5/private", ca_file=ca_file, proxy_url=proxy_url,
                              **kwargs)


def reverse_pybit_trading(listener_origin: str, **kwargs: Any) -> WebSocketTrading:
    """To a reverse listener: `ws://127.0.0.1:PORT/v5/trade` (pybit itself can only build `wss://` URLs)."""
    if not listener_origin.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP / ws://")
    return make_pybit_trading(ws_origin_for(listener_origin) + "/v5/trade", **kwargs)


def reverse_pybit_private(listener_origin: str, **kwargs: Any) -> WebSocket:
    if not listener_origin.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP / ws://")
    return make_pybit_private(ws_origin_for(listener_origin) + "/v5/private", **kwargs)
