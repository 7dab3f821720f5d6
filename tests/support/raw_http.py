"""Hand-written HTTP requests, byte for byte, through a sidecar: what an attacker sends, not what a library would.

`send` writes the bytes to a reverse listener (plain HTTP) or through the explicit proxy (a CONNECT to any
target name, then TLS trusting the sidecar's CA, with any SNI), and reads one response. Every socket has a
timeout: nothing here can hang a test.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def request_bytes(method: str, target: str, host: str, *, headers: dict[str, str] | None = None,
                  body: bytes = b"", extra: list[tuple[str, str]] | None = None) -> bytes:
    """A request with Host, Content-Length (when there is a body) and the given headers, in that order."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    for name, value in extra or []:
        lines.append(f"{name}: {value}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def to_listener(port: int, data: bytes) -> RawResponse:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(data)
        return _read_response(sock)


def through_proxy(proxy_port: int, connect_target: str, data: bytes, ca_cert: Path, *,
                  sni: str | None = "localhost", proxy_headers: dict[str, str] | None = None) -> RawResponse:
    """CONNECT `connect_target` (host:port, any spelling), then TLS to the sidecar (SNI `sni`) and `data`.

    A refused CONNECT is returned as the proxy's own response.
    """
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=TIMEOUT_S) as sock:
        head = [f"CONNECT {connect_target} HTTP/1.1", f"Host: {connect_target}"]
        head += [f"{k}: {v}" for k, v in (proxy_headers or {}).items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        answer = _read_head(sock)
        status = int(answer.split(b" ", 2)[1])
        if status != 200:
            return RawResponse(status, _headers(answer), b"")
        context = ssl.create_default_context(cafile=str(ca_cert))
        context.check_hostname = False  # the target may be spelled as no certificate names it; trust is the CA's
        with context.wrap_socket(sock, server_hostname=sni) as tls:
            tls.sendall(data)
            return _read_response(tls)


def absolute_form(proxy_port: int, data: bytes) -> RawResponse:
    """`data` (a request whose target is an absolute URL) sent to the explicit proxy as is."""
    return to_listener(proxy_port, data)


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"connection closed before the response head: {data!r}")
        data += chunk
        if len(data) > 65536:
            raise ConnectionError("response head too long")
    return data


def _headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


def _read_response(sock: socket.socket) -> RawResponse:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if not data:
                raise ConnectionError("connection closed without a response")
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    headers = _headers(head)
    status = int(head.split(b" ", 2)[1])
    length = headers.get("content-length")
    if length is not None:
        while len(rest) < int(length):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return RawResponse(status, headers, rest[: int(length)])
    while True:  # Connection: close delimits the body
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ssl.SSLError):
            break
        if not chunk:
            break
        rest += chunk
    return RawResponse(status, headers, rest)
