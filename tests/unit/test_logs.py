"""riskwall.logs: JSON lines through structlog, Decimals as plain digits, and the last-line redaction step.

Each test configures logging onto its own StringIO and takes a fresh logger: structlog caches a logger on its
first use, so a logger made before `configure` would keep writing to the old stream.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import types
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from riskwall import logs

SECRET = "S3cr3tValue0123456789"


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream
        self.log = logs.get_logger("riskwall.test")

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        raw = self.text.splitlines()
        assert self.text.endswith("\n") or not self.text
        return [json.loads(line) for line in raw]

    def only(self) -> dict[str, Any]:
        [line] = self.lines()
        return line


@pytest.fixture
def out() -> Iterator[Captured]:
    saved = structlog.get_config()
    stream = io.StringIO()
    logs.configure(stream=stream)
    yield Captured(stream)
    structlog.configure(**saved)


SECRET_KEYS = [
    "signature", "Signature", "SIGNATURE",
    "apiKey", "apikey", "APIKEY", "api_key", "api-key", "Api-Key",
    "X-MBX-APIKEY", "x-mbx-apikey", "x_mbx_apikey", "X_MBX_APIKEY",
    "listenKey", "listenkey", "listen_key", "LISTEN-KEY",
    "passphrase", "PassPhrase", "pass_phrase",
    "secret", "Secret", "SECRET", "api_secret", "apiSecret",
    "Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization",
    "sign",  # OKX's WebSocket login signature
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_log_when_top_level_key_is_credential_name_then_value_redacted(out: Captured, key: str) -> None:
    out.log.info("request_seen", **{key: SECRET})

    line = out.only()
    assert line[key] == "[redacted]"
    assert SECRET not in out.text


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_log_when_credential_key_nested_in_dicts_and_lists_then_redacted_at_every_depth(out: Captured,
                                                                                         key: str) -> None:
    payload = {"outer": [{"inner": {key: SECRET, "symbol": "BTCUSDT"}}, ({key: SECRET},)], "n": [[{key: SECRET}]]}

    out.log.info("request_seen", payload=payload)

    line = out.only()
    assert line["payload"]["outer"][0]["inner"] == {key: "[redacted]", "symbol": "BTCUSDT"}
    assert line["payload"]["outer"][1] == [{key: "[redacted]"}]
    assert line["payload"]["n"] == [[{key: "[redacted]"}]]
    assert SECRET not in out.text


@pytest.mark.parametrize("value", [{"nested": SECRET}, [SECRET, SECRET], 12345, None])
def test_log_when_credential_key_holds_a_structure_then_whole_value_redacted(out: Captured, value: object) -> None:
    out.log.info("request_seen", headers={"X-MBX-APIKEY": value})

    assert out.only()["headers"] == {"X-MBX-APIKEY": "[redacted]"}


@pytest.mark.parametrize("key", ["symbol", "signatureType", "secretary", "keyword", "side", "api", "signal"])
def test_log_when_key_is_ordinary_then_value_kept(out: Captured, key: str) -> None:
    out.log.info("request_seen", fields={key: "visible"})

    assert out.only()["fields"] == {key: "visible"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("symbol=BTCUSDT&timestamp=1&signature=abc123def", "symbol=BTCUSDT&timestamp=1&signature=[redacted]"),
        ("apiKey=KEY123 rest", "apiKey=[redacted] rest"),
        ("APIKEY=KEY123", "APIKEY=[redacted]"),
        ("api_key=KEY123&x=1", "api_key=[redacted]&x=1"),
        ("X-MBX-APIKEY=KEY123", "X-MBX-APIKEY=[redacted]"),
        ("listenKey=pqia91ma19a5s61cv6a81va65sdf19v8a65a1", "listenKey=[redacted]"),
        ("passphrase=hunter2 secret=shh", "passphrase=[redacted] secret=[redacted]"),
        ("GET /fapi/v1/order?symbol=BTCUSDT&signature=abc HTTP/1.1",
         "GET /fapi/v1/order?symbol=BTCUSDT&signature=[redacted] HTTP/1.1"),
        ('{"q": "signature=abc"}', '{"q": "signature=[redacted]"}'),
        ("nothing secret here: side=BUY&quantity=1", "nothing secret here: side=BUY&quantity=1"),
        pytest.param(
            "api_secret=SHH&x=1", "api_secret=[redacted]&x=1",
        ),
    ],
)
def test_log_when_string_holds_inline_credential_then_value_redacted_key_kept(out: Captured, text: str,
                                                                               expected: str) -> None:
    out.log.info("request_seen", message=text, items=[text], deep={"a": [text]})

    line = out.only()
    assert line["message"] == expected
    assert line["items"] == [expected]
    assert line["deep"] == {"a": [expected]}


def test_log_when_event_name_holds_inline_credential_then_redacted(out: Captured) -> None:
    out.log.info("seen /fapi/v1/order?signature=abc123")

    assert out.only()["event"] == "seen /fapi/v1/order?signature=[redacted]"


def test_log_when_exception_message_holds_inline_credential_then_traceback_redacted(out: Captured) -> None:
    try:
        raise ValueError(f"bad request symbol=BTCUSDT&signature={SECRET}")
    except ValueError:
        out.log.exception("firewall_error")

    line = out.only()
    assert "ValueError: bad request symbol=BTCUSDT&signature=[redacted]" in line["exception"]
    assert SECRET not in out.text


def test_log_when_redacting_then_caller_data_not_modified(out: Captured) -> None:
    payload = {"apiKey": SECRET, "legs": [{"signature": SECRET}]}

    out.log.info("request_seen", payload=payload)

    assert payload == {"apiKey": SECRET, "legs": [{"signature": SECRET}]}
    assert out.only()["payload"] == {"apiKey": "[redacted]", "legs": [{"signature": "[redacted]"}]}


def test_log_when_credential_key_in_non_dict_mapping_then_redacted(out: Captured) -> None:
    out.log.info("request_seen", headers=types.MappingProxyType({"X-MBX-APIKEY": SECRET}))

    assert SECRET not in out.text


@dataclasses.dataclass(frozen=True, slots=True)
class _Request:
    path: str
    headers: dict[str, str]


def test_log_when_credential_key_inside_dataclass_then_redacted(out: Captured) -> None:
    out.log.info("request_seen", request=_Request("/fapi/v1/order", {"x-mbx-apikey": SECRET}))

    assert SECRET not in out.text


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("0.00000001"), "0.00000001"),
        (Decimal("1E+3"), "1000"),
        (Decimal("50000.10"), "50000.10"),
        (Decimal("-0.5"), "-0.5"),
        (Decimal("123456789012345.123456789"), "123456789012345.123456789"),
    ],
)
def test_log_when_value_is_decimal_then_rendered_as_plain_string(out: Captured, value: Decimal, rendered: str) -> None:
    out.log.info("decision", qty=value, context={"limit": value}, legs=[value])

    line = out.only()
    assert line["qty"] == rendered
    assert line["context"] == {"limit": rendered}
    assert line["legs"] == [rendered]
    assert "E-" not in out.text and "E+" not in out.text


def test_log_when_several_events_then_one_json_object_per_line(out: Captured) -> None:
    out.log.info("decision", verdict="allow")
    out.log.warning("learn_failed", error="multi\nline\nerror")
    out.log.error("firewall_error", values=("a", "b"), tags={"x"})

    lines = out.lines()
    assert [line["event"] for line in lines] == ["decision", "learn_failed", "firewall_error"]
    assert [line["level"] for line in lines] == ["info", "warning", "error"]
    assert lines[1]["error"] == "multi\nline\nerror"
    assert lines[2]["values"] == ["a", "b"] and lines[2]["tags"] == ["x"]
    assert all(line["ts"].endswith("Z") for line in lines)
    assert len(out.text.splitlines()) == 3


def test_log_when_below_configured_level_then_dropped(out: Captured) -> None:
    out.log.debug("noise")
    out.log.info("decision")

    assert [line["event"] for line in out.lines()] == ["decision"]


def test_log_when_value_not_json_native_then_rendered_as_text(out: Captured) -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd-thing"

    out.log.info("decision", thing=Odd())

    assert out.only()["thing"] == "odd-thing"


@pytest.mark.parametrize("key", ["signature", "X-MBX-APIKEY", "listen_key", "Authorization", "PASSPHRASE",
                                 "secretKey", "secret_key", "privateKey"])
def test_is_secret_key_when_credential_name_in_any_case_or_separator_then_true(key: str) -> None:
    assert logs.is_secret_key(key)
    assert logs.is_secret_key(key.upper())
    assert logs.is_secret_key(key.lower().replace("-", "_"))


def test_redact_when_called_directly_then_returns_new_structure() -> None:
    original = {"a": [{"secret": SECRET}], "b": "listenKey=abc"}

    redacted = logs.redact(original)

    assert redacted == {"a": [{"secret": "[redacted]"}], "b": "listenKey=[redacted]"}
    assert original["a"] == [{"secret": SECRET}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("X-MBX-APIKEY: KEY123 next", "X-MBX-APIKEY: [redacted] next"),
        ('{"apiKey": "KEY123", "side": "BUY"}', '{"apiKey": "[redacted]", "side": "BUY"}'),
        ('{"api_secret":"SHH"}', '{"api_secret":"[redacted]"}'),
        ("mysignature=abc;next", "mysignature=[redacted];next"),
        # a key's secret as a venue answers its creation, and free-text signs of the WebSocket logins
        ('{"secretKey": "SHH", "side": "BUY"}', '{"secretKey": "[redacted]", "side": "BUY"}'),
        ("OK-ACCESS-SIGN: c2lnbg== next", "OK-ACCESS-SIGN: [redacted] next"),
        ("time: 12:30:01 side=BUY", "time: 12:30:01 side=BUY"),
    ],
)
def test_redact_when_credential_written_as_header_or_json_pair_then_value_redacted(text: str, expected: str) -> None:
    assert logs.redact(text) == expected


ADVERSARIAL = [
    "a" * 1_000_000 + "=",
    "a-" * 500_000 + "=",
    "=a" * 500_000,
    ":" * 1_000_000,
    "signature=" * 100_000,
    "a: " * 300_000,
    'ab"=' * 250_000,
    "\t" * 500_000 + "=",
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("text", ADVERSARIAL, ids=[f"case{i}" for i in range(len(ADVERSARIAL))])
def test_redact_when_megabyte_of_adversarial_text_unbounded_then_finishes_in_linear_time(text: str) -> None:
    # the old pattern took 47 s for 40,000 characters; a quadratic one would not finish a megabyte in hours
    redacted = logs.redact_text(text, limit=len(text) + 1)

    assert len(redacted) <= len(text) * 2


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[f"case{i}" for i in range(len(ADVERSARIAL))])
def test_log_when_string_is_longer_than_limit_then_line_holds_its_bounded_head(out: Captured, text: str) -> None:
    out.log.info("decision", endpoint=text, detail={"error": text})

    line = out.only()
    assert len(line["endpoint"]) <= logs.MAX_TEXT + 40
    assert line["endpoint"].endswith(f"...[{len(text) - logs.MAX_TEXT} more characters]")
    # JSON escaping may spell one character as two (\t)
    assert len(out.text) < 2 * (2 * logs.MAX_TEXT + 100) + 200


def test_log_when_exception_is_long_then_kept_longer_than_a_field_but_bounded(out: Captured) -> None:
    try:
        raise ValueError("x" * 100_000 + " signature=" + SECRET)
    except ValueError:
        out.log.exception("firewall_error")

    line = out.only()
    assert logs.MAX_TEXT < len(line["exception"]) <= logs.MAX_EXCEPTION_TEXT + 40
    assert SECRET not in out.text


NAMES = st.sampled_from(["signature", "apiKey", "X-MBX-APIKEY", "listenKey", "passphrase", "api_secret",
                         "OK-ACCESS-PASSPHRASE", "mySecret"])
FILLER = st.text(alphabet=st.sampled_from("ab-_=:&;\"' \t\n{}"), max_size=60)
SECRET_VALUES = st.text(alphabet=st.sampled_from("ABCDEFGHJKMNPQRSTUVWXYZ23456789"), min_size=12, max_size=40)


@given(before=FILLER, name=NAMES, separator=st.sampled_from(["=", ": ", '": "', ":"]), value=SECRET_VALUES,
       after=FILLER)
def test_redact_when_fuzzed_text_holds_credential_pair_then_value_never_survives(
    before: str, name: str, separator: str, value: str, after: str
) -> None:
    # a credential name starts a word (as in a query, a header or a JSON key); what surrounds it is noise
    text = f"{before} {name}{separator}{value}&{after}"

    assert value not in logs.redact(text)


@given(text=st.text(max_size=3000))
def test_redact_when_text_is_arbitrary_then_bounded_and_total(text: str) -> None:
    redacted = logs.redact(text)

    assert isinstance(redacted, str)
    assert len(redacted) <= logs.MAX_TEXT + 50 + len(logs.REDACTED) * (logs.MAX_TEXT // 2)
    if len(text) <= logs.MAX_TEXT and "=" not in text and ":" not in text:
        assert redacted == text


LINE_FIELDS = [
    {},
    {"decision_id": "d" * 32, "verdict": "allow", "rule_id": None, "qty": Decimal("0.0010"), "price": Decimal("5E+4"),
     "context": {"limit": Decimal("1"), "observed": Decimal("0.5")}, "reduce_only": False, "legs": 1},
    {"endpoint": f"POST /fapi/v1/order?signature={SECRET}",
     "context": {"apiKey": SECRET, "nested": [{"sign": SECRET}]}},
    {"detail": "x" * (logs.MAX_TEXT + 10), "shadowed": [{"rule_id": "r", "reason": "q", "detail": None}]},
    {"exception": f"Traceback: signature={SECRET}", "also_violated": ("a", "b")},
]


@pytest.mark.parametrize("fields", LINE_FIELDS)
def test_line_when_fields_given_then_same_line_as_the_structlog_chain_but_the_stamp(
    out: Captured, fields: dict[str, Any],
) -> None:
    given = json.loads(json.dumps(fields, default=str))  # what the caller handed in, to see it is left as it was
    out.log.info("decision", **fields)
    logs.line("decision", fields)

    chain, direct = out.lines()
    assert chain.pop("ts").endswith("Z") and direct.pop("ts").endswith("Z")
    assert list(direct) == list(chain) and direct == chain
    assert SECRET not in out.text
    assert json.loads(json.dumps(fields, default=str)) == given


def test_line_when_a_field_is_one_structlog_reads_then_its_chain_reads_it_as_before(out: Captured) -> None:
    with pytest.raises(TypeError):
        logs.line("decision", {"event": "other"})
    try:
        raise ValueError(f"signature={SECRET}")
    except ValueError:
        logs.line("decision", {"exc_info": True})

    [line] = out.lines()
    assert "exc_info" not in line and "ValueError: signature=[redacted]" in line["exception"]
    assert SECRET not in out.text


def test_line_when_level_above_info_then_nothing_written() -> None:
    saved = structlog.get_config()
    stream = io.StringIO()
    logs.configure(stream=stream, level=logging.WARNING)
    try:
        logs.line("decision", {"verdict": "allow"})
        logs.get_logger("riskwall.test").warning("learn_failed")
    finally:
        structlog.configure(**saved)

    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["learn_failed"]
