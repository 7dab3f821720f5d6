"""Binance's WebSocket API (`/ws-fapi/v1`, COIN-M `/ws-dapi/v1`) and user-data streams, read as the REST API.

Client frames are `{"id", "method", "params"}`. An order method is the REST request with the same parameters
(`order.place` = `POST /fapi/v1/order`), read by the REST adapter; the account is the frame's own `apiKey` (a
signed request), else the key of the connection's `session.logon` once Binance accepted it. Answers are
`{"id", "status", "result" | "error"}`: an order's `result` is the REST order object. A block answers
`{"id", "status": 400 (429 for the rate), "error": {"code", "msg"}}` with the REST block's code and message, so
ccxt and the SDK raise the same exception as over REST.

User-data events (`ORDER_TRADE_UPDATE`, `ACCOUNT_UPDATE`), on a listen-key stream or pushed on the WebSocket
API, become order progress (cumulative fills, idempotent with every other answer) and absolute positions. The
answer to a position read (`account.position`, `v2/account.position`) teaches its rows' mark prices (user-data
events carry none; the public `markPrice` streams pass unread).
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson

from riskwall.model import (
    Action,
    Decision,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    ResponseFacts,
    Venue,
    closes_hedge_position,
    fingerprint,
)
from riskwall.venues import binance_coinm as coinm
from riskwall.venues import binance_usdm as usdm
from riskwall.venues.base import (
    UNREADABLE,
    FieldError,
    HttpRequest,
    Socket,
    VenueAdapter,
    check_spelling,
    decimal_field,
    lowest_own_price,
    normalize_path,
    response_json,
    venue_time_ms,
)
from riskwall.venues.frames import (
    ClientFrame,
    FrameKind,
    Session,
    VenueFrame,
    control,
    frame_text,
    held_by_session,
    id_key,
    plain_text,
    read_json,
    renamed,
    unreadable,
    unreadable_json,
)

# WebSocket method → the REST request it stands for (method, path under the venue's prefix)
ORDER_METHODS: dict[str, tuple[str, str]] = {
    "order.place": ("POST", "order"),
    "order.modify": ("PUT", "order"),
    "order.cancel": ("DELETE", "order"),
    "algoOrder.place": ("POST", "algoOrder"),
    "algoOrder.cancel": ("DELETE", "algoOrder"),
}
# methods that move nothing: market data, account and order reads, the session's own, listen keys, a test order
READ_METHODS = frozenset({
    "ping", "time", "exchangeInfo", "depth", "ticker", "ticker.price", "ticker.book", "klines",
    "order.status", "algoOrder.status", "openOrders.status", "openOrder.status", "allOrders", "userTrades",
    "account.status", "account.balance", "account.position", "session.status", "order.test",
    "userDataStream.start", "userDataStream.ping", "userDataStream.stop", "userDataStream.subscribe",
    "userDataStream.unsubscribe", "userDataStream.subscribe.signature",
})
# what a market or user-data stream takes from the client (`{"method": "SUBSCRIBE", "params": [...], "id"}`)
STREAM_METHODS = frozenset({"SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY"})
# reads that exist in later versions (`v2/account.position`): only reads may carry a version prefix
VERSIONED_READS = frozenset({"account.status", "account.balance", "account.position"})
ENVELOPE = frozenset({"id", "method", "params"})
FINAL_STATUSES = usdm.FINAL_STATUSES


class BinanceFrames:
    """The WebSocket API of one of Binance's futures venues (USDⓈ-M, or COIN-M with `prefix` /dapi/v1)."""

    reply_delay_s = 0.0
    answers_every_id = True  # every request is answered under its id: `{"id", "status", "result" | "error"}`

    def __init__(self, adapter: VenueAdapter, prefix: str, host: str) -> None:
        self.venue: Venue = adapter.venue
        self._adapter, self._prefix, self._host = adapter, prefix, host

    # ---- client frames -----------------------------------------------------------------------------------

    def read_client(self, text: str, session: Session) -> ClientFrame:
        try:
            data = read_json(text)
        except FieldError as exc:
            return unreadable_json(self.venue, text, str(exc), "id", "method")
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            # an object's id is kept even so: the reply must reach the call that sent it
            return unreadable(self.venue, "?", "the frame is not a request {id, method, params}",
                              data.get("id") if isinstance(data, dict) else None)
        request_id, method = data.get("id"), str(data["method"])
        if session.socket is Socket.STREAM and method in STREAM_METHODS:
            return control(self.venue, method, session.account, request_id)  # a stream's own subscriptions
        extra = set(data) - ENVELOPE
        params = data.get("params", {})
        if extra or not isinstance(params, dict):
            return unreadable(self.venue, method[:64], "the frame holds more than id, method and params",
                              request_id)
        api_key = params.get("apiKey")
        if api_key is not None and not isinstance(api_key, str):
            return unreadable(self.venue, method[:64], "apiKey is not a string", request_id)
        if any(name.lower() == "apikey" and name != "apiKey" for name in params):
            # a server matching names case-insensitively would act for that key, not the one read here
            return unreadable(self.venue, method[:64], "apiKey is spelled in other letter case", request_id)
        account = fingerprint(api_key) if api_key else session.acting_account
        if method == "session.logon":
            if not api_key:
                return unreadable(self.venue, method, "session.logon without apiKey", request_id)
            frame = control(self.venue, method, account, request_id)
            return ClientFrame(FrameKind.LOGIN, method, frame.request, request_id,
                               login_account=fingerprint(api_key))
        if method == "session.logout":
            return ClientFrame(FrameKind.LOGOUT, method, control(self.venue, method, account).request, request_id)
        read = method.split("/", 1)[1] if method.startswith(("v1/", "v2/", "v3/")) else method
        if read in READ_METHODS and (read == method or read in VERSIONED_READS):
            return control(self.venue, method, account, request_id)
        rest = ORDER_METHODS.get(method)
        if rest is None:
            endpoint = f"WS {method[:64]}"
            return ClientFrame(FrameKind.ORDER, method[:64],
                               ParsedRequest(self.venue, Action.UNKNOWN, endpoint, account), request_id)
        try:
            request = self._rest_request(rest, params)
        except FieldError as exc:
            return unreadable(self.venue, method, str(exc), request_id, account)
        parsed = held_by_session(self._adapter.parse_request(request), account)
        return ClientFrame(FrameKind.ORDER, method, renamed(parsed, f"WS {method}"), request_id, request)

    def _rest_request(self, rest: tuple[str, str], params: dict[str, Any]) -> HttpRequest:
        """The REST request an order method stands for: its parameters as a query, credentials left out."""
        pairs: list[tuple[str, str]] = []
        for key, value in params.items():
            check_spelling(key, usdm.SPELLINGS)
            if key == "apiKey":
                continue
            if key == "batchOrders":
                raise FieldError("batchOrders is not a WebSocket API parameter")
            pairs.append((key, plain_text(value)))
        method, name = rest
        path = f"{self._prefix}/{name}"
        try:
            query = urlencode(pairs)
        except UnicodeEncodeError:  # a lone surrogate (`"\ud800"` is valid JSON) is no text a venue reads
            raise FieldError("a parameter is not valid text") from None
        return HttpRequest(method, self._host, 443, f"{path}?{query}", tuple(pairs), {}, b"")

    # ---- venue frames ------------------------------------------------------------------------------------

    def read_venue(self, text: str, session: Session) -> VenueFrame:
        data = response_json(text.encode())
        if not isinstance(data, dict) or data is UNREADABLE:
            return VenueFrame()
        if "id" in data and ("result" in data or "error" in data or "status" in data):
            key = id_key(data["id"])
            status = _status(data)
            result = data.get("result")
            # every answer names the id it answers (`replied`), whatever the frame was: no longer awaited
            if session.is_login_id(key):
                return VenueFrame(replied=key, login_ok=status == 200)
            if key in session.listen_requests:
                listen_key = result.get("listenKey") if isinstance(result, dict) and status == 200 else None
                return VenueFrame(replied=key, listen_key=listen_key if isinstance(listen_key, str) else None,
                                  listen_account=session.listen_requests.pop(key or ""))
            if key in session.pending:
                body = json.dumps(result if status == 200 else data.get("error"), default=str).encode()
                return VenueFrame(answers=key, replied=key, status=status, rest_body=body)
            # a read's answer (`account.position`, `v2/account.position`): its mark prices are the reference
            # the price collar measures from, as the REST positionRisk answer's are; an account read's equity
            # (`account.status`) is the daily-loss rule's reading, for the account the read acted for
            facts = self._mark_prices(result) if status == 200 else ResponseFacts()
            equity_account = session.equity_reads.pop(key, None) if key is not None else None
            if equity_account and status == 200 and isinstance(result, dict):
                equity = usdm.account_equity(result, equity_account)
                if equity is not None:
                    return VenueFrame(replied=key, facts=dataclasses.replace(facts, equity=(equity,)),
                                      facts_account=equity_account)
            return VenueFrame(replied=key, facts=facts)
        event = _event(data)
        owner = session.events_account
        if event is None or owner is None:
            return VenueFrame()
        return VenueFrame(facts=self.stream_facts(event, owner))

    def stream_facts(self, event: dict[str, Any], account: str) -> ResponseFacts:
        kind = event.get("e")
        try:
            # `T`: when the venue made the change the event reports (its transaction time, by the venue's clock)
            if kind == "ORDER_TRADE_UPDATE" and isinstance(event.get("o"), dict):
                update = self._order_event(event["o"], account, venue_time_ms(event.get("T")))
                return ResponseFacts(orders=(update,)) if update is not None else ResponseFacts()
            if kind == "ACCOUNT_UPDATE" and isinstance(event.get("a"), dict):
                return ResponseFacts(positions=self._positions_event(event["a"], account,
                                                                     venue_time_ms(event.get("T"))))
        except (FieldError, KeyError, ValueError, TypeError, ArithmeticError):
            return ResponseFacts()  # an event not understood teaches nothing; the next REST poll does
        return ResponseFacts()

    def _order_event(self, order: dict[str, Any], account: str, venue_ms: int | None) -> OrderUpdate | None:
        symbol = str(order["s"]).upper()
        side = usdm.SIDES[str(order["S"])]
        position_side = usdm.POSITION_SIDES.get(str(order.get("ps", "BOTH")), PositionSide.BOTH)
        original = decimal_field("q", order.get("q"), allow_zero=True) or Decimal(0)
        executed = decimal_field("z", order.get("z", "0"), allow_zero=True) or Decimal(0)
        if self.venue is Venue.BINANCECOINM:
            # an event answers no request: only its own prices convert it (fill, else `lowest_own_price`); an order
            # with none (an unfilled market order) and contracts to convert teaches nothing (`stream_facts`)
            price = _price(order.get("ap"))
            if price is None:
                price = coinm.trailed(side, lowest_own_price(side, _price(order.get("p")), _price(order.get("sp")),
                                                             _price(order.get("AP"))), _price(order.get("cr")))
            original = coinm.base_quantity(symbol, original, price, field="q")
            executed = coinm.base_quantity(symbol, executed, price, field="z")
        reduce_only = order.get("R") is True or order.get("cp") is True
        reduce_only = reduce_only or closes_hedge_position(side, position_side)
        return OrderUpdate(self.venue, account, symbol, str(order["i"]), side, position_side, original,
                           min(executed, original), str(order.get("X")) in FINAL_STATUSES, reduce_only,
                           venue_ms=venue_ms)

    def _positions_event(self, update: dict[str, Any], account: str,
                         venue_ms: int | None) -> tuple[PositionsReport, ...]:
        by_symbol: dict[str, list[tuple[str, PositionSide, Decimal]]] = {}
        for item in update.get("P") or []:
            if not isinstance(item, dict):
                continue
            symbol = str(item["s"]).upper()
            amount = Decimal(str(item["pa"]))
            if not amount.is_finite():
                continue
            if self.venue is Venue.BINANCECOINM:
                # at the position's entry price, its own; a flat position needs none (0 contracts is 0 coin)
                contracts = coinm.base_quantity(symbol, abs(amount), _price(item.get("ep")), field="pa")
                amount = contracts if amount >= 0 else -contracts
            side = usdm.POSITION_SIDES.get(str(item.get("ps", "BOTH")), PositionSide.BOTH)
            by_symbol.setdefault(symbol, []).append((symbol, side, amount))
        # only the positions that changed are listed: each is reported for its own symbol and side alone
        return tuple(PositionsReport(self.venue, account, symbol, tuple(rows), venue_ms=venue_ms)
                     for symbol, rows in by_symbol.items())

    def _mark_prices(self, result: Any) -> ResponseFacts:
        """The `markPrice` of every row of an answer that lists them per symbol (position reads), else nothing."""
        rows = result.get("positions") if isinstance(result, dict) else result
        if not isinstance(rows, list):
            return ResponseFacts()
        prices = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
                continue
            symbol, mark = row["symbol"].upper(), _price(row.get("markPrice"))
            if mark is not None and usdm.SYMBOL.fullmatch(symbol):
                prices.append(PriceUpdate(self.venue, symbol, mark, "mark"))
        return ResponseFacts(prices=tuple(prices))

    def issued_listen_key(self, request: HttpRequest, status: int, body: bytes) -> str | None:
        """The listen key a REST `POST`/`PUT .../listenKey` answer issued (for attributing its stream)."""
        if status != 200 or request.method not in ("POST", "PUT"):
            return None
        if normalize_path(request.path) not in (f"{self._prefix}/listenkey".lower(), "/fapi/v1/listenkey",
                                                "/dapi/v1/listenkey"):
            return None
        data = response_json(body)
        key = data.get("listenKey") if isinstance(data, dict) else None
        return key if isinstance(key, str) and key else None

    # ---- rejections --------------------------------------------------------------------------------------

    def rejection(self, decision: Decision, frame: ClientFrame | None) -> str:
        body = orjson.loads(self._adapter.rejection(decision, frame.request if frame else None).body)
        violation = decision.deciding
        status = 429 if violation is not None and violation.reason is Reason.ORDER_RATE_EXCEEDED else 400
        answer = {"id": frame.request_id if frame else None, "status": status,
                  "error": {"code": body.get("code"), "msg": body.get("msg")}}
        return frame_text(answer)


def _status(data: dict[str, Any]) -> int:
    status = data.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    return 200 if "result" in data and "error" not in data else 400


def _event(data: dict[str, Any]) -> dict[str, Any] | None:
    """A user-data event, bare, in a combined stream (`{"stream", "data"}`) or pushed on the WebSocket API
    (`{"subscriptionId", "event"}`)."""
    for wrapper in ("data", "event"):
        inner = data.get(wrapper)
        if isinstance(inner, dict) and "e" in inner:
            return inner
    return data if "e" in data else None


def _price(raw: object) -> Decimal | None:
    try:
        price = decimal_field("price", raw, required=False)
    except FieldError:
        return None
    return price if price else None


USDM_FRAMES = BinanceFrames(usdm.ADAPTER, "/fapi/v1", "fapi.binance.com")
COINM_FRAMES = BinanceFrames(coinm.ADAPTER, "/dapi/v1", "dapi.binance.com")
