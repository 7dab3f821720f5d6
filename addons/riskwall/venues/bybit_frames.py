"""Bybit v5's WebSocket trade socket (`/v5/trade`) and private stream (`/v5/private`), read as the REST API.

Client frames are `{"reqId", "header", "op", "args"}`. Frames carry no signature: the account is the key of the
connection's `auth` op, once Bybit accepted it (`retCode` 0). An order op is the REST request with `args[0]` as
its body (`order.create` = `POST /v5/order/create`, `order.create-batch` = `POST /v5/order/create-batch`), read by
the REST adapter. Answers are `{"reqId", "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"}`:
`data` is the REST `result`. A block answers in that envelope with the REST block's `retCode` and `retMsg`
(and per-leg lists for a batch), echoing `reqId` when the frame had one.

Private-stream topics: `order` (cumulative `cumExecQty`, idempotent with every other answer) and `position`
(absolute `size` and `side`). `execution` is not needed: every fill it reports shows in `order` too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from riskwall.model import (
    Action,
    Decision,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    ResponseFacts,
    Venue,
    fingerprint,
)
from riskwall.venues import bybit
from riskwall.venues.base import UNREADABLE, FieldError, HttpRequest, decimal_field, response_json
from riskwall.venues.frames import (
    ClientFrame,
    FrameKind,
    Session,
    VenueFrame,
    control,
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
ENVELOPE = frozenset({"reqId", "header", "op", "args"})
HOST = "api.bybit.com"


class BybitFrames:
    venue: Venue = VENUE

    # ---- client frames -----------------------------------------------------------------------------------

    def read_client(self, text: str, session: Session) -> ClientFrame:
        try:
            data = read_json(text)
        except FieldError as exc:
            return unreadable_json(VENUE, text, str(exc), "reqId", "op")
        if not isinstance(data, dict) or not isinstance(data.get("op"), str):
            return unreadable(VENUE, "?", "the frame is not a request {reqId, header, op, args}")
        request_id, op = data.get("reqId"), str(data["op"])[:64]
        args = data.get("args", [])
        if set(data) - ENVELOPE or not isinstance(args, list):
            return unreadable(VENUE, op, "the frame holds more than reqId, header, op and args", request_id)
        if op == "auth":
            if not args or not isinstance(args[0], str) or not args[0]:
                return unreadable(VENUE, op, "auth without an API key", request_id)
            frame = control(VENUE, op, session.account, request_id)
            return ClientFrame(FrameKind.LOGIN, op, frame.request, request_id, login_account=fingerprint(args[0]))
        if op in CONTROL_OPS:
            return control(VENUE, op, session.account, request_id)
        path = ORDER_OPS.get(op)
        if path is None:
            return ClientFrame(FrameKind.ORDER, op, ParsedRequest(VENUE, Action.UNKNOWN, f"WS {op}", session.account),
                               request_id)
        if len(args) != 1 or not isinstance(args[0], dict):
            return unreadable(VENUE, op, "args must hold exactly one request object", request_id)
        rest = HttpRequest("POST", HOST, 443, path, (), {"content-type": "application/json"}, json_text(args[0]))
        parsed = held_by_session(bybit.ADAPTER.parse_request(rest), session.account)
        return ClientFrame(FrameKind.ORDER, op, renamed(parsed, f"WS {op}"), request_id, rest)

    # ---- venue frames ------------------------------------------------------------------------------------

    def read_venue(self, text: str, session: Session) -> VenueFrame:
        data = response_json(text.encode())
        if not isinstance(data, dict) or data is UNREADABLE:
            return VenueFrame()
        op = data.get("op")
        if op == "auth" and session.pending_login is not None:
            return VenueFrame(login_ok=data.get("retCode") in (0, "0") and data.get("success", True) is not False)
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
            updates = [bybit.listed_order(item, account, str(item.get("category", "")))
                       for item in items if isinstance(item, dict)
                       and item.get("category") in bybit.CHECKED_CATEGORIES]
            return ResponseFacts(orders=tuple(u for u in updates if u is not None))
        if name == "position":
            return ResponseFacts(positions=tuple(r for r in (_position(i, account) for i in items) if r is not None))
        return ResponseFacts()

    # ---- rejections --------------------------------------------------------------------------------------

    def rejection(self, decision: Decision, frame: ClientFrame | None) -> str:
        body = orjson.loads(bybit.ADAPTER.rejection(decision).body)
        answer: dict[str, Any] = {}
        if frame is not None and frame.request_id is not None:
            answer["reqId"] = frame.request_id  # echoed only when sent, as Bybit does
        answer |= {"retCode": body.get("retCode"), "retMsg": body.get("retMsg"), "op": frame.op if frame else "",
                   "data": body.get("result") or {}, "retExtInfo": body.get("retExtInfo") or {}, "header": {},
                   "connId": ""}
        return orjson.dumps(answer).decode()


def _position(item: Any, account: str) -> PositionsReport | None:
    """A `position` push: the absolute size of one position slot (`side` "" or size 0 when flat)."""
    if not isinstance(item, dict) or item.get("category") not in bybit.CHECKED_CATEGORIES:
        return None
    try:
        symbol = str(item["symbol"]).upper()
        position_side = bybit.POSITION_IDX[int(item.get("positionIdx", 0))]
        size = decimal_field("size", item.get("size"), allow_zero=True) or Decimal(0)
        side = str(item.get("side") or "")
        if size and item["category"] == "inverse":
            size = bybit.to_base("inverse", symbol, size, _mark(item))
    except (KeyError, ValueError, TypeError, FieldError):
        return None
    if size and side not in bybit.SIDES:
        return None
    signed = -size if (side == "Sell" or position_side is PositionSide.SHORT) else size
    return PositionsReport(VENUE, account, symbol, ((symbol, position_side, signed),))


def _mark(item: dict[str, Any]) -> Decimal | None:
    try:
        return decimal_field("markPrice", item.get("markPrice"), required=False)
    except FieldError:
        return None


BYBIT_FRAMES = BybitFrames()
