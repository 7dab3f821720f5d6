"""Property-based fuzzing of where a venue's reading and the firewall's could part: host spellings, content
types and encodings, flag spellings, and fields an order type does not use.

Each property states what must hold for every input: a venue address is found under any of its spellings; a
body the venue would not read (wrong content type, content-encoded) never reaches it as an order; a flag reads
as true only in the venue's own spelling; a MARKET order takes no reference price from a decoy field.
`make fuzz` runs the same properties far longer.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskwall import engine
from riskwall.model import Action, ParsedRequest, Venue, Verdict
from riskwall.policy.loader import Policy
from riskwall.policy.model import PolicyMode
from riskwall.state.base import StateView
from riskwall.venues import ADAPTERS, default_host_map, parse_venue_hosts
from riskwall.venues.base import HttpRequest, screen
from riskwall.venues.hosts import canonical_host

OPEN_POLICY = Policy(rules=(), accounts={}, mode=PolicyMode.ENFORCE, revision="fuzz", sources=())
KEY_HEADERS = {"x-mbx-apikey": "fuzz-key", "x-bapi-api-key": "fuzz-key", "ok-access-key": "fuzz-key",
               "access-key": "fuzz-key", "x-bx-apikey": "fuzz-key", "api-key": "fuzz-key"}


def decide(parsed: ParsedRequest) -> Verdict:
    return engine.conclude(engine.plan(parsed, OPEN_POLICY, StateView(), "fuzz"), OPEN_POLICY, None).verdict


# ---- hosts --------------------------------------------------------------------------------------------------


@st.composite
def spellings_of(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """`address` as a resolver would also read it."""
    number = int(address)
    octets = list(address.packed)
    form = draw(st.sampled_from(["dotted", "integer", "hex", "octal", "short", "mapped", "mapped-hex"]))
    if form == "integer":
        text = str(number)
    elif form == "hex":
        text = hex(number)
    elif form == "octal":
        text = ".".join(f"0{o:o}" for o in octets)
    elif form == "short":
        text = f"{octets[0]}.{number & 0xFFFFFF}"
    elif form == "mapped":
        text = f"[::ffff:{address}]"
    elif form == "mapped-hex":
        text = f"[::ffff:{octets[0]:02x}{octets[1]:02x}:{octets[2]:02x}{octets[3]:02x}]"
    else:
        text = str(address)
    return text + draw(st.sampled_from(["", "."])) if not text.startswith("[") else text


@settings(deadline=None)
@given(data=st.data(), address=st.ip_addresses(v=4).filter(lambda a: not a.is_unspecified),
       port=st.integers(min_value=1, max_value=65535))
def test_host_map_when_venue_address_spelled_any_way_then_the_venue_is_found(
    data: st.DataObject, address: ipaddress.IPv4Address, port: int
) -> None:
    hosts = default_host_map() | parse_venue_hosts([f"binanceusdm={address}:{port}"])

    spelled = data.draw(spellings_of(address))

    assert hosts.venue(spelled, port) is Venue.BINANCEUSDM


@settings(deadline=None)
@given(host=st.text(max_size=80))
def test_canonical_host_when_any_text_then_no_exception_and_idempotent(host: str) -> None:
    once = canonical_host(host)

    assert canonical_host(once) == once or not once.isascii()
    default_host_map().venue(host, 443)


@settings(deadline=None)
@given(label=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
       case=st.sampled_from([str.lower, str.upper, str.title]), dot=st.sampled_from(["", "."]))
def test_host_map_when_any_host_under_a_venue_domain_then_that_venue(label: str, case: object, dot: str) -> None:
    spell = case  # type: ignore[assignment]
    host = spell(f"{label}.binance.com") + dot  # type: ignore[operator]

    assert default_host_map().venue(host, 443) in (Venue.BINANCEUSDM, Venue.BINANCECOINM)


# ---- content types and encodings ----------------------------------------------------------------------------

ORDER_BODIES = {
    Venue.BINANCEUSDM: ("/fapi/v1/order", "form",
                        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "5"}),
    Venue.BINGX: ("/openApi/swap/v2/trade/order", "form",
                  {"symbol": "BTC-USDT", "side": "BUY", "positionSide": "LONG", "type": "MARKET", "quantity": "5"}),
    Venue.BYBIT: ("/v5/order/create", "json",
                  {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "5"}),
    Venue.OKX: ("/api/v5/trade/order", "json",
                {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "5"}),
    Venue.BITGET: ("/api/v2/mix/order/place-order", "json",
                   {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed", "marginCoin": "USDT",
                    "side": "buy", "orderType": "market", "size": "5"}),
}
READ_AS = {"form": "application/x-www-form-urlencoded", "json": "application/json"}
CONTENT_TYPES = ["", "text/plain", "application/json", "application/x-www-form-urlencoded", "APPLICATION/JSON",
                 "application/json; charset=utf-8", "application/x-www-form-urlencoded; charset=utf-8",
                 "multipart/form-data", "application/octet-stream", "application/jsonx"]
ENCODINGS = ["", "identity", "gzip", "deflate", "br", "x-gzip", "GZIP", "gzip, identity"]


@pytest.mark.parametrize("venue", list(ORDER_BODIES), ids=str)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content_type=st.sampled_from(CONTENT_TYPES), encoding=st.sampled_from(ENCODINGS))
def test_order_when_body_sent_as_venue_would_not_read_it_then_never_forwarded(
    venue: Venue, content_type: str, encoding: str
) -> None:
    path, kind, fields = ORDER_BODIES[venue]
    body = (urlencode(fields) if kind == "form" else json.dumps(fields)).encode()
    headers = dict(KEY_HEADERS)
    if content_type:
        headers["content-type"] = content_type
    if encoding:
        headers["content-encoding"] = encoding
    request = HttpRequest("POST", ADAPTERS[venue].default_hosts[0], 443, path, (), headers, body,
                          content_encoding=encoding)

    parsed = screen(ADAPTERS[venue], request)

    readable = content_type.split(";")[0].strip().lower() == READ_AS[kind] and encoding in ("", "identity")
    if not readable:
        assert decide(parsed) is Verdict.BLOCK, (content_type, encoding)
    elif parsed.error is None:
        assert parsed.intents and parsed.intents[0].quantity is not None


# ---- flag spellings -----------------------------------------------------------------------------------------

FLAG_SPELLINGS = ["true", "TRUE", "True", "tRUE", "false", "FALSE", "False", "1", "0", "yes", "on", " true", "true ",
                  ""]


@settings(deadline=None)
@given(flag=st.sampled_from(FLAG_SPELLINGS), name=st.sampled_from(["reduceOnly", "closePosition"]))
def test_binance_flag_when_spelled_any_way_then_true_only_as_documented(flag: str, name: str) -> None:
    fields = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "5", name: flag}
    request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", tuple(fields.items()), KEY_HEADERS,
                          b"")

    parsed = screen(ADAPTERS[Venue.BINANCEUSDM], request)

    if parsed.error is None and parsed.intents:
        intent = parsed.intents[0]
        assert getattr(intent, "reduce_only" if name == "reduceOnly" else "close_position") is (flag == "true")
    else:
        assert decide(parsed) is Verdict.BLOCK


@pytest.mark.parametrize("venue", [Venue.OKX, Venue.BYBIT], ids=str)
@settings(deadline=None)
@given(flag=st.one_of(st.sampled_from(FLAG_SPELLINGS), st.booleans(), st.integers(-1, 2)))
def test_json_venue_flag_when_any_json_value_then_true_only_as_a_json_true(venue: Venue, flag: object) -> None:
    path, _, fields = ORDER_BODIES[venue]
    order = {**fields, "side": "sell" if venue is Venue.OKX else "Sell", "reduceOnly": flag}
    request = HttpRequest("POST", ADAPTERS[venue].default_hosts[0], 443, path, (),
                          {**KEY_HEADERS, "content-type": "application/json"}, json.dumps(order).encode())

    parsed = screen(ADAPTERS[venue], request)

    if parsed.error is None and parsed.intents:
        assert parsed.intents[0].reduce_only is (flag is True)
    else:
        assert decide(parsed) is Verdict.BLOCK


# ---- decoy fields -------------------------------------------------------------------------------------------

PRICES = st.sampled_from(["1", "0.0001", "1000000", "50000"])


@pytest.mark.parametrize("venue", [Venue.BINANCEUSDM, Venue.BINGX], ids=str)
@settings(deadline=None)
@given(decoys=st.dictionaries(st.sampled_from(["price", "stopPrice", "activationPrice", "triggerPrice"]), PRICES,
                              max_size=4))
def test_market_order_when_decoy_price_fields_added_then_no_reference_price_taken_from_them(
    venue: Venue, decoys: dict[str, str]
) -> None:
    path, _, fields = ORDER_BODIES[venue]
    request = HttpRequest("POST", ADAPTERS[venue].default_hosts[0], 443, path, tuple({**fields, **decoys}.items()),
                          KEY_HEADERS, b"")

    parsed = screen(ADAPTERS[venue], request)

    assert parsed.action is Action.NEW
    if parsed.error is None:
        [intent] = parsed.intents
        assert (intent.price, intent.trigger_price) == (None, None)
