"""Factories for the real, unmodified Binance USDⓈ-M WebSocket clients that play the trading bot in tests:
ccxt.pro `binanceusdm` (4.5.64) and the official SDK `binance_sdk_derivatives_trading_usds_futures` (17.6.0, on
`binance_common` 4.5.1 and aiohttp): its WebSocket API client and its WebSocket streams client (user data).

Three wirings each (the first to test against the fake itself, the other two as a bot reaches the firewall,
README, "Routing WebSocket clients"):

- direct: the fake's own `ws://` (or `wss://` + `ca_file`) URLs;
- explicit proxy: the client keeps the venue's `wss://` URLs and tunnels through the proxy (`CONNECT`), trusting
  the proxy's CA;
- reverse listener: every URL is the sidecar's plain listener (`http://` REST, `ws://.../ws-fapi/v1` for the
  WebSocket API, `ws://.../private/ws?listenKey=...` or `ws://.../stream` for user data). One listener serves
  REST and both kinds of socket here: in production the WebSocket API (`ws-fapi.binance.com`) and the streams
  (`fstream.binance.com`) are other hosts than REST (`fapi.binance.com`), but the fake serves all three paths on
  one port, so a test needs one listener.

ccxt.pro binanceusdm: markets and the listen key come from REST (`urls['api']` entries, rewritten with their path
prefixes kept, as tests/support/ccxt_bots.py does; `options['fetchCurrencies']` off). The WebSocket API URL is
`urls['api']['ws']['ws-api']['future']` (default `wss://ws-fapi.binance.com/ws-fapi/v1`); user-data streams are
`get_private_ws_url('future', key)` = `urls['api']['ws']['future']` with its trailing `/ws` turned into
`/private/ws`, plus `?listenKey=<key>` (ccxt `pro/binance.py` `get_ws_url`, `get_private_ws_url`), so that
entry is set to `<ws origin>/ws` (market data then opens `<origin>/market/ws/<n>` and sends `SUBSCRIBE`).
CA trust: the `cafile` constructor option (ccxt's async `open()` builds one `ssl.create_default_context(cafile=
...)` for its aiohttp session: REST and sockets; only that CA is trusted).
Proxy: `https_proxy` (REST through aiohttp) and `wss_proxy` (sockets: aiohttp `ws_connect(proxy=)`, which sends
`CONNECT`); aiohttp does not read proxy environment variables here.

The SDK's WebSocket API client (`DerivativesTradingUsdsFutures(config_ws_api=ConfigurationWebSocketAPI(...))
.websocket_api`): everything is configuration, nothing is patched. `stream_url` is used as is (any scheme,
`ws://` included); `https_agent` is the `ssl.SSLContext` given to aiohttp's `ws_connect(ssl=)` (None means
aiohttp's default verified context: the system store); `proxy={"protocol": "http", "host", "port"}` becomes
`ws_connect(proxy="http://host:port")` (CONNECT for `wss://`). It signs every request itself (HMAC over the
form-encoded sorted params, `apiKey`/`timestamp`/`signature` in `params`; booleans and floats are sent as
strings, ids are uuid4 strings). Its generated USDⓈ-M API has no `session.logon` method; with an Ed25519
`private_key` (`ed25519_key_pair`) binance_common logs on when asked (`sdk_session_logon`), and afterwards sends
signed methods with only `timestamp`, no `apiKey` nor `signature`. What it does not support: proxy environment
variables (never read), a proxy CA separate from the venue's (one `https_agent` for both legs), a per-call URL.
`create_connection()` swallows a failed connect (logs "WebSocket failed to connect" and returns None): the next
call then raises ValueError "No WebSocket connections available". It never raises a
venue error either: an error frame with the request's `id` comes back as `response.data() == {"error": {"code",
"msg"}}` (pydantic models are skipped), and a frame whose `id` it does not know (`null` included: that is only
reported as a connection "error" event) leaves the request waiting its full 20 s before `{"error": "timeout"}`.

The SDK's WebSocket streams client (`.websocket_streams`, for the user-data stream): `stream_url` gets `/stream`
appended and `create_connection()` opens three sockets, `/market/stream`, `/public/stream` and
`/private/stream`; `user_data(listen_key)` sends `{"method": "SUBSCRIBE", "params": [listen_key]}` on the
private one and hands every `{"stream": listen_key, "data": event}` to the handle's `on("message", callback)`
as a pydantic model (`UserDataStreamEventsResponse`). Market streams go to `/market/stream` (e.g.
`mark_price_stream(symbol="btcusdt", update_speed="1s")`: pass the enum's `.value`, the SDK formats an enum
member into the stream name as `...@MarkPriceStreamUpdateSpeedEnum.UPDATE_SPEED_1s`). Subscriptions live in
module-level maps shared by every client in the process (a listen key already subscribed by an unclosed client is
silently skipped), so always `await client.close_connection()`.

Build ccxt.pro and SDK clients inside a running event loop (aiohttp sessions) and close them there.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt.pro
from binance_common.configuration import ConfigurationWebSocketAPI, ConfigurationWebSocketStreams
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures
from binance_sdk_derivatives_trading_usds_futures.websocket_api import DerivativesTradingUsdsFuturesWebSocketAPI
from binance_sdk_derivatives_trading_usds_futures.websocket_streams import (
    DerivativesTradingUsdsFuturesWebSocketStreams,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from tests.support.ccxt_bots import DEFAULT_API_KEY, DEFAULT_SECRET, rewrite_api_urls

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "direct_binanceusdm_pro",
    "direct_streams_sdk",
    "direct_ws_api_sdk",
    "ed25519_key_pair",
    "make_binanceusdm_pro",
    "make_streams_sdk",
    "make_ws_api_sdk",
    "proxied_binanceusdm_pro",
    "proxied_streams_sdk",
    "proxied_ws_api_sdk",
    "reverse_binanceusdm_pro",
    "reverse_streams_sdk",
    "reverse_ws_api_sdk",
    "sdk_session_logon",
    "ws_origin_for",
]

DEFAULT_TIMEOUT_MS = 10_000
WS_API_PATH = "/ws-fapi/v1"


def ws_origin_for(origin: str) -> str:
    """`https://h:p` -> `wss://h:p`, `http://h:p` -> `ws://h:p` (the fake serves REST and sockets on one port)."""
    parts = urlsplit(origin)
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}[parts.scheme]
    return f"{scheme}://{parts.netloc}"


# ---- ccxt.pro binanceusdm -------------------------------------------------------------------------------


def make_binanceusdm_pro(rest_url: str, ws_origin: str, *, api_key: str = DEFAULT_API_KEY,
                         secret: str = DEFAULT_SECRET, ca_file: str | Path | None = None,
                         proxy_url: str | None = None, stream_origin: str | None = None,
                         options: Mapping[str, Any] | None = None) -> ccxt.pro.binanceusdm:
    """The one place a ccxt.pro binanceusdm test bot is built. Call from a coroutine; `await bot.close()`.

    `ws_origin` serves the WebSocket API (`/ws-fapi/v1`); the streams (`/private/ws`, `/market/ws/<n>`) go to
    `stream_origin` when given (production: fstream.binance.com), else to `ws_origin` as well. A `secret` that
    is a PEM private key makes ccxt sign with it (Ed25519 when the PEM is short, else RSA) instead of HMAC.
    """
    config: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": False,
        "timeout": DEFAULT_TIMEOUT_MS,
        "options": {"fetchCurrencies": False, **(options or {})},
    }
    if ca_file is not None:
        config["cafile"] = str(ca_file)  # read once, in the constructor
    exchange = ccxt.pro.binanceusdm(config)
    rewrite_api_urls(exchange, rest_url)
    origin = ws_origin.rstrip("/")
    sockets = exchange.urls["api"]["ws"]
    streams = (stream_origin or origin).rstrip("/")
    sockets["future"] = streams + "/ws"  # user data <o>/private/ws?listenKey=..., market data <o>/market/ws/<n>
    sockets["ws-api"]["future"] = origin + WS_API_PATH
    if proxy_url is not None:
        exchange.https_proxy = proxy_url  # REST (load_markets, listenKey) through aiohttp
        exchange.wss_proxy = proxy_url  # every socket (wss://)
    return exchange


def direct_binanceusdm_pro(fake_origin: str, *, ca_file: str | Path | None = None,
                           **kwargs: Any) -> ccxt.pro.binanceusdm:
    """Straight to a fake: `http://` (sockets `ws://`) or `https://` with `ca_file` (sockets `wss://`)."""
    return make_binanceusdm_pro(fake_origin, ws_origin_for(fake_origin), ca_file=ca_file, **kwargs)


def proxied_binanceusdm_pro(venue_origin: str, proxy_url: str, ca_file: str | Path,
                            **kwargs: Any) -> ccxt.pro.binanceusdm:
    """Through an explicit proxy: the venue's `https://` origin (sockets `wss://` on the same host), its CA."""
    if not venue_origin.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for TLS venues (the proxy intercepts TLS)")
    return make_binanceusdm_pro(venue_origin, ws_origin_for(venue_origin), ca_file=ca_file, proxy_url=proxy_url,
                                **kwargs)


def reverse_binanceusdm_pro(listener_origin: str, **kwargs: Any) -> ccxt.pro.binanceusdm:
    """To a reverse listener: `http://127.0.0.1:PORT` for REST, `ws://127.0.0.1:PORT/...` for both sockets."""
    if not listener_origin.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP / ws://")
    return make_binanceusdm_pro(listener_origin, ws_origin_for(listener_origin), **kwargs)


# ---- the official SDK: WebSocket API client ---------------------------------------------------------------


def _ssl_context(ca_file: str | Path | None) -> ssl.SSLContext | None:
    return None if ca_file is None else ssl.create_default_context(cafile=str(ca_file))


def _proxy(proxy_url: str | None) -> dict[str, Any] | None:
    if proxy_url is None:
        return None
    parts = urlsplit(proxy_url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise ValueError(f"the SDK takes an http://host:port proxy, not {proxy_url!r}")
    return {"protocol": "http", "host": parts.hostname, "port": parts.port}


def make_ws_api_sdk(url: str, *, api_key: str = DEFAULT_API_KEY, secret: str = DEFAULT_SECRET,
                    private_key: str | None = None, ca_file: str | Path | None = None,
                    proxy_url: str | None = None,
                    timeout_ms: int = DEFAULT_TIMEOUT_MS) -> DerivativesTradingUsdsFuturesWebSocketAPI:
    """The SDK's WebSocket API client for `url` (`.../ws-fapi/v1`); `await client.create_connection()` to open.

    With `private_key` (a PEM, Ed25519 or RSA) the SDK signs with it instead of the HMAC `secret`; only then can
    it log on (`sdk_session_logon`).
    """
    config = ConfigurationWebSocketAPI(api_key=api_key, api_secret=None if private_key else secret,
                                       private_key=private_key, stream_url=url, timeout=timeout_ms,
                                       https_agent=_ssl_context(ca_file), proxy=_proxy(proxy_url))
    return DerivativesTradingUsdsFutures(config_ws_api=config).websocket_api


async def sdk_session_logon(client: DerivativesTradingUsdsFuturesWebSocketAPI) -> dict[str, Any]:
    """`session.logon` with the client's private key; afterwards the SDK sends signed methods with only a
    `timestamp` (no `apiKey`, no `signature`) and logs on again by itself after a reconnect. The generated API has
    no method for it (binance_common's `send_signed_message(..., session_logon=True)` is the way in)."""
    response = await client.send_signed_message({"method": "session.logon", "params": {}}, signer=client.signer,
                                                session_logon=True)
    answer: dict[str, Any] = response.data()
    return answer


def ed25519_key_pair() -> tuple[str, bytes]:
    """A fresh Ed25519 key: (private PKCS#8 PEM for ccxt's `secret` or the SDK's `private_key`, public PEM for
    `ws_hub(fake).register_ed25519_key`)."""
    private = Ed25519PrivateKey.generate()
    return (private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
            private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))


def direct_ws_api_sdk(fake_origin: str, *, ca_file: str | Path | None = None,
                      **kwargs: Any) -> DerivativesTradingUsdsFuturesWebSocketAPI:
    """Straight to a fake: `ws://.../ws-fapi/v1`, or `wss://` trusting `ca_file`."""
    return make_ws_api_sdk(ws_origin_for(fake_origin) + WS_API_PATH, ca_file=ca_file, **kwargs)


def proxied_ws_api_sdk(venue_origin: str, proxy_url: str, ca_file: str | Path,
                       **kwargs: Any) -> DerivativesTradingUsdsFuturesWebSocketAPI:
    """Through an explicit proxy: the venue's `wss://.../ws-fapi/v1`, the proxy's CA."""
    if not venue_origin.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for TLS venues (the proxy intercepts TLS)")
    return make_ws_api_sdk(ws_origin_for(venue_origin) + WS_API_PATH, ca_file=ca_file, proxy_url=proxy_url,
                           **kwargs)


def reverse_ws_api_sdk(listener_origin: str, **kwargs: Any) -> DerivativesTradingUsdsFuturesWebSocketAPI:
    """To a reverse listener: `ws://127.0.0.1:PORT/ws-fapi/v1`."""
    if not listener_origin.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP / ws://")
    return make_ws_api_sdk(ws_origin_for(listener_origin) + WS_API_PATH, **kwargs)


# ---- the official SDK: WebSocket streams client (user data) -------------------------------------------------


def make_streams_sdk(origin: str, *, ca_file: str | Path | None = None,
                     proxy_url: str | None = None) -> DerivativesTradingUsdsFuturesWebSocketStreams:
    """The SDK's streams client for `origin` (`ws://h:p`; it adds `/{market,public,private}/stream`)."""
    config = ConfigurationWebSocketStreams(stream_url=origin.rstrip("/"), https_agent=_ssl_context(ca_file),
                                           proxy=_proxy(proxy_url))
    return DerivativesTradingUsdsFutures(config_ws_streams=config).websocket_streams


def direct_streams_sdk(fake_origin: str, *, ca_file: str | Path | None = None
                       ) -> DerivativesTradingUsdsFuturesWebSocketStreams:
    return make_streams_sdk(ws_origin_for(fake_origin), ca_file=ca_file)


def proxied_streams_sdk(venue_origin: str, proxy_url: str, ca_file: str | Path
                        ) -> DerivativesTradingUsdsFuturesWebSocketStreams:
    if not venue_origin.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for TLS venues (the proxy intercepts TLS)")
    return make_streams_sdk(ws_origin_for(venue_origin), ca_file=ca_file, proxy_url=proxy_url)


def reverse_streams_sdk(listener_origin: str) -> DerivativesTradingUsdsFuturesWebSocketStreams:
    if not listener_origin.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP / ws://")
    return make_streams_sdk(ws_origin_for(listener_origin))
