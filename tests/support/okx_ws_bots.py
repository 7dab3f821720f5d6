"""Factories for the real, unmodified OKX WebSocket clients that play the trading bot in tests: ccxt.pro `okx`
(4.5.64) and python-okx's `okx.websocket.WsPrivateAsync` (0.4.4, on `websockets` 15.0.1).

Three wirings each (the first to test against the fake itself, the other two as a bot reaches the firewall,
README, "Routing WebSocket clients"):

- direct: the fake's own `ws://` (or `wss://` + `ca_file`) URL;
- explicit proxy: the client keeps the venue's `wss://` URL and tunnels through the proxy (`CONNECT`), trusting
  the proxy's CA;
- reverse listener: the client's URL is the sidecar's plain listener (`ws://127.0.0.1:PORT/ws/v5/...`).

ccxt.pro okx (`ccxt/pro/okx.py` `get_url`): every socket URL is `urls['api']['ws']` + `/private`, `/business` or
`/public` (default `wss://ws.okx.com:8443/ws/v5`; ccxt 4.5.90 uses `:443`; docs/venues.md §4.1), and markets come
from REST (`urls['api']['rest']`, a bare origin) before the first socket opens, so both are rewritten. CA trust:
the `cafile` constructor option (ccxt's async `open()` builds one `ssl.create_default_context(cafile=...)` for
its aiohttp session: REST and sockets; it replaces certifi, so only that CA is trusted). Proxy: `https_proxy`
(REST through aiohttp) and `wss_proxy` (sockets: `Client.proxy`, passed to aiohttp's `ws_connect(proxy=)`, which
sends `CONNECT`); aiohttp does not read proxy environment variables here (`aiohttp_trust_env` is off).

python-okx `WsPrivateAsync(apiKey, passphrase, secretKey, url)`: the URL is used as is. Its
`WebSocketFactory.connect()` always calls `websockets.connect(url, ssl=<default context + certifi>)` and takes no
proxy or CA argument; `websockets` refuses `ssl=` with a `ws://` URL (ValueError "ssl argument is incompatible
with a ws:// URI"), which the factory logs and swallows (it returns None; `start()` then fails later with
`'NoneType' object is not async iterable`). So:
- `ws://` (direct, reverse): the instance's `factory` is replaced by `_PlainFactory`, which makes the same call
  without `ssl=` (the least change: one method, one instance, nothing patched globally);
- `wss://` (direct with TLS, explicit proxy): python-okx's own `connect()` runs unchanged, inside the environment
  a bot would be started with: `SSL_CERT_FILE` = the CA (read by `ssl.create_default_context()` through OpenSSL's
  default paths) and `wss_proxy` = the proxy (`websockets` uses `urllib.request.getproxies()`; for `wss://` it
  tries `wss_proxy`, then `socks_proxy`, then `https_proxy`). Both are set only while `connect()` runs (they are
  process-wide) and restored after; `no_proxy`/`NO_PROXY` are hidden for that time, so 127.0.0.1 is proxied.

Build python-okx clients inside a running event loop (its constructor calls `asyncio.get_event_loop()`), then
`await client.start()` (connects; returns the consume task), `await client.login()`, and send with its methods
(`place_order`, `batch_orders`, `amend_order`, `cancel_order`, `batch_cancel_orders`, `mass_cancel`, or the
generic `send(op, args)`). Its `subscribe()` sends `login` again and sleeps 5 s before subscribing; `send("subscribe",
args)` after `login()` sends the same frame without the wait. Every frame the venue sends reaches `callback(text)`
as the raw text; python-okx never raises on an OKX error.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt.pro
import websockets
from okx.websocket.WebSocketFactory import WebSocketFactory
from okx.websocket.WsPrivateAsync import WsPrivateAsync

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "direct_okx_pro",
    "direct_ws_sdk",
    "make_okx_pro",
    "proxied_okx_pro",
    "proxied_ws_sdk",
    "reverse_okx_pro",
    "reverse_ws_sdk",
    "ws_base_for",
]

DEFAULT_TIMEOUT_MS = 10_000
_PROXY_VARIABLES = ("no_proxy", "NO_PROXY", "wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                    "ALL_PROXY", "socks_proxy", "SOCKS_PROXY")


def ws_base_for(origin: str) -> str:
    """`https://h:p` -> `wss://h:p/ws/v5`, `http://h:p` -> `ws://h:p/ws/v5` (the fake serves both on one port)."""
    parts = urlsplit(origin)
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}[parts.scheme]
    return f"{scheme}://{parts.netloc}/ws/v5"


# ---- ccxt.pro okx ---------------------------------------------------------------------------------------


def make_okx_pro(rest_url: str, ws_base_url: str, *, api_key: str, secret: str, passphrase: str,
                 ca_file: str | Path | None = None, proxy_url: str | None = None,
                 options: Mapping[str, Any] | None = None) -> ccxt.pro.okx:
    """The one place a ccxt.pro okx test bot is built. Call from a coroutine; `await bot.close()` when done."""
    config: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "password": passphrase,
        "enableRateLimit": False,
        "timeout": DEFAULT_TIMEOUT_MS,
        "options": dict(options or {}),
    }
    if ca_file is not None:
        config["cafile"] = str(ca_file)  # read once, in the constructor
    exchange = ccxt.pro.okx(config)
    # ccxt.pro okx names each request by the millisecond and 4 random digits (`request_id`), so of ten orders sent
    # at once two share an id about once in 200 batches, and ccxt then hands both calls the answer to one of them (one
    # future per id): a test counting what its bot was told would count an order twice. The same shape, unique.
    sequence = itertools.count(1)
    exchange.request_id = lambda: f"{exchange.milliseconds()}{next(sequence) % 10_000:04d}"
    exchange.urls["api"]["rest"] = rest_url.rstrip("/")
    exchange.urls["api"]["ws"] = ws_base_url.rstrip("/")
    if proxy_url is not None:
        exchange.https_proxy = proxy_url  # REST (load_markets) through aiohttp
        exchange.wss_proxy = proxy_url  # every socket (wss://)
    return exchange


def direct_okx_pro(fake_origin: str, *, ca_file: str | Path | None = None, **kwargs: Any) -> ccxt.pro.okx:
    """Straight to a fake: `http://` (sockets `ws://`) or `https://` with `ca_file` (sockets `wss://`)."""
    return make_okx_pro(fake_origin, ws_base_for(fake_origin), ca_file=ca_file, **kwargs)


def proxied_okx_pro(venue_origin: str, proxy_url: str, ca_file: str | Path, **kwargs: Any) -> ccxt.pro.okx:
    """Through an explicit proxy: the venue's `https://` origin (sockets `wss://` on the same host), the proxy's CA."""
    if not venue_origin.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for TLS venues (the proxy intercepts TLS)")
    return make_okx_pro(venue_origin, ws_base_for(venue_origin), ca_file=ca_file, proxy_url=proxy_url, **kwargs)


def reverse_okx_pro(listener_origin: str, **kwargs: Any) -> ccxt.pro.okx:
    """To a reverse listener: `http://127.0.0.1:PORT` for REST, `ws://127.0.0.1:PORT/ws/v5` for sockets."""
    if not listener_origin.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP / ws://")
    return make_okx_pro(listener_origin, ws_base_for(listener_origin), **kwargs)


# ---- python-okx WsPrivateAsync ------------------------------------------------------------------------


class _PlainFactory(WebSocketFactory):
    """python-okx's factory for `ws://`: the same `websockets.connect` call without the `ssl=` it always adds."""

    async def connect(self) -> Any:
        self.websocket = await websockets.connect(self.url, proxy=None)
        return self.websocket


class _EnvFactory(WebSocketFactory):
    """python-okx's own `connect()`, run inside the environment a bot would be started with."""

    def __init__(self, url: str, environment: Mapping[str, str]) -> None:
        super().__init__(url)
        self._environment = dict(environment)

    async def connect(self) -> Any:
        with _scoped_environment(self._environment, hide=_PROXY_VARIABLES):
            return await super().connect()


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


def _sdk(url: str, factory: Callable[[str], WebSocketFactory], *, api_key: str, secret: str,
         passphrase: str) -> WsPrivateAsync:
    client = WsPrivateAsync(apiKey=api_key, passphrase=passphrase, secretKey=secret, url=url)
    client.factory = factory(url)
    return client


def direct_ws_sdk(url: str, *, api_key: str, secret: str, passphrase: str,
                  ca_file: str | Path | None = None) -> WsPrivateAsync:
    """Straight to a fake's socket URL: `ws://...` or `wss://...` trusting `ca_file`."""
    if url.startswith("ws://"):
        return _sdk(url, _PlainFactory, api_key=api_key, secret=secret, passphrase=passphrase)
    if ca_file is None:
        raise ValueError("a wss:// fake needs its CA")
    environment = {"SSL_CERT_FILE": str(ca_file)}
    return _sdk(url, lambda u: _EnvFactory(u, environment), api_key=api_key, secret=secret, passphrase=passphrase)


def proxied_ws_sdk(venue_url: str, proxy_url: str, ca_file: str | Path, *, api_key: str, secret: str,
                   passphrase: str) -> WsPrivateAsync:
    """Through an explicit proxy: the venue's `wss://.../ws/v5/private` URL, `wss_proxy` and the proxy's CA."""
    if not venue_url.startswith("wss://"):
        raise ValueError("explicit-proxy wiring is for wss:// venues (the proxy intercepts TLS)")
    environment = {"SSL_CERT_FILE": str(ca_file), "wss_proxy": proxy_url}
    return _sdk(venue_url, lambda u: _EnvFactory(u, environment), api_key=api_key, secret=secret,
                passphrase=passphrase)


def reverse_ws_sdk(listener_url: str, *, api_key: str, secret: str, passphrase: str) -> WsPrivateAsync:
    """To a reverse listener: `ws://127.0.0.1:PORT/ws/v5/private` (python-okx's factory would refuse it)."""
    if not listener_url.startswith("ws://"):
        raise ValueError("reverse-listener wiring is plain ws://")
    return _sdk(listener_url, _PlainFactory, api_key=api_key, secret=secret, passphrase=passphrase)
