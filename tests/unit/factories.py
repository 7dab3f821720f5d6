"""Test factories with overridable defaults, and a fake clock.

    make_intent(symbol="ETHUSDT", quantity="2")          # amounts may be given as str/int; they become Decimal
    make_request(make_intent(), make_intent(side=Side.SELL))
    make_policy('''
        rules:
          - {id: qty, type: max_order_qty, default: 1}
    ''')
    make_view(positions={"BTCUSDT": "1.5"}, prices={"BTCUSDT": "60000"})

Everything here is pure; async tests are run by pytest-asyncio (`asyncio_mode = "auto"` in pyproject.toml).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import textwrap
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from riskwall.model import (
    Action,
    OpenOrdersSnapshot,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    ResponseFacts,
    Side,
    TradingState,
    Venue,
)
from riskwall.policy.loader import Policy, load_policy
from riskwall.state.base import (
    ExposureCheck,
    PendingEntry,
    PositionKey,
    RateCheck,
    ReductionCheck,
    Reservation,
    StateScope,
    StateView,
    TradingStateRecord,
)
from riskwall.venues import FRAMES
from riskwall.venues.base import HttpRequest, Socket
from riskwall.venues.frames import PendingFrame, Session, VenueFrame, id_key

VENUE = Venue.BINANCEUSDM
ACCOUNT = "0123456789ab"
OTHER_ACCOUNT = "ba9876543210"
SYMBOL = "BTCUSDT"

ENDPOINTS: dict[Action, str] = {
    Action.NEW: "POST /fapi/v1/order",
    Action.AMEND: "PUT /fapi/v1/order",
    Action.CANCEL: "DELETE /fapi/v1/order",
    Action.CANCEL_ALL: "DELETE /fapi/v1/allOpenOrders",
    Action.SET_LEVERAGE: "POST /fapi/v1/leverage",
    Action.SET_MARGIN_MODE: "POST /fapi/v1/marginType",
    Action.SET_POSITION_MODE: "POST /fapi/v1/positionSide/dual",
    Action.READ: "GET /fapi/v2/positionRisk",
    Action.FORBIDDEN: "POST /sapi/v1/capital/withdraw/apply",
    Action.UNKNOWN: "POST /fapi/v1/somethingNew",
}

_DECIMAL_FIELDS = ("quantity", "price", "trigger_price", "leverage")

type Amount = Decimal | str | int


def dec(value: Amount) -> Decimal:
    """Decimal from the text of a number; floats are refused so no test smuggles binary rounding in."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError("use a str or int for amounts, not a float")
    return Decimal(str(value))


def opt_dec(value: Amount | None) -> Decimal | None:
    return None if value is None else dec(value)


# --- requests ----------------------------------------------------------------------------------------------


def make_intent(**overrides: Any) -> OrderIntent:
    """A market BUY of 0.1 BTCUSDT on the default account, one-way mode. Override any field."""
    action = overrides.get("action", Action.NEW)
    fields: dict[str, Any] = {
        "venue": VENUE,
        "action": action,
        "endpoint": ENDPOINTS[action],
        "account": ACCOUNT,
        "symbol": SYMBOL,
        "side": Side.BUY,
        "quantity": Decimal("0.1"),
        "order_type": "MARKET",
    }
    if action in (Action.CANCEL, Action.CANCEL_ALL, Action.SET_LEVERAGE, Action.SET_MARGIN_MODE,
                  Action.SET_POSITION_MODE, Action.READ, Action.FORBIDDEN, Action.UNKNOWN):
        fields.update(side=None, quantity=None, order_type=None)
    fields.update(overrides)
    for name in _DECIMAL_FIELDS:
        fields[name] = opt_dec(fields.get(name))
    return OrderIntent(**fields)


def make_limit(price: Amount, **overrides: Any) -> OrderIntent:
    return make_intent(order_type="LIMIT", price=price, time_in_force="GTC", **overrides)


def make_leverage(leverage: Amount, symbol: str = SYMBOL, **overrides: Any) -> OrderIntent:
    return make_intent(action=Action.SET_LEVERAGE, symbol=symbol, leverage=leverage, **overrides)


def make_cancel(symbol: str = SYMBOL, **overrides: Any) -> OrderIntent:
    return make_intent(action=Action.CANCEL, symbol=symbol, order_id=overrides.pop("order_id", "1001"), **overrides)


def make_request(*intents: OrderIntent, **overrides: Any) -> ParsedRequest:
    """A request carrying `intents` (a default market BUY when none is given). Action, venue, endpoint and
    account follow the first intent unless overridden."""
    if not intents:
        intents = (make_intent(action=overrides["action"]) if "action" in overrides else make_intent(),)
    first = intents[0]
    fields: dict[str, Any] = {
        "venue": first.venue,
        "action": first.action,
        "endpoint": first.endpoint,
        "account": first.account,
        "intents": tuple(intents),
        "error": None,
    }
    fields.update(overrides)
    return ParsedRequest(**fields)


def make_bare_request(action: Action, **overrides: Any) -> ParsedRequest:
    """A request without intents (a withdrawal, an endpoint no adapter knows)."""
    fields: dict[str, Any] = {"venue": VENUE, "action": action, "endpoint": ENDPOINTS[action], "account": ACCOUNT}
    fields.update(overrides)
    return ParsedRequest(**fields)


# --- policy ------------------------------------------------------------------------------------------------


def make_policy(yaml_text: str, name: str = "policy.yaml") -> Policy:
    """Load a policy from YAML text (dedented) through a temporary file, exactly as a file on disk is read."""
    with tempfile.TemporaryDirectory(prefix="riskwall-policy-") as folder:
        path = Path(folder) / name
        path.write_text(textwrap.dedent(yaml_text).lstrip("\n"), encoding="utf-8")
        return load_policy(path)


def make_rules(*rules_yaml: str, mode: str | None = None) -> Policy:
    """A policy from flow-style rule lines: make_rules("{id: qty, type: max_order_qty, default: 1}")."""
    head = f"mode: {mode}\n" if mode else ""
    body = "".join(f"  - {r}\n" for r in rules_yaml) if rules_yaml else "  []\n"
    return make_policy(f"{head}accounts:\n  main:\n    fingerprints: ['{ACCOUNT}']\nrules:\n{body}")


# --- state -------------------------------------------------------------------------------------------------


def position_key(
    symbol: str = SYMBOL,
    position_side: PositionSide = PositionSide.BOTH,
    account: str = ACCOUNT,
    venue: Venue = VENUE,
) -> PositionKey:
    return PositionKey(venue, account, symbol, position_side)


def make_view(
    positions: Mapping[Any, Amount] | None = None,  # symbol | (symbol, PositionSide) | PositionKey
    prices: Mapping[str, Amount] | None = None,
    states: tuple[TradingStateRecord, ...] = (),
) -> StateView:
    """A state snapshot: positions keyed by symbol (one-way), (symbol, position side) or a full PositionKey."""
    keyed: dict[PositionKey, Decimal] = {}
    for key, qty in (positions or {}).items():
        if isinstance(key, PositionKey):
            full = key
        elif isinstance(key, tuple):
            full = position_key(key[0], key[1])
        else:
            full = position_key(key)
        keyed[full] = dec(qty)
    priced = {(VENUE, symbol): dec(price) for symbol, price in (prices or {}).items()}
    return StateView(states, keyed, priced)


GLOBAL = StateScope()


def make_state_record(
    scope: StateScope = GLOBAL,
    state: TradingState = TradingState.HALTED,
    reason: str = "ops: exchange incident",
    actor: str = "oncall",
    at_ms: int = 0,
) -> TradingStateRecord:
    return TradingStateRecord(scope, state, reason, actor, at_ms)


def rate_check(
    limit: int = 3,
    window_ms: int = 1000,
    cost: int = 1,
    key: str = f"{VENUE}|{ACCOUNT}",
    rule_id: str = "rate",
    enforced: bool = True,
) -> RateCheck:
    return RateCheck(rule_id, key, limit, window_ms, cost, enforced)


def exposure_check(
    quantity: Amount = "1",
    limit: Amount = "10",
    side: Side = Side.BUY,
    position: PositionKey | None = None,
    rule_id: str = "position",
    enforced: bool = True,
    replaces_order: str | None = None,
) -> ExposureCheck:
    return ExposureCheck(
        rule_id, position or position_key(), side, dec(quantity), dec(limit), enforced, replaces_order
    )


def pending_entry(
    leg_id: str = "d1:0",
    quantity: Amount = "1",
    side: Side = Side.BUY,
    position: PositionKey | None = None,
    replaces_order: str | None = None,
    reducing: bool = False,
) -> PendingEntry:
    return PendingEntry(leg_id, position or position_key(), side, dec(quantity), replaces_order, reducing)


def reduction_check(
    quantity: Amount = "1",
    side: Side = Side.SELL,
    position: PositionKey | None = None,
    replaces_order: str | None = None,
    rule_id: str = "riskwall.reduction",
) -> ReductionCheck:
    return ReductionCheck(rule_id, position or position_key(), side, dec(quantity), replaces_order)


def make_reservation(
    reservation_id: str = "d1",
    rate: tuple[RateCheck, ...] = (),
    exposure: tuple[ExposureCheck, ...] = (),
    pending: tuple[PendingEntry, ...] = (),
    reductions: tuple[ReductionCheck, ...] = (),
) -> Reservation:
    return Reservation(reservation_id, rate, exposure, pending, reductions)


def order_update(
    order_id: str = "o1",
    original: Amount = "1",
    executed: Amount = "0",
    final: bool = False,
    side: Side = Side.BUY,
    symbol: str = SYMBOL,
    position_side: PositionSide = PositionSide.BOTH,
    reservation_id: str | None = None,
    reduce_only: bool = False,
    account: str = ACCOUNT,
    venue_ms: int | None = None,
) -> OrderUpdate:
    return OrderUpdate(
        VENUE, account, symbol, order_id, side, position_side, dec(original), dec(executed),
        final, reduce_only, reservation_id, venue_ms=venue_ms,
    )


def facts(
    *items: OrderUpdate | PositionsReport | OpenOrdersSnapshot | PriceUpdate,
) -> ResponseFacts:
    return ResponseFacts(
        prices=tuple(i for i in items if isinstance(i, PriceUpdate)),
        orders=tuple(i for i in items if isinstance(i, OrderUpdate)),
        positions=tuple(i for i in items if isinstance(i, PositionsReport)),
        open_orders=tuple(i for i in items if isinstance(i, OpenOrdersSnapshot)),
    )


def positions_report(
    *positions: tuple[str, PositionSide, Amount], symbol: str | None = None, account: str = ACCOUNT,
    asked_ms: int | None = None,
) -> PositionsReport:
    return PositionsReport(VENUE, account, symbol, tuple((s, side, dec(q)) for s, side, q in positions), asked_ms)


def open_orders(*orders: OrderUpdate, symbol: str | None = None, account: str = ACCOUNT) -> OpenOrdersSnapshot:
    return OpenOrdersSnapshot(VENUE, account, symbol, tuple(orders))


def price_update(price: Amount, kind: str = "mark", symbol: str = SYMBOL) -> PriceUpdate:
    return PriceUpdate(VENUE, symbol, dec(price), kind)


# --- time and async ----------------------------------------------------------------------------------------


class FakeClock:
    """A millisecond clock that moves only when told: `clock.advance(1000)`. Pass the instance as `clock=`."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> int:
        self.now_ms += ms
        return self.now_ms

    def set(self, ms: int) -> None:
        self.now_ms = ms

def in_turn(turns: Sequence[Any], cases: Sequence[Any]) -> list[Any]:
    """Rows of (*turn, *case) for a parametrize: every case and every turn at least once, row i pairing the i-th
    of each (the shorter one cycling), instead of every pair. For independent dimensions (where a request's
    parameters sit and what they hold; the status or junk of an answer and which request it answers) this sum
    covers what their product did."""
    rows = []
    for number in range(max(len(turns), len(cases))):
        turn, case = turns[number % len(turns)], cases[number % len(cases)]
        if hasattr(case, "marks"):  # a pytest.param
            values, marks, case_id = case.values, case.marks, case.id
        else:
            values, marks, case_id = (case if isinstance(case, tuple) else (case,)), (), None
        turn_values = turn if isinstance(turn, tuple) else (turn,)
        turn_id = "-".join(str(value) for value in turn_values)
        row_id = f"{turn_id}-{case_id}" if case_id is not None else None
        rows.append(pytest.param(*turn_values, *values, marks=marks, id=row_id))
    return rows


def answer_on_socket(parsed: ParsedRequest, request_id: str, frame: dict[str, Any]) -> VenueFrame:
    """`frame`, the venue's answer to the order request `request_id` (`parsed`) sent on its order socket, as the
    sidecar reads it (its `status` and `rest_body`: the REST answer it stands for)."""
    session = Session(parsed.venue, Socket.ORDERS, "GET /ws", account=ACCOUNT)
    key = id_key(request_id)
    assert key is not None
    session.pending = OrderedDict({key: PendingFrame("d1", parsed, HttpRequest("POST", "venue", 443, "/", (), {}, b""),
                                                     False)})
    read = FRAMES[parsed.venue].read_venue(json.dumps(frame), session)
    assert read.answers == key
    return read



async def learn_placed(store: Any, *updates: OrderUpdate) -> None:
    """Orders the sidecar placed, as `updates` say they now are: each reserved first, its answer naming its leg
    (an order the store first hears of otherwise holds its fills apart until a position read)."""
    for update in updates:
        position = position_key(update.symbol, update.position_side, update.account)
        leg = pending_entry(f"placed-{update.order_id}:0", update.original, update.side, position,
                            reducing=update.reduce_only)
        await store.reserve(make_reservation(f"placed-{update.order_id}", pending=(leg,)))
    await store.learn(facts(*(dataclasses.replace(u, reservation_id=f"placed-{u.order_id}:0") for u in updates)))
