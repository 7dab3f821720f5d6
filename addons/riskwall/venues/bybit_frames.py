"""Bybit v5's WebSocket trade socket (`/v5/trade`) and private stream (`/v5/private`), read as the REST API.

Client frames are `{"reqId", "header", "op", "args"}`. Frames carry no signature: the account is the key of the
connection's `auth` op, once Bybit accepted it (`retCode` 0). An order op is the REST request with `args[0]` as
its body (`order.create` = `POST /v5/order/create`, `order.create-batch` = `POST /v5/order/create-batch`), read by
the REST adapter. Answers are `{"reqId", "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"}`:
`data` is the REST `result`. A block answers in that envelope with the REST block's `retCode` and `retMsg`
(and per-leg lists for a batch), echoing `reqId` when the frame had one.

Private-stream topics: `order` (cumulative `cumExecQty`, idempotent with every other answer) and `position`
(absolute `size` and `side`, and `markPrice`: the mark price the price collar measures from), and `wallet`
(`totalEquity`, for the daily-loss rule). `execution` is not needed: every fill it reports shows in `order` too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from riskwall.model import (
    Action,
    Decision,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    ResponseFacts,
    Venue,
    fingerprint,
)
from riskwall.venues import bybit
from riskwall.venues.base import UNREADABLE, FieldError, HttpRequest, decimal_field, response_json, venue_time_ms
from riskwall.venues.frames import (
    ClientFrame,
    FrameKind,
    Session,
    VenueFrame,
    control,
    frame_text,
    held_by_session,
    id_key,
    json_text,
    read_json,
    renamed,
    unreadable,
    unreadable_json,
)

VENUE = Venue.BYBIT
# op → the REST endpoint it stands for
ORDER_OPS: dict[str, str] = {
    "order.create": "/v5/order/create",
    "order.amend": "/v5/order/amend",
    "order.cancel": "/v5/order/cancel",
    "order.create-batch": "/v5/order/create-batch",
    "order.amend-batch": "/v5/order/amend-batch",
    "order.cancel-batch": "/v5/order/cancel-batch",
}
CONTROL_OPS = frozenset({"ping", "pong", "subscribe", "unsubscribe"})
# `req_id` is how the streams (and ccxt's and pybit's ping and subscribe frames, on /v5/trade too) spell `reqId`:
# refusing it refused every keep-alive and subscription, and answered them without an id (which ccxt takes as an
# error for every call pending on the socket)
ENVELOPE = frozenset({"reqId", "req_id", "header", "op", "args"})
HOST = "api.bybit.com"


# retCodes ccxt's Bybit WebSocket handler treats as an authentication failure (PermissionDenied and
# AuthenticationError in its table): answered to an order they hang the call and unset the socket's login
AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10027, 10029})
WS_PERMISSION_CODE = 110032  # "Illegal order": ccxt InvalidOrder, pybit's error callback


class BybitFrames:
    venue: Venue = VENUE
    # pybit (5.17) sends an order before it registers the callback for its answer, so an answer that comes back
    # within microseconds is dropped and the bot never hears of the block; a venue is never that fast
    reply_delay_s = 0.02
    answers_every_id = False  # order ops are answered under their reqId, a login by its op

    # ---- client frames -----------------------------------------------------------------------------------

    def read_client(self, text: str, session: Session) -> ClientFrame:
        try:
            data = read_json(text)
        except FieldError as exc:
            return unreadable_json(VENUE, text, str(exc), "reqId", "op")
        if not isinstance(data, dict) or not isinstance(data.get("op"), str):
            # an object's reqId is kept even so: the reply must reach the call that sent it
            return unreadable(VENUE, "?", "the frame is not a request {reqId, header, op, args}",
                              data.get("reqId") if isinstance(data, dict) else None)
        request_id, op = data["reqId"] if "reqId" in data else data.get("req_id"), str(data["op"])[:64]
        args = data.get("args", [])
        if set(data) - ENVELOPE or not isinstance(args, list):
            return unreadable(VENUE, op, "the frame holds more than reqId, header, op and args", request_id)
        if op == "auth":
            if not args or not isinstance(args[0], str) or not args[0]:
                return unreadable(VENUE, op, "auth without an API key", request_id)
            frame = control(VENUE, op, session.acting_account, request_id)
            return ClientFrame(FrameKind.LOGIN, op, frame.request, request_id, login_account=fingerprint(args[0]))
        if op in CONTROL_OPS:
            return control(VENUE, op, session.acting_account, request_id)
        path = ORDER_OPS.get(op)
        if path is None:
            unknown = ParsedRequest(VENUE, Action.UNKNOWN, f"WS {op}", session.acting_account)
            return ClientFrame(FrameKind.ORDER, op, unknown, request_id)
        # the trade socket echoes `reqId` alone (`read_venue` pairs by it): an order sent under `req_id` would be
        # answered under no id the sidecar could pair, so it counts as having none (an order that could add
        # risk is then refused as unpaired)
        request_id = data.get("reqId")
        if len(args) != 1 or not isinstance(args[0], dict):
            return unreadable(VENUE, op, "args must hold exactly one request object", request_id)
        rest = HttpRequest("POST", HOST, 443, path, (), {"content-type": "application/json"}, json_text(args[0]))
        parsed = held_by_session(bybit.ADAPTER.parse_request(rest), session.acting_account)
        return ClientFrame(FrameKind.ORDER, op, renamed(parsed, f"WS {op}"), request_id, rest)

    # ---- venue frames ------------------------------------------------------------------------------------

    def read_venue(self, text: str, session: Session) -> VenueFrame:
        data = response_json(text.encode())
        if not isinstance(data, dict) or data is UNREADABLE:
            return VenueFrame()
        op = data.get("op")
        if op == "auth" and session.pending_login is not None:
            # /v5/trade answers `retCode` 0; /v5/private answers `success: true` and no retCode at all (requiring
            # retCode 0 there refused every private login, so no push was ever learned): whichever is there must
            # say yes, and one of them must be there
            code, success = data.get("retCode", 0), data.get("success", True)
            said = "retCode" in data or "success" in data
            return VenueFrame(login_ok=said and code in (0, "0") and success is True)
        if isinstance(op, str) and op in ORDER_OPS:
            key = id_key(data.get("reqId"))
            if key is None or key not in session.pending:
                return VenueFrame()
            body = {"retCode": data.get("retCode"), "retMsg": data.get("retMsg"), "result": data.get("data") or {},
                    "retExtInfo": data.get("retExtInfo") or {}}
            return VenueFrame(answers=key, status=200, rest_body=json.dumps(body, default=str).encode())
        topic = data.get("topic")
        if isinstance(topic, str) and session.account is not None and isinstance(data.get("data"), list):
            return VenueFrame(facts=self.stream_facts(topic, data["data"], session.account))
        return VenueFrame()

    def stream_facts(self, topic: str, items: list[Any], account: str) -> ResponseFacts:
        name = topic.split(".", 1)[0]
        if name == "order":
            updates = [_listed_order(item, account) for item in items
                       if isinstance(item, dict) and _checked(item.get("category"))]
            return ResponseFacts(orders=tuple(u for u in updates if u is not None))
        if name == "position":
            reports, prices = [], []
            for item in items:
                report = _position(item, account)
                if report is None:
                    continue  # a push not understood teaches nothing, its mark price included
                reports.append(report)
                # each push carries the position's mark price: the reference the price collar measures from
                mark = _mark_price(item)
                if mark is not None:
                    prices.append(mark)
            return ResponseFacts(prices=tuple(prices), positions=tuple(reports))
        if name == "wallet":
            # the account's `totalEquity`, as wallet-balance answers it: for the daily-loss rule
            return ResponseFacts(equity=bybit.wallet_equity(items, account))
        return ResponseFacts()

    # ---- rejections --------------------------------------------------------------------------------------

    def rejection(self, decision: Decision, frame: ClientFrame | None) -> str:
        body = orjson.loads(bybit.ADAPTER.rejection(decision, frame.request if frame else None).body)
        if body.get("retCode") in AUTH_CODES:
            # ccxt takes these codes on a socket for a failed auth: it forgets the login and never resolves the
            # order's call; an order error ends the call (InvalidOrder) with the same message
            body["retCode"] = WS_PERMISSION_CODE
        answer: dict[str, Any] = {}
        if frame is not None and frame.request_id is not None:
            answer["reqId"] = frame.request_id  # echoed only when sent, as Bybit does
        answer |= {"retCode": body.get("retCode"), "retMsg": body.get("retMsg"), "op": frame.op if frame else "",
                   "data": body.get("result") or {}, "retExtInfo": body.get("retExtInfo") or {}, "header": {},
                   "connId": ""}
        if frame is not None and frame.kind is FrameKind.LOGIN:
            answer["success"] = False  # what /v5/private's own auth answers say, besides retCode
        return frame_text(answer)


def _checked(category: Any) -> bool:
    # a category that is a list or an object is unhashable: `in` a frozenset would raise, not say no
    return isinstance(category, str) and category in bybit.CHECKED_CATEGORIES


def _listed_order(item: dict[str, Any], account: str) -> OrderUpdate | None:
    try:
        return bybit.listed_order(item, account, str(item["category"]))
    except ArithmeticError:  # an inverse size over a price of 1e-999999: teaches nothing, never fails the push
        return None


def _position(item: Any, account: str) -> PositionsReport | None:
    """A `position` push: the absolute size of one position slot (`side` "" or size 0 when flat)."""
    if not isinstance(item, dict) or not _checked(item.get("category")):
        return None
    try:
        symbol = str(item["symbol"]).upper()
        position_side = bybit.position_side_of(item.get("positionIdx"))
        size = decimal_field("size", item.get("size"), allow_zero=True) or Decimal(0)
        side = str(item.get("side") or "")
        if size and item["category"] == "inverse":
            size = bybit.to_base("inverse", size, _mark(item))
    except (KeyError, ValueError, TypeError, FieldError, ArithmeticError):  # Decimal overflow: see _listed_order
        return None
    if size and side not in bybit.SIDES:
        return None
    signed = -size if (side == "Sell" or position_side is PositionSide.SHORT) else size
    return PositionsReport(VENUE, account, symbol, ((symbol, position_side, signed),),
                           venue_ms=venue_time_ms(item.get("updatedTime")))


def _mark_price(item: dict[str, Any]) -> PriceUpdate | None:
    """The `markPrice` of a `position` push already read as a position, for its symbol, or None."""
    symbol = str(item["symbol"]).upper()
    mark = _mark(item)
    if mark is None or mark <= 0 or not bybit.SYMBOL.fullmatch(symbol):
        return None
    return PriceUpdate(VENUE, symbol, mark, "mark")


def _mark(item: dict[str, Any]) -> Decimal | None:
    try:
        return decimal_field("markPrice", item.get("markPrice"), required=False)
    except FieldError:
        return None


BYBIT_FRAMES = BybitFrames()
