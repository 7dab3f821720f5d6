"""`riskwall.addon.to_http_request`: what the adapters read of a mitmproxy request is what mitmproxy itself reads
of it (its query as `request.query` gives it, its content encoding as `headers.get` folds it), though the fields
are read without mitmproxy's slower paths."""

from __future__ import annotations

import pytest
from mitmproxy import http

from riskwall.addon import to_http_request


def request(path: bytes, headers: list[tuple[bytes, bytes]] | None = None, host: str = "fapi.binance.com",
            body: bytes = b"") -> http.Request:
    return http.Request(host, 443, b"POST", b"https", host.encode(), path, b"HTTP/1.1",
                        http.Headers(headers or [(b"X-MBX-APIKEY", b"k")]), body, None, 0.0, 0.0)


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
    pytest.param(request(b"/fapi/v1/order", [(b"Content-Encoding", b"gzip")]), id="content-encoding"),
    pytest.param(request(b"/fapi/v1/order", [(b"Content-Encoding", b"gzip"), (b"content-encoding", b"br")]),
                 id="content-encoding-repeated"),
    pytest.param(request(b"/fapi/v1/order", [(b"X-Other", b"1"), (b"x-other", b"2")]), id="other-header-repeated"),
    pytest.param(request(b"/fapi/v1/order", [(b"Content-Type", b"application/x-www-form-urlencoded")],
                         body=b"symbol=BTCUSDT"), id="form-body"),
]


@pytest.mark.parametrize("given", CASES)
def test_to_http_request_when_request_given_then_fields_as_mitmproxy_reads_them(given: http.Request) -> None:
    read = to_http_request(given)

    assert read.query == tuple(given.query.items(multi=True))
    assert read.content_encoding == given.headers.get("content-encoding", "")
    assert read.headers == {name.lower(): value for name, value in given.headers.items()}
    assert (read.method, read.host, read.port, read.path, read.body) == (
        given.method.upper(), given.host.lower(), given.port, given.path, given.raw_content)
