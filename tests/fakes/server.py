"""The HTTP(S) server every fake exchange runs on: threads per connection, optional TLS, keep-alive.

A fake supplies one method, `_handle(method, path, headers, body)` (or `handle`), returning
`(status, json_payload)` or `(status, json_payload, extra_headers)`; this module does the sockets.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

MAX_CHUNKS = 100_000  # bounded: a body of more chunks than this is no test's


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
