"""An order answer that leaves the order's fate unknown holds what is left of its reservation (the order may exist)
instead of dropping it: no answer, 408, 5xx, or, whatever the HTTP status, a code the venue answers when it could
not tell whether it took the order (`refusals.fate_unknown`, `decider.release_delay_ms`). Over REST and on the
venues' order sockets alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskwall.decider import UNANSWERED_HOLD_MS, release_delay_ms
from riskwall.model import Venue, Verdict
from riskwall.venues.refusals import fate_unknown

from .factories import answer_on_socket, make_limit, make_request
from .test_listing_scope import SIGNED, USDM, request, screen_and_decide_then, screen_and_decide_twice

BN, CM, BY, OK, BG, BX, BM = (Venue.BINANCEUSDM, Venue.BINANCECOINM, Venue.BYBIT, Venue.OKX, Venue.BITGET,
                              Venue.BINGX, Venue.BITMEX)
OKX_TIMEOUT = "Endpoint request timeout (does not indicate success or failure of order, please check order status)"

ANSWERS = [
    # no answer, 408 and 5xx: on every venue
    (BN, None, b"", True),
    (BG, None, b"", True),
    (BY, 408, {}, True),
    (BN, 503, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, True),
    (BM, 502, "<html>Bad Gateway</html>", True),
    (OK, 500, {"code": "50026", "msg": "System error. Try again later.", "data": []}, True),
    # a 2xx that is not JSON at all: every venue answers an order in JSON, and a 200 may be an acceptance
    (BN, 200, b"", True),
    (BY, 200, b"  ", True),
    (BG, 200, "<html><body>upstream gateway</body></html>", True),
    (BN, 200, "null", True),
    # a venue's own "could not tell" code, whatever the status
    (BN, 400, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, True),
    (CM, 400, {"code": -1006, "msg": "An unexpected response was received from the message bus."}, True),
    (BN, 200, [{"orderId": 1, "symbol": "BTCUSDT"}, {"code": -1007, "msg": "Timeout"}], True),
    (BY, 200, {"retCode": 10016, "retMsg": "Internal System Error.", "result": {}, "retExtInfo": {}}, True),
    (BY, 200, {"retCode": 10000, "retMsg": "Server Timeout", "result": {}, "retExtInfo": {}}, True),
    (BY, 200, {"retCode": 5004, "retMsg": "Server Timeout", "result": None, "retExtInfo": {}}, True),
    (BY, 200, {"retCode": 0, "retMsg": "OK", "result": {"list": [{}, {}]},
               "retExtInfo": {"list": [{"code": 0, "msg": "OK"}, {"code": 10016, "msg": "Server error"}]}}, True),
    (OK, 400, {"code": "50004", "msg": OKX_TIMEOUT, "data": []}, True),
    (OK, 200, {"code": "50013", "msg": "Systems are busy. Please try again later.", "data": []}, True),
    (OK, 200, {"code": "1", "msg": "", "data": [{"sCode": "51149", "sMsg": "Order timed out."}]}, True),
    (OK, 200, {"code": "2", "msg": "", "data": [{"sCode": "0", "ordId": "1"}, {"sCode": "50004"}]}, True),
    # answers that say what happened: accepted or refused
    (BN, 200, {"orderId": 4100010061, "symbol": "BTCUSDT", "status": "NEW", "price": "10000"}, False),
    (BN, 400, {"code": -2019, "msg": "Margin is insufficient."}, False),
    (BN, 200, [{"orderId": 1}, {"code": -2019, "msg": "Margin is insufficient."}], False),
    (BY, 200, {"retCode": 0, "retMsg": "OK", "result": {"orderId": "10016", "orderLinkId": "10000"}}, False),
    (BY, 200, {"retCode": 110007, "retMsg": "ab not enough for new order", "result": {}}, False),
    (BY, 403, "access too frequent", False),
    (OK, 200, {"code": "0", "msg": "", "data": [{"sCode": "0", "ordId": "51149", "clOrdId": "50004"}]}, False),
    (OK, 200, {"code": "1", "msg": "", "data": [{"sCode": "51008", "sMsg": "Insufficient margin"}]}, False),
    (OK, 400, {"code": "51000", "msg": "Parameter sz error", "data": []}, False),
    (OK, 400, "not json 50004", False),
    (BN, 200, " \n{\"orderId\": 1, \"status\": \"NEW\"}", False),
    # venues without such codes: their answers' status says it
    (BG, 400, {"code": "50004", "msg": "not Bitget's timeout"}, False),
    (BX, 200, {"code": 10016, "msg": "not BingX's", "data": {}}, False),
]


def raw(body: object) -> bytes:
    return body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()


@pytest.mark.parametrize(("venue", "status", "body", "unknown"), ANSWERS, ids=lambda value: None)
def test_fate_unknown_when_venue_answers_then_held_only_when_it_could_not_tell(
    venue: Venue, status: int | None, body: object, unknown: bool
) -> None:
    assert fate_unknown(venue, status, raw(body)) is unknown
    assert release_delay_ms(venue, status, raw(body)) == (UNANSWERED_HOLD_MS if unknown else 0)


@pytest.mark.parametrize(("venue", "request_id", "frame", "unknown"), [
    (BN, "7", {"id": "7", "status": 503, "error": {"code": -1007, "msg": "Timeout waiting for response."}}, True),
    (BN, "7", {"id": "7", "status": 400, "error": {"code": -2019, "msg": "Margin is insufficient."}}, False),
    (BY, "2", {"reqId": "2", "retCode": 10016, "retMsg": "Internal System Error.", "op": "order.create",
               "data": {}}, True),
    (BY, "2", {"reqId": "2", "retCode": 110007, "retMsg": "not enough", "op": "order.create", "data": {}}, False),
    (OK, "9", {"id": "9", "op": "order", "code": "1", "msg": "", "data": [{"sCode": "51149", "sMsg": "timed out"}]},
     True),
    (OK, "9", {"id": "9", "op": "order", "code": "1", "msg": "", "data": [{"sCode": "51008", "sMsg": "no"}]}, False),
], ids=["binance-timeout", "binance-refused", "bybit-server-error", "bybit-refused", "okx-timed-out", "okx-refused"])
def test_fate_unknown_when_venue_answers_on_its_order_socket_then_read_as_over_rest(
    venue: Venue, request_id: str, frame: dict[str, Any], unknown: bool
) -> None:
    read = answer_on_socket(make_request(make_limit("50000", venue=venue), venue=venue), request_id, frame)

    assert release_delay_ms(venue, read.status, read.rest_body) == (UNANSWERED_HOLD_MS if unknown else 0)


# a 2xx answer to a new order that neither shows the order nor refuses it says nothing of its fate
EXPIRED = {"orderId": 7, "symbol": "BTCUSDT", "side": "BUY", "positionSide": "BOTH", "status": "EXPIRED",
           "origQty": "0.6", "executedQty": "0", "price": "40000", "type": "LIMIT", "timeInForce": "IOC"}
SILENT_ANSWERS = [
    pytest.param(b'{"orderId": 7, "symbol": "BTCUSDT", "sta', True, id="cut-short"),
    pytest.param(b"{}", True, id="empty-object"),
    pytest.param(b'{"orderId": ' + b"9" * 5000 + b"}", True, id="number-too-long"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, True, id="too-deep"),
    pytest.param(json.dumps({**EXPIRED, "status": "FILLED", "executedQty": "NaN"}).encode(), True,
                 id="fill-that-does-not-read"),
    # what the answer says, read: an order that ended unfilled gives its reservation back
    pytest.param(json.dumps(EXPIRED).encode(), False, id="expired-unfilled"),
]


@pytest.mark.parametrize(("answer", "held"), SILENT_ANSWERS)
def test_new_order_answer_when_it_says_nothing_of_the_order_then_its_exposure_is_held(answer: bytes,
                                                                                       held: bool) -> None:
    # cut short by a connection the venue closed, too deep or long to read, or empty: the venue may have taken and
    # filled the order, so the next order is measured with it (0.6 + 0.6 past a max_position of 1)
    order = request(USDM, "POST", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"),
                                                      ("timeInForce", "GTC"), ("quantity", "0.6"),
                                                      ("price", "40000"), *SIGNED))

    verdict = screen_and_decide_twice(USDM, order, answer)

    assert verdict is (Verdict.BLOCK if held else Verdict.ALLOW)


def _batch_leg(quantity: str, order_id: int | None = None) -> dict[str, Any]:
    leg = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": quantity,
           "price": "40000"}
    if order_id is not None:
        return {**EXPIRED, "orderId": order_id, "status": "NEW", "origQty": quantity, "timeInForce": "GTC"}
    return leg


@pytest.mark.parametrize(("second_leg_answer", "next_verdict"), [
    (_batch_leg("0.3", 8), Verdict.BLOCK),  # both rest: 0.6 + 0.5 past the limit of 1
    ({"code": -2019, "msg": "Margin is insufficient."}, Verdict.ALLOW),  # refused: 0.3 + 0.5
    # the answer lists one leg only: the other's fate is unknown, it is held as an unanswered order's
    (None, Verdict.BLOCK),
], ids=["both-legs-shown", "second-leg-refused", "second-leg-left-out"])
def test_batch_answer_when_it_leaves_a_leg_out_then_that_legs_exposure_is_held(
    second_leg_answer: dict[str, Any] | None, next_verdict: Verdict
) -> None:
    legs = json.dumps([_batch_leg("0.3"), _batch_leg("0.3")])
    batch = request(USDM, "POST", "/fapi/v1/batchOrders", (("batchOrders", legs), *SIGNED))
    answers = [_batch_leg("0.3", 7)] + ([second_leg_answer] if second_leg_answer is not None else [])
    single = request(USDM, "POST", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"),
                                                       ("timeInForce", "GTC"), ("quantity", "0.5"),
                                                       ("price", "40000"), *SIGNED))

    assert screen_and_decide_then(USDM, batch, json.dumps(answers).encode(), single) is next_verdict
