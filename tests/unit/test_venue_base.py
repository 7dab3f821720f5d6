"""The rules every venue adapter shares: hedge-mode closing sides (riskwall.model), the text-neutralising
`Steering` of rejection messages and the strict field parsers (riskwall.venues.base), tested once here rather
than per venue. Each venue's tests keep a case or two per field proving the field is read by these parsers."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskwall.model import (
    Action,
    PositionSide,
    Reason,
    Side,
    Venue,
    Violation,
    closes_hedge_position,
    closing_side,
    fingerprint,
)
from riskwall.venues import ADAPTERS
from riskwall.venues.base import (
    MAX_BODY_BYTES,
    MAX_MESSAGE_TEXT,
    UNREADABLE,
    FieldError,
    HttpRequest,
    Steering,
    bool_field,
    check_spelling,
    contract_price,
    decimal_field,
    enum_field,
    equity_update,
    field_spellings,
    form_pairs,
    form_params,
    json_body,
    json_bool_field,
    lowest_own_price,
    query_params,
    response_json,
    screen,
    sender,
    strict_json,
    text_field,
    venue_time_ms,
)

D = Decimal
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# ---- hedge mode: a SELL on LONG or a BUY on SHORT only closes ---------------------------------------------


@pytest.mark.parametrize(
    ("side", "position_side", "closes"),
    [
        (Side.SELL, PositionSide.LONG, True),
        (Side.BUY, PositionSide.SHORT, True),
        (Side.BUY, PositionSide.LONG, False),
        (Side.SELL, PositionSide.SHORT, False),
        (Side.BUY, PositionSide.BOTH, False),
        (Side.SELL, PositionSide.BOTH, False),
        (None, PositionSide.LONG, False),
        (None, PositionSide.SHORT, False),
        (Side.SELL, None, False),
        (Side.BUY, None, False),
    ],
)
def test_closes_hedge_position_when_side_against_position_side_then_only_that_pair_closes(
        side: Side | None, position_side: PositionSide | None, closes: bool) -> None:
    assert closes_hedge_position(side, position_side) is closes


@pytest.mark.parametrize(
    ("position_side", "side"),
    [(PositionSide.LONG, Side.SELL), (PositionSide.SHORT, Side.BUY), (PositionSide.BOTH, None), (None, None)],
)
def test_closing_side_when_position_side_given_then_the_side_that_closes_it(
        position_side: PositionSide | None, side: Side | None) -> None:
    assert closing_side(position_side) is side
    if side is not None:
        assert closes_hedge_position(side, position_side)


# ---- Steering: rejection text that picks no client exception by accident ----------------------------------

_STEERING = Steering("LOT_SIZE", "Request timeout", "overloaded")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words", "plain words"),
        ("LOT_SIZE", "L\u00adOT-SIZE"),
        ("lot_size", "l\u00adot-size"),
        ("a Request timeout here", "a R\u00adequest\u00a0timeout here"),
        ("overloaded and OVERLOADED", "o\u00adverloaded and O\u00adVERLOADED"),
    ],
)
def test_neutral_when_text_holds_a_steering_phrase_then_respelled_to_match_no_phrase(text: str,
                                                                                     expected: str) -> None:
    neutral = _STEERING.neutral(text)
    assert neutral == expected
    for phrase in ("LOT_SIZE", "Request timeout", "overloaded"):
        assert phrase.lower() not in neutral.lower()
    # read by a person, only soft hyphens, no-break spaces and '-' for '_' changed
    assert neutral.replace("\u00ad", "").replace("\u00a0", " ").replace("-", "_") == text.replace("-", "_")


@pytest.mark.parametrize("steering", [_STEERING, Steering()])
def test_neutral_when_text_longer_than_bound_then_cut_to_bound_with_ellipsis(steering: Steering) -> None:
    neutral = steering.neutral("x" * (MAX_MESSAGE_TEXT * 4))
    assert neutral == "x" * MAX_MESSAGE_TEXT + "..."


def test_neutral_when_no_phrases_then_text_unchanged() -> None:
    assert Steering().neutral("LOT_SIZE overloaded") == "LOT_SIZE overloaded"


def test_message_when_violation_names_a_phrase_then_rule_and_detail_neutral_in_the_common_text() -> None:
    violation = Violation.of("lot_size-rule", Reason.TRADING_HALTED, None, reason="venue overloaded")
    message = _STEERING.message(violation, "pre: ")
    assert re.fullmatch(r"Risk firewall blocked this request \(l\u00adot-size-rule\): pre: TRADING_HALTED: "
                        r"reason=venue o\u00adverloaded", message)


def test_message_when_no_violation_then_names_riskwall_blocked() -> None:
    assert _STEERING.message(None) == "Risk firewall blocked this request (riskwall): blocked"


# ---- the shared field parsers: every spelling tested once here, not once per venue field ---------------------
# Each venue's tests keep one or two cases per field proving that the field is read by these parsers; the full
# matrix of spellings lives here, against the parser itself.

# text a venue sends in a decimal field that is no plain positive decimal: refused whatever the field
NOT_PLAIN_DECIMALS = [
    pytest.param("NaN", id="nan"),
    pytest.param("nan", id="nan-lower"),
    pytest.param("sNaN", id="snan"),
    pytest.param("Infinity", id="infinity"),
    pytest.param("-Infinity", id="minus-infinity"),
    pytest.param("inf", id="inf"),
    pytest.param("1e3", id="exponent"),
    pytest.param("1e400", id="huge-exponent"),
    pytest.param("0.1e", id="dangling-exponent"),
    pytest.param("1E-5", id="negative-exponent"),
    pytest.param("-1", id="negative"),
    pytest.param("-0", id="minus-zero"),
    pytest.param("-0.001", id="negative-fraction"),
    pytest.param("+1", id="plus-sign"),
    pytest.param("--1", id="double-sign"),
    pytest.param(" 1", id="leading-space"),
    pytest.param("1 ", id="trailing-space"),
    pytest.param(" ", id="blank"),
    pytest.param("1.2.3", id="two-dots"),
    pytest.param("1,5", id="comma"),
    pytest.param(".5", id="no-integer-digits"),
    pytest.param("5.", id="no-fraction-digits"),
    pytest.param("0x10", id="hex"),
    pytest.param("1.5f", id="float-suffix"),
    pytest.param("1_000", id="underscore"),
    pytest.param("\u0661", id="arabic-digit"),
    pytest.param("\uff11", id="fullwidth-digit"),
    pytest.param("abc", id="text"),
    pytest.param("9" * 21, id="too-many-integer-digits"),
    pytest.param("1." + "1" * 21, id="too-many-fraction-digits"),
]


@pytest.mark.parametrize("raw", NOT_PLAIN_DECIMALS)
def test_decimal_field_when_text_is_not_a_plain_positive_decimal_then_error_names_field(raw: str) -> None:
    with pytest.raises(FieldError, match=r"^qty\b"):
        decimal_field("qty", raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(None, "qty is missing", id="none"),
        pytest.param("", "qty is missing", id="empty"),
        pytest.param("0", "qty must be positive", id="zero"),
        pytest.param("0.000", "qty must be positive", id="zero-decimals"),
        pytest.param(0, "qty must be positive", id="int-zero"),
        pytest.param(-1, "qty must be positive", id="int-negative"),
        pytest.param(D("-1"), "qty must be positive", id="decimal-negative"),
        pytest.param("1000000000000001", "qty is too large", id="above-sanity-cap"),
        pytest.param(D("NaN"), "qty is not finite", id="decimal-nan"),
        pytest.param(D("Infinity"), "qty is not finite", id="decimal-infinity"),
        pytest.param(True, "qty is not a number", id="bool"),
        pytest.param(1.5, "qty is not a number", id="float"),
        pytest.param(["1"], "qty is not a number", id="list"),
        pytest.param({"value": "1"}, "qty is not a number", id="object"),
    ],
)
def test_decimal_field_when_missing_not_positive_or_not_text_then_error_says_which(raw: object,
                                                                                   message: str) -> None:
    with pytest.raises(FieldError, match=f"^{re.escape(message)}$"):
        decimal_field("qty", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.001", "0.001"), ("50000", "50000"), ("1.10", "1.10"), ("0.00100000", "0.00100000"),
     ("1000000000000000", "1000000000000000"), (7, "7"), (D("2.50"), "2.50")],
)
def test_decimal_field_when_plain_positive_decimal_then_the_same_digits(raw: object, expected: str) -> None:
    value = decimal_field("qty", raw)

    assert type(value) is Decimal
    assert value.as_tuple() == D(expected).as_tuple()  # no float trip: trailing zeros kept


def test_decimal_field_when_optional_or_zero_allowed_then_absent_is_none_and_zero_reads() -> None:
    assert decimal_field("price", None, required=False) is None
    assert decimal_field("price", "", required=False) is None
    assert decimal_field("qty", "0", allow_zero=True) == 0
    with pytest.raises(FieldError, match=r"^qty must be positive$"):
        decimal_field("qty", D("-0.1"), allow_zero=True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, False), ("", False), ("true", True), (True, True), (False, False), ("false", False),
     ("FALSE", False), ("False", False)],
)
def test_bool_field_when_documented_spelling_then_read(raw: object, expected: bool) -> None:
    assert bool_field("reduceOnly", raw) is expected


# only the exact `true` reads as true: a venue that does not read `TRUE` as true would act on a plain order
@pytest.mark.parametrize("raw", ["TRUE", "True", "1", "0", "yes", "maybe", " true", 1, ["true"]])
def test_bool_field_when_other_spelling_then_error_names_field(raw: object) -> None:
    with pytest.raises(FieldError, match=r"^reduceOnly must be true or false"):
        bool_field("reduceOnly", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, False), ("", False), (True, True), (False, False), ("false", False), ("FALSE", False)],
)
def test_json_bool_field_when_json_boolean_or_safe_false_then_read(raw: object, expected: bool) -> None:
    assert json_bool_field("reduceOnly", raw) is expected


# a string true is refused, not guessed at: the venue takes a JSON boolean and might not read the string as one
@pytest.mark.parametrize("raw", ["true", "TRUE", "yes", 1, 0, D(1), ["true"]])
def test_json_bool_field_when_not_a_json_boolean_then_error_names_field(raw: object) -> None:
    with pytest.raises(FieldError, match=r"^reduceOnly must be a JSON true or false$"):
        json_bool_field("reduceOnly", raw)


SIDES = frozenset({"BUY", "SELL"})


def test_enum_field_when_allowed_or_defaulted_then_read_and_else_error_names_field() -> None:
    assert enum_field("side", "BUY", SIDES) == "BUY"
    assert enum_field("side", None, SIDES, default="SELL") == "SELL"
    assert enum_field("side", "", SIDES, default="SELL") == "SELL"
    with pytest.raises(FieldError, match=r"^side is missing$"):
        enum_field("side", None, SIDES)


@pytest.mark.parametrize("raw", ["buy", "Buy", "HOLD", " BUY", "BUY ", 1, True, ["BUY"]])
def test_enum_field_when_value_not_exactly_allowed_then_error_names_field(raw: object) -> None:
    with pytest.raises(FieldError, match=r"^side has an unknown value$"):
        enum_field("side", raw, SIDES)


CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,8}")


@pytest.mark.parametrize(("raw", "expected"), [("ab-1_", "ab-1_"), (12, "12"), (D("7"), "7")])
def test_text_field_when_matching_pattern_then_text(raw: object, expected: str) -> None:
    assert text_field("clientId", raw, CLIENT_ID) == expected


@pytest.mark.parametrize("raw", ["has space", "x" * 9, "a!", True, ["a"], 1.5])
def test_text_field_when_not_matching_pattern_then_error_names_field(raw: object) -> None:
    with pytest.raises(FieldError, match=r"^clientId is invalid$"):
        text_field("clientId", raw, CLIENT_ID)


def test_text_field_when_absent_then_missing_unless_optional() -> None:
    assert text_field("clientId", "", CLIENT_ID, required=False) is None
    with pytest.raises(FieldError, match=r"^clientId is missing$"):
        text_field("clientId", None, CLIENT_ID)


# ---- strict_json: JSON read exactly as the venue reads it ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('{"qty":NaN}', "body holds NaN", id="bare-nan"),
        pytest.param('{"qty":Infinity}', "body holds Infinity", id="bare-infinity"),
        pytest.param('{"qty":-Infinity}', "body holds -Infinity", id="bare-minus-infinity"),
        pytest.param('{"qty":1e3}', "body holds a number that is not a plain decimal", id="exponent"),
        pytest.param('{"qty":1e400}', "body holds a number that is not a plain decimal", id="huge-exponent"),
        pytest.param('{"qty":-1}', "body holds a number that is not a plain decimal", id="signed"),
        pytest.param('{"qty":' + "9" * 21 + "}", "body holds a number that is not a plain decimal",
                     id="too-many-digits"),
        pytest.param("{", "body is not JSON", id="truncated"),
        pytest.param("", "body is not JSON", id="empty"),
        pytest.param("[" * 50_000 + "]" * 50_000, "body is not JSON", id="deep-nesting"),
        pytest.param('{"qty":"1","qty":"2"}', "qty is given twice", id="duplicate-key"),
    ],
)
def test_strict_json_when_text_is_read_differently_by_some_reader_then_error(text: str, message: str) -> None:
    with pytest.raises(FieldError, match=f"^{re.escape(message)}"):
        strict_json(text, "body")


def test_strict_json_when_plain_numbers_then_decimals_with_their_digits() -> None:
    data = strict_json('{"qty":0.0010,"n":[1,2.50],"s":"1e3"}', "body")

    assert data == {"qty": D("0.0010"), "n": [D(1), D("2.50")], "s": "1e3"}
    assert data["qty"].as_tuple() == D("0.0010").as_tuple()


def test_strict_json_when_signed_or_plain_numbers_off_then_those_numbers_kept() -> None:
    assert strict_json('{"qty":-1.5}', "body", signed=True) == {"qty": D("-1.5")}
    assert strict_json('{"qty":1e3}', "body", plain_numbers=False) == {"qty": D("1e3")}


KNOWN = ("qty", "reduceOnly", "clientOrderID", "clientOrderId")


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        # a case variant beside the field: a server matching names case-insensitively might read either one
        pytest.param('{"qty":"1","Qty":"100"}', {}, "qty is given twice in body", id="case-variant-beside-field"),
        pytest.param('{"Other":"1","other":"2"}', {}, "body is given twice", id="unknown-field-twice-by-case"),
        pytest.param('{"QTY":"1"}', {"exact_spelling": True}, "qty is spelled with different letter case",
                     id="case-variant-alone"),
        pytest.param('{"\u017fide":"1"}', {"known_fields": ("side",), "exact_spelling": True},
                     "side is spelled with different letter case", id="long-s-folds-to-a-known-field"),
    ],
)
def test_strict_json_when_known_field_spelled_another_way_then_error_names_field(
        text: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FieldError, match=f"^{re.escape(message)}$"):
        strict_json(text, "body", **{"known_fields": KNOWN, **kwargs})


def test_strict_json_when_documented_spellings_then_each_read_but_not_two_together() -> None:
    spellings = field_spellings(KNOWN)

    assert spellings["clientorderid"] == frozenset({"clientOrderID", "clientOrderId"})
    for name in ("clientOrderID", "clientOrderId"):
        assert strict_json(f'{{"{name}":"a"}}', "body", known_fields=spellings, exact_spelling=True) == {name: "a"}
    with pytest.raises(FieldError, match=r"^clientOrderID is given twice in body$"):
        strict_json('{"clientOrderID":"a","clientOrderId":"b"}', "body", known_fields=spellings)
    check_spelling("unknownField", spellings)  # a field the venue does not document is not judged here


# each call read by its own options, though decoders are kept between calls: the same texts, read twice over
REREAD_CASES = [
    ('{"qty":"1","Qty":"2"}', "body", {"known_fields": KNOWN}, "qty is given twice in body"),
    ('{"qty":"1","Qty":"2"}', "body", {}, None),
    ('{"qty":"1","Qty":"2"}', "batchOrders", {"known_fields": field_spellings(KNOWN)}, "qty is given twice in "
                                                                                      "batchOrders"),
    ('{"QTY":"1"}', "body", {"known_fields": KNOWN, "exact_spelling": True}, "qty is spelled with different letter "
                                                                             "case"),
    ('{"QTY":"1"}', "body", {"known_fields": KNOWN}, None),
    ('{"qty":-1}', "legs", {}, "legs holds a number that is not a plain decimal"),
    ('{"qty":-1}', "legs", {"signed": True}, None),
    ('{"qty":1e3}', "legs", {"plain_numbers": False}, None),
    ('{"a":{"b":1,"b":1}}', "frame", {}, "b is given twice"),
]


@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_strict_json_when_calls_alternate_options_then_each_read_by_its_own(rounds: int) -> None:
    for _ in range(rounds):
        for text, what, kwargs, message in REREAD_CASES:
            if message is None:
                assert isinstance(strict_json(text, what, **kwargs), dict)
            else:
                with pytest.raises(FieldError, match=f"^{re.escape(message)}"):
                    strict_json(text, what, **kwargs)


@pytest.mark.parametrize(
    "text",
    [b'{"qty":1.5}', '{"qty":1.5}'.encode("utf-16"), '{"qty":1.5}'.encode("utf-32"), b'\xef\xbb\xbf{"qty":1.5}'],
)
def test_strict_json_when_bytes_then_read_as_json_loads_reads_them(text: bytes) -> None:
    assert strict_json(text, "body") == {"qty": D("1.5")}  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ['\ufeff{"qty":1}', '{"qty":1} {"qty":2}', '{"qty":1}x'])
def test_strict_json_when_text_has_a_bom_or_trailing_data_then_not_json(text: str) -> None:
    with pytest.raises(FieldError, match=r"^body is not JSON$"):
        strict_json(text, "body")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"p":1.50,"n":2}', {"p": D("1.50"), "n": 2}),
        ('{"p":1.50}'.encode("utf-16"), {"p": D("1.50")}),
        ('{"p":1.50}'.encode("utf-32"), {"p": D("1.50")}),
        (b'\xef\xbb\xbf{"p":1.50}', {"p": D("1.50")}),
        (b"", UNREADABLE),
        (b"\xff\xfe\xfd", UNREADABLE),
        (b'{"p":1}{"p":2}', UNREADABLE),
        (b"[" * 100_000, UNREADABLE),
    ],
)
def test_response_json_when_answer_bytes_then_read_as_json_loads_reads_them(body: bytes, expected: Any) -> None:
    assert response_json(body) == expected if expected is not UNREADABLE else response_json(body) is UNREADABLE


def test_sender_when_more_keys_than_remembered_then_every_account_still_its_key_fingerprint() -> None:
    keys = [f"key-{n}" for n in range(700)]
    for api_key in keys + keys[::-1]:  # past the bound and back: remembered or not, the same account
        request = HttpRequest("POST", "venue.example", 443, "/order", (), {"x-key": api_key}, b"")
        assert sender(request, "X-Key").account == fingerprint(api_key)


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"x-key": "k"}, None),
        ({"x-key": "k", "x_other": "1"}, None),
        ({"x_key": "k"}, "X-Key is given under another spelling"),
        ({"x-key": "k", "x_key": "j"}, "X-Key is given under another spelling"),
        ({"x-key": "k", "x-key_": "j"}, None),
    ],
)
def test_sender_when_key_header_spelled_with_underscores_then_refused(headers: dict[str, str],
                                                                       error: str | None) -> None:
    request = HttpRequest("POST", "venue.example", 443, "/order", (), headers, b"")

    assert sender(request, "X-Key").key_error == error


# ---- form_params / json_body: where a venue reads its parameters ------------------------------------------


def _request(query: tuple[tuple[str, str], ...] = (), body: bytes = b"", content_type: str | None = FORM,
             method: str = "POST") -> HttpRequest:
    headers = {"content-type": content_type} if content_type and body else {}
    return HttpRequest(method, "venue.example", 443, "/order", query, headers, body)


def test_form_params_when_query_and_form_body_then_merged_and_repeats_with_one_value_kept() -> None:
    request = _request((("symbol", "BTCUSDT"), ("qty", "1")), b"qty=1&side=BUY")

    assert form_params(request, "venue", field_spellings(KNOWN)) == {"symbol": "BTCUSDT", "qty": "1", "side": "BUY"}


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        pytest.param(_request((("qty", "1"),), b"qty=100"), "qty is given twice with different values",
                     id="query-and-form-disagree"),
        pytest.param(_request((("qty", "1"), ("qty", "2"))), "qty is given twice with different values",
                     id="query-repeats"),
        pytest.param(_request((("Qty", "1"),)), "qty is spelled with different letter case", id="case-variant"),
        pytest.param(_request(body=b"qty=1", content_type="application/json"), "body is not a form",
                     id="body-not-sent-as-form"),
        pytest.param(_request(body=b"qty=1", content_type=None), "body is not a form", id="body-without-type"),
        pytest.param(_request(body=b"\xff=1"), "body is not a form", id="body-not-utf8"),
        pytest.param(_request(body=b"x" * (MAX_BODY_BYTES + 1)), "body is too large", id="body-too-large"),
    ],
)
def test_form_params_when_parameters_ambiguous_or_unreadable_then_error(request_: HttpRequest,
                                                                         message: str) -> None:
    with pytest.raises(FieldError, match=f"^{re.escape(message)}"):
        form_params(request_, "venue", field_spellings(KNOWN))


FORM_TEXTS = [
    "", "a=1", "a=", "=1", "=", "a=1&b=2", "a==1", "a=1=2", "a=1&a=2", "symbol=BTCUSDT&quantity=0.001&price=50000",
    "a", "a=1&", "&a=1", "a=1&&b=2", "&", "a=%41", "a=1+2", "a+b=1", "a=%zz", "a=%", "%61=1", "a=%C3%A9",
    "a=%ff", "a=;b", "a=1;b=2", "a=\u00e9", "a= 1", "a=1\x00", "a=#1",
]


@pytest.mark.parametrize("text", FORM_TEXTS)
def test_form_pairs_when_text_given_then_read_as_parse_qsl_strict_reads_it(text: str) -> None:
    assert_form_pairs_as_parse_qsl(text)


@settings(max_examples=400)
@given(st.lists(st.tuples(st.text(st.sampled_from("ab=&%+;#1 \u00e9"), max_size=4),
                          st.text(st.sampled_from("ab=&%+;#1 \u00e9"), max_size=4)), max_size=4)
       .map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)) | st.text(max_size=12))
def test_form_pairs_when_text_is_arbitrary_then_read_as_parse_qsl_strict_reads_it(text: str) -> None:
    assert_form_pairs_as_parse_qsl(text)


def assert_form_pairs_as_parse_qsl(text: str) -> None:
    try:
        expected: list[tuple[str, str]] | type[ValueError] = parse_qsl(text, keep_blank_values=True,
                                                                       strict_parsing=True)
    except ValueError:
        expected = ValueError
    if expected is ValueError:
        with pytest.raises(ValueError):
            form_pairs(text)
    else:
        assert form_pairs(text) == expected


def test_query_params_when_key_repeats_with_another_value_then_none() -> None:
    assert query_params(_request((("symbol", "A"), ("symbol", "A")))) == {"symbol": "A"}
    assert query_params(_request((("symbol", "A"), ("symbol", "B")))) is None


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        pytest.param(_request((("qty", "1"),), b'{"qty":"1"}', JSON), "query string on a POST", id="query"),
        pytest.param(_request(), "body is missing", id="no-body"),
        pytest.param(_request(body=b'{"qty":"1"}', content_type=FORM), "body is not application/json",
                     id="form-content-type"),
        pytest.param(_request(body=b'{"qty":"1"}', content_type=None), "body is not application/json",
                     id="no-content-type"),
        pytest.param(_request(body=b"\xff", content_type=JSON), "body is not JSON: it is not UTF-8", id="not-utf8"),
        pytest.param(_request(body='{"qty":"1"}'.encode("utf-16"), content_type=JSON), "body is not JSON",
                     id="utf16"),
        pytest.param(_request(body=b'\xef\xbb\xbf{"qty":"1"}', content_type=JSON), "body is not JSON",
                     id="utf8-bom"),
        pytest.param(_request(body=b'"order"', content_type=JSON), "body is not a JSON object", id="string"),
        pytest.param(_request(body=b'["qty"]', content_type=JSON), "body is not a JSON object", id="array"),
        pytest.param(_request(body=b"x" * (MAX_BODY_BYTES + 1), content_type=JSON), "body is too large",
                     id="too-large"),
    ],
)
def test_json_body_when_not_a_json_object_sent_as_json_then_error(request_: HttpRequest, message: str) -> None:
    with pytest.raises(FieldError, match=f"^{re.escape(message)}"):
        json_body(request_, "venue")


def test_json_body_when_array_allowed_then_read() -> None:
    assert json_body(_request(body=b'[{"qty":"1"}]', content_type=JSON), "venue", object_only=False) == [
        {"qty": "1"}]


# ---- equity_update: an account's equity as a venue reports it -----------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("10000.50", "10000.50"), ("-12.5", "-12.5"), ("0", "0")])
def test_equity_update_when_plain_signed_decimal_text_then_read_exactly(raw: str, expected: str) -> None:
    update = equity_update(Venue.OKX, "acct", raw, "USD")

    assert update is not None
    assert update.equity.as_tuple() == D(expected).as_tuple()


@pytest.mark.parametrize("raw", ["NaN", "1e3", "", " 1", "--1", "1" * 21, D("1"), 1, None, True])
def test_equity_update_when_not_plain_decimal_text_then_nothing_learned(raw: object) -> None:
    assert equity_update(Venue.OKX, "acct", raw, "USD") is None


def test_equity_update_when_no_account_then_nothing_learned() -> None:
    assert equity_update(Venue.OKX, None, "1", "USD") is None



@pytest.mark.parametrize(("side", "own", "mark", "limit", "price"), [
    (Side.BUY, D(1_000_000), D(50_000), True, D(50_000)),  # a buy far above the market fills at the market
    (Side.BUY, D(40_000), D(50_000), True, D(40_000)),  # a resting buy fills at its own price
    (Side.BUY, D(500_000), D(50_000), False, D(50_000)),  # a buy stop far above: about the market, at most
    (None, D(1_000_000), D(50_000), True, D(50_000)),  # side not known yet (an amend): counted as a buy
    (Side.SELL, D(40_000), D(50_000), True, D(40_000)),  # a sell fills at or above its limit
    (Side.SELL, D(60_000), D(50_000), True, D(60_000)),
    # a sell stop triggered above the market triggers at once and fills at the market, 10 times the coin
    (Side.SELL, D(500_000), D(50_000), False, D(50_000)),
    (Side.SELL, D(45_000), D(50_000), False, D(45_000)),  # a stop below the market: about its trigger
    (Side.SELL, D(500_000), None, False, D(500_000)),  # no mark: its trigger
    (Side.BUY, D(60_000), None, True, D(60_000)),  # no mark: its own price
    (Side.BUY, None, D(50_000), False, D(50_000)),  # a market order: the mark
    (Side.SELL, None, None, False, None),
    (Side.BUY, D(60_000), D(0), True, D(60_000)),  # a price that is not positive is no price
    (Side.BUY, D(0), D(50_000), True, D(50_000)),
])
def test_contract_price_when_contracts_are_worth_usd_then_the_price_that_makes_them_the_most_coin(
    side: Side | None, own: Decimal | None, mark: Decimal | None, limit: bool, price: Decimal | None,
) -> None:
    assert contract_price(side, own, mark, limit=limit) == price


@pytest.mark.parametrize(("side", "limit", "triggers", "price"), [
    (Side.BUY, D(50_000), (D(5_000),), D(5_000)),  # limit-if-touched: triggered at 5,000, a buy fills there
    (Side.BUY, D(56_000), (D(55_000),), D(55_000)),  # stop-limit buy: about its trigger
    (Side.BUY, D(40_000), (), D(40_000)),  # a plain limit buy
    (Side.BUY, None, (D(5_000), None, D(7_000)), D(5_000)),  # market after a trigger; activation price too
    (None, D(50_000), (D(5_000),), D(5_000)),  # side not known (an amend): counted as a buy
    (Side.SELL, D(44_000), (D(45_000),), D(44_000)),  # a sell fills at or above its limit
    (Side.SELL, D(60_000), (D(40_000),), D(60_000)),
    (Side.SELL, None, (D(45_000), D(46_000)), D(45_000)),  # a market sell after a trigger: the lowest trigger
    (Side.BUY, None, (), None),
    (Side.BUY, D(0), (D(-1), None), None),  # a price that is not positive is no price
])
def test_lowest_own_price_when_order_has_limit_and_triggers_then_the_lowest_it_can_fill_at(
    side: Side | None, limit: Decimal | None, triggers: tuple[Decimal | None, ...], price: Decimal | None,
) -> None:
    assert lowest_own_price(side, limit, *triggers) == price


# (venue, method, path, the action it is read as): a read method at a write path the venue serves no read at is
# refused; the reads the tables list, and the venues that do read at write paths, pass
READ_AT_WRITE_PATHS = [
    (Venue.BYBIT, "GET", "/v5/order/create", Action.UNKNOWN),
    (Venue.BYBIT, "HEAD", "/v5/position/set-leverage", Action.UNKNOWN),
    (Venue.BYBIT, "GET", "/v5/order/realtime", Action.READ),
    (Venue.OKX, "GET", "/api/v5/trade/batch-orders", Action.UNKNOWN),
    (Venue.OKX, "GET", "/api/v5/trade/close-position", Action.UNKNOWN),
    (Venue.OKX, "GET", "/api/v5/trade/order", Action.READ),  # the order's details: a read at the order path
    (Venue.BITGET, "GET", "/api/v2/mix/order/place-order", Action.UNKNOWN),
    (Venue.BITGET, "GET", "/api/v2/mix/order/orders-pending", Action.READ),
    (Venue.BINANCEUSDM, "GET", "/fapi/v1/positionSide/dual", Action.READ),  # Binance reads the mode there
    (Venue.BINGX, "GET", "/openApi/swap/v2/trade/leverage", Action.READ),
    # order paths ccxt lists writes at and no read (`write_paths.json`), on every venue, the table's or not
    (Venue.BINANCEUSDM, "GET", "/fapi/v1/batchOrders", Action.UNKNOWN),
    (Venue.BINANCEUSDM, "GET", "/fapi/v1/leverage", Action.UNKNOWN),
    (Venue.BINANCEUSDM, "GET", "/papi/v1/um/conditional/order", Action.UNKNOWN),
    (Venue.BINANCEUSDM, "GET", "/fapi/v1/order", Action.READ),  # an order's status
    (Venue.BINANCEUSDM, "GET", "/fapi/v1/algoOrder", Action.READ),  # an algo order's status
    (Venue.BINANCECOINM, "GET", "/dapi/v1/batchOrders", Action.UNKNOWN),
    (Venue.BINANCECOINM, "GET", "/dapi/v1/algoOrder", Action.READ),  # served on dapi too, ccxt lists no GET
    (Venue.BINANCECOINM, "GET", "/dapi/v1/order", Action.READ),
    (Venue.BYBIT, "GET", "/contract/v3/private/order/create", Action.UNKNOWN),
    (Venue.BYBIT, "GET", "/unified/v3/private/order/cancel", Action.UNKNOWN),
    (Venue.OKX, "GET", "/api/v5/copytrading/algo-order", Action.UNKNOWN),
    (Venue.OKX, "GET", "/api/v5/sprd/amend-order", Action.UNKNOWN),
    (Venue.BITGET, "GET", "/api/mix/v1/order/placeOrder", Action.UNKNOWN),
    (Venue.BITGET, "GET", "/api/margin/v1/cross/order/placeOrder", Action.UNKNOWN),
    (Venue.BITMEX, "GET", "/api/v1/order/closePosition", Action.UNKNOWN),
    (Venue.BITMEX, "GET", "/api/v1/order/all", Action.UNKNOWN),
    (Venue.BITMEX, "GET", "/api/v1/order", Action.READ),
    (Venue.BITMEX, "GET", "/api/v1/position", Action.READ),
]


@pytest.mark.parametrize(("venue", "method", "path", "action"), READ_AT_WRITE_PATHS,
                         ids=[f"{v}-{m}-{p}" for v, m, p, _ in READ_AT_WRITE_PATHS])
def test_screen_when_read_method_sent_to_a_write_path_then_refused_where_the_venue_reads_nothing_there(
    venue: Venue, method: str, path: str, action: Action
) -> None:
    adapter = ADAPTERS[venue]
    request = HttpRequest(method, adapter.default_hosts[0], 443, path, (), {adapter.key_header: "k" * 40}, b"")

    assert screen(adapter, request).action is action


@pytest.mark.parametrize(("raw", "expected"), [
    (1_700_000_000_000, 1_700_000_000_000),
    ("1700000000000", 1_700_000_000_000),  # Bybit, OKX: digits as text
    (1_700_000_000_000_000, None),  # microseconds (OKX inTime): another unit, no time
    (1_700_000_000, None),  # seconds
    ("+1700000000000", None), ("1700000000000.0", None), ("１７００００００００００００", None), ("", None),
    (1.7e12, None), (True, None), (None, None), ([1_700_000_000_000], None),
])
def test_venue_time_ms_when_a_venue_dates_something_then_milliseconds_or_none(
    raw: object, expected: int | None
) -> None:
    assert venue_time_ms(raw) == expected
