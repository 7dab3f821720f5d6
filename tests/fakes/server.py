"""The HTTP(S) server every fake exchange runs on: threads per connection, optional TLS, keep-alive.

A fake supplies one method, `_handle(method, path, headers, body)` (or `handle`), returning
`(status, json_payload)` or `(status, json_payload, extra_headers)`; this module does the sockets.

WebSocket: a fake that also serves sockets (on the same port, as a reverse listener forwards every path of a
venue to one upstream) implements `ws_session(path, headers) -> WsSession | None`. A GET with
`Upgrade: websocket` is answered 101 when it returns a session (404 when None); every text message then goes
to `session.on_message(peer, text)`, from the connection's own thread, and `peer.send(text)` answers or pushes
from any thread. Every upgrade is recorded in `fake.ws_handshakes` and every client message in `fake.ws_frames`
first, so a test can prove what reached the venue. No extensions are negotiated (permessage-deflate offers are
declined).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self

from wsproto.connection import BytesMessage, CloseConnection, Connection, ConnectionType, Ping, TextMessage
from wsproto.events import Message

MAX_CHUNKS = 100_000  # bounded: a body of more chunks than this is no test's
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_IDLE_SECONDS = 300  # a socket quiet this long is dropped (bounded, like every loop in the tests)


@dataclass(frozen=True, slots=True)
class WsFrame:
    """One message a client sent on a fake's socket: `path` with its query string, `text` as received."""

    path: str
    text: str


class WsPeer:
    """One accepted WebSocket connection: `send` is safe from any thread (answers and pushes interleave)."""

    def __init__(self, handler: FakeHandler, conn: Connection, path: str, headers: dict[str, str]) -> None:
        self._handler, self._conn, self._lock = handler, conn, threading.Lock()
        self.path, self.headers = path, headers
        self.closed = False

    def send(self, text: str) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._handler.wfile.write(self._conn.send(Message(data=text)))
            except OSError:
                self.closed = True

    def send_json(self, payload: Any) -> None:
        self.send(json.dumps(payload, separators=(",", ":"), default=str))

    def close(self, code: int = 1000) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._handler.wfile.write(self._conn.send(CloseConnection(code=code)))
            except Exception:  # noqa: S110 - closing a socket that is already gone
                pass


class WsSession(Protocol):
    def on_message(self, peer: WsPeer, text: str) -> None: ...

    def on_close(self, peer: WsPeer) -> None: ...


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, fake: Any,
                 tls: ssl.SSLContext | None) -> None:
        self.fake, self.tls = fake, tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS is wrapped here, in the connection's own thread, so a slow or broken handshake never blocks
        # the accept loop (wrapping the listening socket would).
        conn = request
        try:
            # headers and body go out as two writes; without NODELAY, Nagle plus the client's delayed ACK
            # add ~40 ms to every response
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                conn.settimeout(10)
                conn = self.tls.wrap_socket(conn, server_side=True)
            with self._connections_lock:
                self._connections.add(conn)
            super().finish_request(conn, client_address)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(conn)
            if conn is not request:
                conn.close()

    def close_connections(self) -> None:
        """Drop open keep-alive connections, so a proxy holding one sees the venue go away."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients and proxies use with the real venue
    timeout = 30
    server: FakeServer

    def _serve(self) -> None:
        if self.command == "GET" and (self.headers.get("Upgrade") or "").lower() == "websocket":
            self._serve_websocket()
            return
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        fake = self.server.fake
        handle = getattr(fake, "_handle", None) or fake.handle
        answer = handle(self.command, self.path, dict(self.headers.items()), body)
        status, payload = answer[0], answer[1]
        extra: dict[str, str] = answer[2] if len(answer) > 2 else {}
        data = json.dumps(payload, separators=(",", ":"), default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _serve_websocket(self) -> None:
        fake = self.server.fake
        headers = dict(self.headers.items())
        fake.ws_handshakes.append(self.path)
        opener = getattr(fake, "ws_session", None)
        session: WsSession | None = opener(self.path, headers) if opener is not None else None
        key = self.headers.get("Sec-WebSocket-Key")
        if session is None or not key:
            self.send_response(404 if key else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True
        self.connection.settimeout(WS_IDLE_SECONDS)
        conn = Connection(ConnectionType.SERVER)
        peer = WsPeer(self, conn, self.path, headers)
        frames: list[WsFrame] = fake.ws_frames
        parts: list[str] = []
        try:
            while not peer.closed:
                data = self.rfile.read1(65536)
                if not data:
                    break
                conn.receive_data(data)
                for event in conn.events():
                    if isinstance(event, TextMessage):
                        parts.append(event.data)
                        if event.message_finished:
                            text, parts = "".join(parts), []
                            frames.append(WsFrame(self.path, text))
                            session.on_message(peer, text)
                    elif isinstance(event, BytesMessage) and event.message_finished:
                        frames.append(WsFrame(self.path, "<binary>"))
                    elif isinstance(event, Ping):
                        with peer._lock:
                            self.wfile.write(conn.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        with peer._lock:
                            if not peer.closed:
                                peer.closed = True
                                self.wfile.write(conn.send(event.response()))
        except (OSError, ssl.SSLError):
            pass
        finally:
            peer.closed = True
            session.on_close(peer)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        for _ in range(MAX_CHUNKS):
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                for _ in range(100):  # trailers
                    if self.rfile.readline() in (b"\r\n", b"\n", b""):
                        break
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        return b"".join(chunks)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read `fake.requests`; stderr noise helps nobody


class ServedFake:
    """A fake exchange's listener: `start`/`stop` (also as a context manager) and its addresses.

    A fake sets `_tls` (and may set `_host`, `_requested_port`) and implements `_handle`.
    """

    _tls: ssl.SSLContext | None = None
    _host: str = "127.0.0.1"
    _requested_port: int = 0
    _server: FakeServer | None = None
    _thread: threading.Thread | None = None

    @property
    def ws_handshakes(self) -> list[str]:
        """The path (with query) of every WebSocket upgrade that reached the fake, accepted or not."""
        paths: list[str] = self.__dict__.setdefault("_ws_handshakes", [])
        return paths

    @property
    def ws_frames(self) -> list[WsFrame]:
        """Client messages received on the fake's WebSocket endpoints, in order (see the module doc)."""
        frames: list[WsFrame] = self.__dict__.setdefault("_ws_frames", [])
        return frames

    def start(self) -> Self:
        if self._server is None:
            self._server = FakeServer((self._host, self._requested_port), FakeHandler, fake=self, tls=self._tls)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"{type(self).__name__}:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def host_port(self) -> str:
        """`127.0.0.1:PORT`, as `--venue-host VENUE=HOST:PORT` wants it."""
        return f"127.0.0.1:{self.port}"
