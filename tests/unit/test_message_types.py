"""The sidecar stops mitmproxy re-checking every message's field types (`riskwall.proxy.trust_message_types`); a
process that does not call it (every in-process test) keeps the check, so a refusal built with a wrong type fails
there."""

from __future__ import annotations

import pytest
from mitmproxy import http

from riskwall.proxy import trust_message_types


def wrongly_typed_response() -> http.Response:
    # a status code as text: what a refusal built by hand could get wrong
    return http.Response(b"HTTP/1.1", "403", b"Forbidden", http.Headers(), b"{}", None, 0.0, 0.0)  # type: ignore[arg-type]


def well_typed_request() -> http.Request:
    return http.Request("fapi.binance.com", 443, b"POST", b"https", b"", b"/fapi/v1/order", b"HTTP/1.1",
                        http.Headers(), b"", None, 0.0, None)


@pytest.fixture
def restore_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # whatever trust_message_types replaces is put back after the test: the rest of the session keeps the check
    monkeypatch.setattr(http.MessageData, "__post_init__", vars(http.MessageData)["__post_init__"])


def test_build_message_when_types_are_not_trusted_then_mitmproxy_refuses_a_wrong_type() -> None:
    with pytest.raises(TypeError):
        wrongly_typed_response()
    assert well_typed_request().path == "/fapi/v1/order"


@pytest.mark.usefixtures("restore_checks")
def test_build_message_when_the_sidecar_trusts_types_then_no_field_is_checked() -> None:
    trust_message_types()
    trust_message_types()  # the sidecar may be served twice in one process (tests): a second call changes nothing

    assert wrongly_typed_response().status_code == "403"  # built without the check
    assert well_typed_request().path == "/fapi/v1/order"
