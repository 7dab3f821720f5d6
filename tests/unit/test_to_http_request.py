"""`riskwall.addon.to_http_request`: what the adapters read of a mitmproxy request is what mitmproxy itself reads
of it (its query as `request.query` gives it, its content encoding as `headers.get` folds it), though the fields
are read without mitmproxy's slower paths."""

from __future__ import annotations

from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.net.http.http1.read import read_request_head

from riskwall.addon import to_http_request


def request(path: bytes, headers: list[tuple[bytes, bytes]] | None = None, host: str = "fapi.binance.com",
            body: bytes = b"", version: bytes = b"HTTP/1.1") -> http.Request:
    return http.Request(host, 443, b"POST", b"https", host.encode(), path, version,
                        http.Headers(headers or [(b"X-MBX-APIKEY", b"k")]), body, None, 0.0, 0.0)


def absolute_form(target: bytes) -> http.Request:
    """A request to the explicit proxy as mitmproxy's HTTP/1 reader takes it."""
    return read_request_head([b"POST " + target + b" HTTP/1.1", b"Host: 127.0.0.1:9001"])


CASES = [
    pytest.param(request(b"/fapi/v1/order"), id="no-query"),
    pytest.param(request(b"/fapi/v1/order?symbol=BTCUSDT&quantity=0.001"), id="query"),
    pytest.param(request(b"/fapi/v1/order?"), id="empty-query"),
    pytest.param(request(b"/fapi/v1/order?a=&b&=c&a=2"), id="blank-and-repeated-values"),
    pytest.param(request(b"/fapi/v1/order?a=%41%zz+b&c=%ff"), id="escapes"),
    pytest.param(request(b"/fapi/v1/order#x?a=1"), id="fragment-before-question-mark"),
    pytest.param(request(b"/fapi/v1/order?a=1#b=2"), id="fragment-after-query"),
    pytest.param(request(b"/fapi/v1/order;p=1?a=1"), id="path-parameters"),
    pytest.param(request(b"//evil.example/fapi/v1/order?a=1"), id="path-looks-like-authority"),
    pytest.param(request(b"/fapi/v1/order", host="fapi.binance.com?a=1"), id="question-mark-in-host"),
    pytest.param(request(b"/fapi/v1/order", host="127.0.0.1"), id="ipv4-host"),
    pytest.param(request(b"/fapi/v1/order", host="::1"), id="ipv6-host"),
    pytest.param(request(b"/fapi/v1/order", host="a:b"), id="host-no-ipv6-url-holds"),
    pytest.param(absolute_form(b"http://[::ffff:127.0.0.1%[]:9001/fapi/v1/order"),
                 id="ipv6-host-with-bracket-in-scope"),
    pytest.param(request(b"[x/fapi/v1/order", version=b"HTTP/2.0"), id="h2-path-without-slash-opening-a-bracket"),
    pytest.param(request("\u2100/fapi/v1/order".encode(), version=b"HTTP/2.0"), id="h2-path-without-slash-nfkc-slash"),
    pytest.param(request("\ufe56a=1".encode(), version=b"HTTP/2.0"), id="h2-path-without-slash-nfkc-question-mark"),
    pytest.param(request(b"fapi/v1/order?a=1", version=b"HTTP/2.0"), id="h2-path-without-slash-with-query"),
    pytest.param(request(b"", version=b"HTTP/2.0"), id="empty-path"),
    pytest.param(request(b"/fapi/v1/order", host="fapi.binance.com\u2100"), id="host-not-ascii"),
    pytest.param(request(b"/fapi/v1/order", [(b"Content-Encoding", b"gzip")]), id="content-encoding"),
    pytest.param(request(b"/fapi/v1/order", [(b"Content-Encoding", b"gzip"), (b"content-encoding", b"br")]),
                 id="content-encoding-repeated"),
    pytest.param(request(b"/fapi/v1/order", [(b"X-Other", b"1"), (b"x-other", b"2")]), id="other-header-repeated"),
    pytest.param(request(b"/fapi/v1/order", [(b"Content-Type", b"application/x-www-form-urlencoded")],
                         body=b"symbol=BTCUSDT"), id="form-body"),
]


def outcome(read: Any) -> Any:
    try:
        return read()
    except ValueError as exc:  # mitmproxy's URL parser refusing the URL it built
        return type(exc)


@pytest.mark.parametrize("given", CASES)
def test_to_http_request_when_request_given_then_fields_as_mitmproxy_reads_them(given: http.Request) -> None:
    theirs = outcome(lambda: tuple(given.query.items(multi=True)))
    if theirs is ValueError:  # a URL mitmproxy cannot read: nor can riskwall, and the request is refused
        with pytest.raises(ValueError):
            to_http_request(given)
        return
    read = to_http_request(given)

    assert read.query == theirs
    assert read.content_encoding == given.headers.get("content-encoding", "")
    assert read.headers == {name.lower(): value for name, value in given.headers.items()}
    assert (read.method, read.host, read.port, read.path, read.body) == (
        given.method.upper(), given.host.lower(), given.port, given.path, given.raw_content)
