"""OKX v5's private and business WebSockets (`/ws/v5/private`, `/ws/v5/business`), read as the REST API.

Client frames are `{"id", "op", "args"}` (and the bare text `ping`). Frames carry no signature: the account is
the key of the connection's `login` op, once OKX accepted it (`event: login`, `code` "0"). An order op is the
REST request with `args` as its body (`order` = `POST /api/v5/trade/order` with `args[0]`, `batch-orders` =
`POST /api/v5/trade/batch-orders` with the list), read by the REST adapter. Order ops name instruments by the
integer `instIdCode` (ccxt sends nothing else): it is resolved through the codes learned from
`GET /api/v5/public/instruments`, and an unknown code, or one that names another instrument than an `instId`
beside it, is refused. Answers are `{"id", "op", "code", "msg", "data"}`, `data` as REST's.

A block answers `{"id", "op", "code": "1", "msg": "", "data": [{"sCode", "sMsg", ...} per leg]}`: ccxt reads the
per-leg `sCode` only while the top-level `msg` is empty, so the REST block's code decides the exception class.

Private channels: `orders` (cumulative `accFillSz`, idempotent with every other answer), `positions` (absolute
`pos`, and `markPx`: the mark price the price collar measures from) and `account` (`totalEq`, for the daily-loss
rule).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from riskwall.instruments import CATALOG
from riskwall.model import (
    Action,
    Decision,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    ResponseFacts,
    Venue,
    fingerprint,
)
from riskwall.venues import okx
from riskwall.venues.base import UNREADABLE, FieldError, HttpRequest, response_json, venue_time_ms
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

VENUE = Venue.OKX
# op → (REST endpoint, whether the body is the args list itself rather than its one element)
ORDER_OPS: dict[str, tuple[str, bool]] = {
    "order": ("/api/v5/trade/order", False),
    "batch-orders": ("/api/v5/trade/batch-orders", True),
    "amend-order": ("/api/v5/trade/amend-order", False),
    "batch-amend-orders": ("/api/v5/trade/amend-batch-orders", True),
    "cancel-order": ("/api/v5/trade/cancel-order", False),
    "batch-cancel-orders": ("/api/v5/trade/cancel-batch-orders", True),
    "mass-cancel": ("/api/v5/trade/mass-cancel", False),
}
CONTROL_OPS = frozenset({"subscribe", "unsubscribe"})
CANCEL_OPS = frozenset({"cancel-order", "batch-cancel-orders"})
ENVELOPE = frozenset({"id", "op", "args", "expTime"})
HOST = "www.okx.com"
MAX_CODE = 10**18


class OkxFrames:
    venue: Venue = VENUE
    reply_delay_s = 0.0
    answers_every_id = False  # order ops are answered under their id, a login by a `login` or `error` event

    # ---- client frames -----------------------------------------------------------------------------------

    def read_client(self, text: str, session: Session) -> ClientFrame:
        if text in ("ping", "pong"):
            return control(VENUE, text, session.acting_account)
        try:
            data = read_json(text)
        except FieldError as exc:
            return unreadable_json(VENUE, text, str(exc), "id", "op")
        if not isinstance(data, dict) or not isinstance(data.get("op"), str):
            # an object's id is kept even so: the reply must reach the call that sent it
            return unreadable(VENUE, "?", "the frame is not a request {id, op, args}",
                              data.get("id") if isinstance(data, dict) else None)
        request_id, op = data.get("id"), str(data["op"])[:64]
        args = data.get("args", [])
        if set(data) - ENVELOPE or not isinstance(args, list):
            return unreadable(VENUE, op, "the frame holds more than id, op, args and expTime", request_id)
        if op == "login":
            key = args[0].get("apiKey") if len(args) == 1 and isinstance(args[0], dict) else None
            if not isinstance(key, str) or not key:
                return unreadable(VENUE, op, "a login holds one object with an API key", request_id)
            if sum(name.lower() == "apikey" for name in args[0]) != 1:
                # `apikey` beside `apiKey`: a server matching names case-insensitively may log on the other key
                return unreadable(VENUE, op, "the API key is named twice, in other letter case", request_id)
            frame = control(VENUE, op, session.acting_account, request_id)
            return ClientFrame(FrameKind.LOGIN, op, frame.request, request_id, login_account=fingerprint(key))
        if op in CONTROL_OPS:
            return control(VENUE, op, session.acting_account, request_id)
        spec = ORDER_OPS.get(op)
        if spec is None:
            unknown = ParsedRequest(VENUE, Action.UNKNOWN, f"WS {op}", session.acting_account)
            return ClientFrame(FrameKind.ORDER, op, unknown, request_id)
        path, whole = spec
        if not args or not all(isinstance(a, dict) for a in args) or (not whole and len(args) != 1):
            return unreadable(VENUE, op, "args must hold the request objects", request_id)
        try:
            legs = [_by_instrument_id(arg, cancelling=op in CANCEL_OPS) for arg in args]
        except FieldError as exc:
            return unreadable(VENUE, op, str(exc), request_id, session.acting_account)
        body = json_text(legs if whole else legs[0])
        rest = HttpRequest("POST", HOST, 443, path, (), {"content-type": "application/json"}, body)
        parsed = held_by_session(okx.ADAPTER.parse_request(rest), session.acting_account)
        echoed = tuple({"clOrdId": str(a.get("clOrdId") or ""), "tag": str(a.get("tag") or "")} for a in args)
        return ClientFrame(FrameKind.ORDER, op, renamed(parsed, f"WS {op}"), request_id, rest, legs=echoed)

    # ---- venue frames ------------------------------------------------------------------------------------

    def read_venue(self, text: str, session: Session) -> VenueFrame:
        if text == "pong":
            return VenueFrame()
        data = response_json(text.encode())
        if not isinstance(data, dict) or data is UNREADABLE:
            return VenueFrame()
        event = data.get("event")
        if event in ("login", "error") and session.pending_login is not None:
            # an error event names no request: it may be the login's failure or a subscription's, after which
            # the login may still be taken, so it leaves the connection's key unknown
            return VenueFrame(login_ok=event == "login" and str(data.get("code")) == "0",
                              login_unclear=event == "error")
        op = data.get("op")
        if isinstance(op, str) and op in ORDER_OPS:
            key = id_key(data.get("id"))
            if key is None or key not in session.pending:
                return VenueFrame()
            body = {"code": data.get("code"), "msg": data.get("msg"), "data": data.get("data") or []}
            return VenueFrame(answers=key, status=200, rest_body=json.dumps(body, default=str).encode())
        arg = data.get("arg")
        items = data.get("data")
        if isinstance(arg, dict) and isinstance(items, list) and session.account is not None:
            if arg.get("channel") == "account" and arg.get("ccy"):
                return VenueFrame()  # subscribed for some currencies: their figures, not the account's
            return VenueFrame(facts=self.stream_facts(str(arg.get("channel")), items, session.account,
                                                      session.positions_by_mode))
        return VenueFrame()

    def stream_facts(self, channel: str, items: list[Any], account: str,
                     by_mode: dict[tuple[str, str, PositionSide, str], Decimal] | None = None) -> ResponseFacts:
        """What a private channel's push teaches. A position is kept per instrument and side, while OKX keeps a
        cross and an isolated position apart and pushes one row per margin mode, often one alone: each row updates
        what this connection knows of its margin mode (`by_mode`, the session's), and the position reported is
        the sum over the margin modes it knows (the subscription's first push lists them all)."""
        if channel == "orders":
            updates = (_order_update(item, account) for item in items
                       if isinstance(item, dict) and str(item.get("instType", "")).upper() in ("SWAP", "FUTURES"))
            return ResponseFacts(orders=tuple(u for u in updates if u is not None))
        if channel == "positions":
            modes = {} if by_mode is None else by_mode
            # each position the push names, and the oldest venue time (`uTime`) of what it says of it
            touched: dict[tuple[str, PositionSide], int | None] = {}
            prices = []
            for item in items:
                if not isinstance(item, dict) or str(item.get("instType", "")).upper() not in ("SWAP", "FUTURES"):
                    continue
                try:
                    row = okx.position_quantity(item)
                except UNDERSTOOD_NOTHING:
                    row = None
                if row is None:
                    continue  # a push not understood teaches nothing, its mark price included
                inst_id, side, quantity = row
                modes[(account, inst_id, side, str(item.get("mgnMode") or "cross"))] = quantity
                made = venue_time_ms(item.get("uTime"))
                earlier = touched.get((inst_id, side), made)
                touched[(inst_id, side)] = None if made is None or earlier is None else min(made, earlier)
                # each push carries the position's mark price: the reference the price collar measures from
                mark = okx.mark_price(item)
                if mark is not None:
                    prices.append(mark)
            reports = tuple(
                PositionsReport(VENUE, account, inst_id, ((inst_id, side, sum(
                    (quantity for (a, i, s, _), quantity in modes.items() if (a, i, s) == (account, inst_id, side)),
                    Decimal(0))),), venue_ms=made_ms)
                for (inst_id, side), made_ms in touched.items())
            return ResponseFacts(prices=tuple(prices), positions=reports)
        if channel == "account":
            # the account's `totalEq`, as account balance answers it: for the daily-loss rule
            return ResponseFacts(equity=okx.balance_equity(items, account))
        return ResponseFacts()

    # ---- rejections --------------------------------------------------------------------------------------

    def rejection(self, decision: Decision, frame: ClientFrame | None) -> str:
        body = orjson.loads(okx.ADAPTER.rejection(decision, frame.request if frame else None).body)
        entries = body.get("data") or []
        first = entries[0] if entries and isinstance(entries[0], dict) else {}
        code = str(first.get("sCode") or body.get("code"))
        message = str(first.get("sMsg") or body.get("msg"))
        if frame is not None and frame.kind is FrameKind.LOGIN:
            # a login is answered by an event, as OKX answers a login it refuses
            return frame_text({"event": "error", "code": code, "msg": message, "connId": ""})
        legs = frame.legs if frame is not None and frame.legs else ({"clOrdId": "", "tag": ""},)
        answer: dict[str, Any] = {}
        if frame is not None and frame.request_id is not None:
            answer["id"] = frame.request_id
        # the top-level msg stays empty: ccxt reads the legs' sCode only then
        answer |= {"op": frame.op if frame else "", "code": "1", "msg": "",
                   "data": [{"ordId": "", **leg, "sCode": code, "sMsg": message} for leg in legs],
                   "inTime": "", "outTime": ""}
        return frame_text(answer)


# what an item that does not add up raises: a push with a price of 1e-999999 overflows a Decimal division
# (ArithmeticError) and must teach nothing rather than fail the venue's message
UNDERSTOOD_NOTHING = (FieldError, KeyError, ValueError, TypeError, ArithmeticError)


def _order_update(item: dict[str, Any], account: str) -> OrderUpdate | None:
    """A row of the `orders` channel: a regular order, whatever algo order placed it (its `algoId`)."""
    try:
        return okx.order_update(item, account, is_algo=False)
    except UNDERSTOOD_NOTHING:
        return None


def _by_instrument_id(arg: dict[str, Any], *, cancelling: bool = False) -> dict[str, Any]:
    """An order object naming its instrument by `instIdCode` as the REST API reads it, by `instId`. A cancel
    passes whatever instrument it names (it adds no risk; after a restart the codes may not be known yet)."""
    code = arg.get("instIdCode")
    if cancelling:
        return {k: v for k, v in arg.items() if k != "instIdCode"}
    if code is None or code == "":
        return arg
    # bounded before int(): `1e999999` is an integral Decimal whose int() takes minutes and whose text is too long
    # to print (a ValueError, not a FieldError); OKX's codes are small integers (learned with at most 18 digits)
    if isinstance(code, bool) or not isinstance(code, int | Decimal) or not (
        code == code.to_integral_value() if isinstance(code, Decimal) else True
    ) or not -MAX_CODE < code < MAX_CODE:
        raise FieldError("instIdCode is not an integer")
    known = CATALOG.by_code(VENUE, int(code))
    if known is None:
        raise FieldError(f"instIdCode {int(code)} is unknown; fetch /api/v5/public/instruments through the firewall")
    named = arg.get("instId")
    if named not in (None, "") and str(named).upper() != known.native:
        raise FieldError("instIdCode and instId name different instruments")
    resolved = {k: v for k, v in arg.items() if k != "instIdCode"}
    resolved["instId"] = known.native
    return resolved


OKX_FRAMES = OkxFrames()
