"""Binance COIN-M futures (dapi): the USDⓈ-M adapter's reading of requests, with sizes in contracts.

Facts: docs/venues.md §2 (and §1, which dapi mirrors under `/dapi/v1/...`). Parameters, auth, the error
shape and every field but the size are read exactly as on fapi, by the same functions
(`riskwall.venues.binance_usdm`); this module adds what differs:

- Sizes (`quantity`, `origQty`, `executedQty`, `positionAmt`) count CONTRACTS of an inverse contract worth
  `contractSize` USD each. The base quantity is `contracts × contractSize ÷ price`. The contract size comes from
  `GET /dapi/v1/exchangeInfo` answers passing through (learned into the process-wide catalog), else from the
  small bundled table below; it is never guessed: an unknown contract size is a parse error naming
  `contractSize`, so the order is blocked.
- The price a size is converted at: the order's own prices (`lowest_own_price`: a SELL's `price`, else its
  `stopPrice`/`triggerPrice`; a BUY's lowest of those and a trailing stop's activation price, as a triggered
  buy fills about where it triggers), else the mark (or last) price the store holds for the symbol (learned
  from premiumIndex, ticker and positionRisk answers by any sidecar of a fleet), the same price the engine
  measures a market order's notional at. A BUY converts at the lower of its own price and that mark (a contract
  is fixed USD, so a lower fill buys more coin: a buy limit far above the market must not look small), and is
  refused while the store knows no mark, unless it can only reduce a position (as on BitMEX). The
  store's price is only read once the request is decided, so every order with a size is converted then, by its
  intent's `resolve` (`engine.resolve`); the intent the adapter parses still counts contracts. With no price at
  all the request is a parse error naming `price`, unless the order can only reduce a position (then it carries
  no base quantity, like a close-position order). Answers carry no prices of their own for resting orders: they are
  converted at the mark the request was decided with (`ParsedRequest.known`).
- Symbols are `BTCUSD_PERP` (unified `BTC/USD:BTC`) and `BTCUSD_250627` (`BTC/USD:BTC-250627`).

Hosts: dapi.binance.com, demo-dapi.binance.com (and ws-dapi.binance.com, whose order frames are read as
USDⓈ-M's). testnet.binancefuture.com serves fapi and dapi alike; the host map names one venue per host, so it
stays mapped to binanceusdm and that adapter hands every `/dapi/` (and `/ws-dapi`) path to this one: the path
prefix, not the host, decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import Any

from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    Decision,
    Known,
    OpenOrdersSnapshot,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    ResponseFacts,
    Side,
    Venue,
)
from riskwall.venues import binance_usdm as usdm
from riskwall.venues.base import (
    MAX_AMOUNT,
    FieldError,
    Rejection,
    Route,
    RouteKey,
    ScopedLearner,
    TableAdapter,
    ascii_digits,
    chained,
    contract_price,
    decimal_field,
    lowest_own_price,
    one_leg,
    price_or_none,
    route_table,
    scoped,
)

VENUE = Venue.BINANCECOINM

# UNCONFIRMED (docs/venues.md §9): 100 USD per BTCUSD contract and 10 USD per ETHUSD contract are the commonly
# published sizes, not read from a source. They only apply until an exchangeInfo answer passes through (learned
# values win); every other symbol needs that answer.
BUNDLED: tuple[Instrument, ...] = (
    Instrument(VENUE, "BTCUSD_PERP", "BTC/USD:BTC", Decimal("100"), quote_sized=True),
    Instrument(VENUE, "ETHUSD_PERP", "ETH/USD:ETH", Decimal("10"), quote_sized=True),
)
_BUNDLED = {i.native: i for i in BUNDLED}

# BTCUSD_PERP, BTCUSD_250627
_NATIVE = re.compile(r"([A-Z0-9]{1,20})(USD)_(PERP|[0-9]{6})")

type Params = dict[str, str]
type Learner = ScopedLearner


def instrument(native: str) -> Instrument | None:
    """What the catalog learned from exchangeInfo answers, else the bundled table."""
    return CATALOG.lookup(VENUE, native) or _BUNDLED.get(native)


def unified_symbol(native: str) -> str | None:
    """ccxt's unified symbol: learned or bundled, else derived from the id like ccxt does (inverse: settles in base)."""
    known = instrument(native)
    if known is not None:
        return known.unified
    match = _NATIVE.fullmatch(native)
    if match is None:
        return None
    base, quote, suffix = match.groups()
    unified = f"{base}/{quote}:{base}"
    return unified if suffix == "PERP" else f"{unified}-{suffix}"


def _contract_size(native: str) -> tuple[Decimal, bool]:
    """(contractSize, whether a contract is worth that in USD), or a FieldError naming `contractSize`."""
    known = instrument(native)
    if known is None or known.contract_size is None:
        raise FieldError(f"contractSize of {native} unknown; fetch /dapi/v1/exchangeInfo through the firewall")
    return known.contract_size, known.quote_sized


def base_quantity(native: str, contracts: Decimal, price: Decimal | None, *, field: str = "quantity") -> Decimal:
    """Contracts → base units: contracts × contractSize ÷ price (inverse contracts are worth USD)."""
    size, quote_sized = _contract_size(native)
    if not quote_sized:
        return contracts * size
    if contracts == 0:
        return Decimal(0)
    if price is None or price <= 0:
        raise FieldError(f"price of {native} unknown to convert {field} from contracts; give the order a price or "
                         "fetch /dapi/v1/premiumIndex through the firewall")
    return contracts * size / price


class BinanceCoinm(TableAdapter):
    venue: Venue = VENUE
    default_hosts: tuple[str, ...] = (
        "dapi.binance.com",
        "demo-dapi.binance.com",
        # the WebSocket API (order entry) and the market and user-data streams
        "ws-dapi.binance.com",
        "dstream.binance.com",
        "dstream.binancefuture.com",
    )
    key_header = usdm.BinanceUsdm.key_header
    # Binance's domains belong to USDⓈ-M, whose adapter hands COIN-M paths here
    domains: tuple[str, ...] = ()
    secret_fields: frozenset[str] = usdm.BinanceUsdm.secret_fields
    sockets = usdm.SOCKETS

    def __init__(self) -> None:
        super().__init__(_ROUTES, usdm.params, _is_forbidden, convert=_to_coinm, scopes=_SCOPES,
                         harmless=usdm.HARMLESS)

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        # dapi answers in fapi's shape, and ccxt's binancecoinm maps these codes through the same common table
        return usdm.ADAPTER.rejection(decision, parsed)


# ---- requests ------------------------------------------------------------------------------------------


def _is_forbidden(path: str) -> bool:
    """Wallet and account-management paths (withdrawals, transfers, sub-accounts, API-key settings)."""
    if path.startswith("/dapi/"):
        return any(part in path for part in usdm.FORBIDDEN_PARTS)
    return usdm.is_forbidden(path)


def _to_coinm(intent: OrderIntent) -> OrderIntent:
    """A fapi-read intent → this venue's: unified symbol, and (`_in_base_units`, once the store's mark is known)
    the size in base units. An unknown contract size is refused here already where no mark could spare the order
    its conversion (only a reduction without a price of its own goes without a size)."""
    native = intent.symbol or ""
    unified = unified_symbol(native) if native else None
    if intent.quantity is None:
        return replace(intent, venue=VENUE, unified_symbol=unified)
    if intent.price or intent.trigger_price or not intent.only_reduces:
        _contract_size(native)
    # even an order with its own price needs the mark: a buy converts at the lower of the two. Until then the
    # intent has no size (a count of contracts in `quantity` would read as coin to anything that looked). An
    # amend is completed first (its side, which the conversion depends on, is the amended order's)
    sized = partial(_in_base_units, contracts=intent.quantity)
    earlier = intent.resolve
    return replace(intent, venue=VENUE, unified_symbol=unified, quantity=None, resolve=chained(earlier, sized))


def _in_base_units(intent: OrderIntent, known: Known, *, contracts: Decimal) -> OrderIntent:
    """`intent` sized: its `contracts` converted at the worst of its own prices (`lowest_own_price`) and the
    store's mark for its symbol. A buy priced above the market fills at the market, so with no mark known a buy that
    could add to a position converts at its own price over the symbol's PERCENT_PRICE `multiplierUp` (dapi refuses
    a buy limit further above the mark than that, -4016: the mark, and so the fill, is at least that low), and is
    refused where exchangeInfo has not told that bound either: its own price would count its USD contracts as a
    fraction of the coin they buy."""
    native = intent.symbol or ""
    quantity: Decimal | None = None
    own = lowest_own_price(intent.side, intent.price, intent.trigger_price, intent.activation_price)
    mark = known.price(native)
    scale = Decimal(1)  # own ÷ buy_cap as the price: the coin its contracts buy, × buy_cap (exact)
    if mark is None and own is not None and intent.side is not Side.SELL and not intent.only_reduces:
        listed = instrument(native)
        if listed is None or listed.buy_cap is None:
            raise FieldError(f"quantity of {native} is in USD contracts and a buy converts at the lower of its "
                             "price and the market's, which is not known: fetch /dapi/v1/exchangeInfo or "
                             "/dapi/v1/premiumIndex through the firewall first")
        scale = listed.buy_cap
    price = trailed(intent.side, contract_price(intent.side, own, mark, limit=intent.price is not None),
                    intent.callback_pct)
    if price is not None or not intent.only_reduces:  # else it cannot grow a position: checked without a size
        quantity = base_quantity(native, contracts, price)
        if scale != 1:
            quantity = _trimmed(quantity * scale)
        if quantity > MAX_AMOUNT:
            raise FieldError("quantity is too large")
    return replace(intent, quantity=quantity, contracts=contracts, resolve=None)


_ENDPOINTS: dict[RouteKey, Route] = {
    ("POST", "/dapi/v1/order"): Route(Action.NEW, one_leg(usdm.order_leg)),
    # ccxt sends conditional inverse orders here (undocumented on dapi; docs/venues.md §2.2)
    ("POST", "/dapi/v1/algoorder"): Route(Action.NEW, one_leg(usdm.algo_leg)),
    ("POST", "/dapi/v1/batchorders"): Route(Action.NEW, usdm.batch_of(usdm.order_leg)),
    ("PUT", "/dapi/v1/order"): Route(Action.AMEND, one_leg(usdm.amend_leg)),
    ("PUT", "/dapi/v1/batchorders"): Route(Action.AMEND, usdm.batch_of(usdm.amend_leg)),
    ("DELETE", "/dapi/v1/order"): Route(Action.CANCEL),
    ("DELETE", "/dapi/v1/batchorders"): Route(Action.CANCEL),
    ("DELETE", "/dapi/v1/algoorder"): Route(Action.CANCEL),
    ("DELETE", "/dapi/v1/allopenorders"): Route(Action.CANCEL_ALL),
    ("DELETE", "/dapi/v1/algoopenorders"): Route(Action.CANCEL_ALL),
    ("POST", "/dapi/v1/countdowncancelall"): Route(Action.CANCEL_ALL),
    ("POST", "/dapi/v1/leverage"): Route(Action.SET_LEVERAGE, usdm.parse_leverage),
    ("POST", "/dapi/v1/margintype"): Route(Action.SET_MARGIN_MODE, usdm.parse_margin_type),
    ("POST", "/dapi/v1/positionside/dual"): Route(Action.SET_POSITION_MODE, usdm.parse_position_mode),
    ("POST", "/dapi/v1/positionmargin"): Route(Action.SET_MARGIN_MODE, usdm.no_intent),
    ("POST", "/dapi/v1/listenkey"): Route(Action.READ),
    ("PUT", "/dapi/v1/listenkey"): Route(Action.READ),
    ("DELETE", "/dapi/v1/listenkey"): Route(Action.READ),
}


# ---- responses -----------------------------------------------------------------------------------------


def _order_price(item: Any, known: Known | None) -> Decimal | None:
    """The price an order's contracts convert at: its fill price once it has fills, else the worst case of its
    own price (limit, else trigger) and the mark the request was decided with (`known`), like it was checked at."""
    if not isinstance(item, dict):
        return None

    def positive(name: str) -> Decimal | None:
        price = price_or_none(item.get(name))
        return price if price is not None and price > 0 else None

    executed = price_or_none(item.get("executedQty"))
    fill = positive("avgPrice")
    if fill is not None and executed is not None and executed > 0:
        return fill
    side = usdm.SIDES.get(str(item.get("side")))
    own = lowest_own_price(side, positive("price"), positive("stopPrice"), positive("triggerPrice"),
                           positive("activatePrice"))
    mark = known.price(str(item.get("symbol", "")).upper()) if known is not None else None
    return trailed(side, contract_price(side, own, mark, limit=positive("price") is not None), positive("priceRate"))


def trailed(side: Side | None, price: Decimal | None, callback_pct: Decimal | None) -> Decimal | None:
    """The price a trailing stop's contracts convert at, from the price it can start trailing at (`price`): a sell
    fills its callback below the highest price it trailed, which may be where it started; any other order at
    `price`. Requests, answers (`priceRate`) and stream events (`cr`) alike."""
    if price is None or side is not Side.SELL or callback_pct is None or not 0 < callback_pct < 100:
        return price
    return price * (1 - callback_pct / 100)


def _order_key(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if "algoId" in item:
        return f"algo:{item['algoId']}"
    return str(item["orderId"]) if "orderId" in item else None


def _convert_order(update: OrderUpdate, prices: Mapping[str, Decimal], known: Known | None) -> OrderUpdate | None:
    price = prices.get(update.order_id) or (known.price(update.symbol) if known is not None else None)
    try:
        original = base_quantity(update.symbol, update.original, price, field="origQty")
        executed = base_quantity(update.symbol, update.executed, price, field="executedQty")
    except FieldError:
        return None
    return replace(update, venue=VENUE, original=original, executed=executed)


def _items(data: Any) -> list[Any]:
    if isinstance(data, dict):
        data = data.get("orders", data.get("rows", [data]))
    return data if isinstance(data, list) else []


def _coinm_facts(learner: Learner) -> Learner:
    """Run the fapi learner, then restate its facts for this venue with sizes in base units.

    An order whose size cannot be converted is left out; a listing that left one out is no complete snapshot
    (finalising an order we could not read would forget its exposure).
    """

    def learn(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        facts = learner(data, parsed, params, decision_id)
        known = parsed.known
        prices = {k: p for k, p in ((_order_key(i), _order_price(i, known)) for i in _items(data)) if k and p}
        orders = [_convert_order(u, prices, known) for u in facts.orders]
        snapshots: list[OpenOrdersSnapshot] = []
        loose: list[OrderUpdate] = []
        for snapshot in facts.open_orders:
            converted = [_convert_order(u, prices, known) for u in snapshot.orders]
            kept = [u for u in converted if u is not None]
            if len(kept) == len(converted):
                snapshots.append(replace(snapshot, venue=VENUE, orders=tuple(kept)))
            else:
                loose += kept
        return ResponseFacts(
            prices=tuple(replace(p, venue=VENUE) for p in facts.prices),
            orders=tuple(u for u in orders if u is not None) + tuple(loose),
            open_orders=tuple(snapshots),
            closed=tuple(replace(c, venue=VENUE) for c in facts.closed),
        )

    return learn


def _prices_facts(learner: Learner) -> Learner:
    def learn(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        facts = learner(data, parsed, params, decision_id)
        return ResponseFacts(prices=tuple(replace(p, venue=VENUE) for p in facts.prices))

    return learn


def _learn_positions(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """positionRisk / account → signed base quantities, converted at each row's mark price (else the store's,
    where the request was decided with one: a read is not, so a row without its mark is not read).

    dapi filters by `pair` or `marginAsset`, not `symbol`; a filtered answer (or one with a row that cannot be
    converted) says nothing of the symbols it leaves out, so it is reported symbol by symbol.
    """
    if isinstance(data, dict):  # the account endpoint nests the list
        data = data.get("positions")
    if not isinstance(data, list) or parsed.account is None:
        return ResponseFacts()
    prices: list[PriceUpdate] = []
    rows: dict[str, list[tuple[str, PositionSide, Decimal]]] = {}
    unreadable: set[str] = set()
    complete = True
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            complete = False
            continue
        symbol = item["symbol"].upper()
        mark = price_or_none(item.get("markPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
        try:
            side = usdm.POSITION_SIDES[str(item.get("positionSide", "BOTH"))]
            contracts = Decimal(str(item["positionAmt"]))
            if not contracts.is_finite():
                raise ValueError(symbol)
            price = mark or (parsed.known.price(symbol) if parsed.known is not None else None)
            amount = base_quantity(symbol, abs(contracts), price, field="positionAmt")
        except (KeyError, ArithmeticError, ValueError):  # FieldError is a ValueError
            complete = False
            unreadable.add(symbol)
            continue
        rows.setdefault(symbol, []).append((symbol, side, amount if contracts >= 0 else -amount))
    if complete and not any(params.get(k) for k in ("pair", "marginAsset", "symbol")):
        everything = tuple(row for symbol_rows in rows.values() for row in symbol_rows)
        reports: tuple[PositionsReport, ...] = (PositionsReport(VENUE, parsed.account, None, everything),)
    else:
        reports = tuple(PositionsReport(VENUE, parsed.account, symbol, tuple(symbol_rows))
                        for symbol, symbol_rows in rows.items() if symbol not in unreadable)
    return ResponseFacts(prices=tuple(prices), positions=reports)


def _instrument_from(item: Any) -> Instrument | None:
    """An exchangeInfo row → unified symbol and contract size; only inverse rows that add up are learned."""
    if not isinstance(item, dict):
        return None
    native, base, quote, margin = (item.get(k) for k in ("symbol", "baseAsset", "quoteAsset", "marginAsset"))
    if not all(isinstance(v, str) and v.isalnum() for v in (base, quote, margin)):
        return None
    if not isinstance(native, str) or not usdm.SYMBOL.fullmatch(native) or margin != base:
        return None  # a COIN-M contract settles in its base coin; anything else is not what we think it is
    try:
        size = decimal_field("contractSize", item.get("contractSize"))
    except FieldError:
        return None
    if size is None:
        return None
    native = native.upper()
    unified = f"{base}/{quote}:{margin}"
    if item.get("contractType") != "PERPETUAL":
        suffix = native.rsplit("_", 1)[-1]
        if not (len(suffix) == 6 and ascii_digits(suffix)):
            return None
        unified += f"-{suffix}"
    return Instrument(VENUE, native, unified, size, quote_sized=True, buy_cap=_buy_cap(item.get("filters")))


def _trimmed(value: Decimal) -> Decimal:
    """`value` without the trailing zeros a product gains (0.4 × 1.05 is 0.420), never in exponent form."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def _buy_cap(filters: Any) -> Decimal | None:
    """PERCENT_PRICE's `multiplierUp` (at least 1), where the row has exactly one such filter."""
    found = [f for f in filters if isinstance(f, dict) and f.get("filterType") == "PERCENT_PRICE"] if isinstance(
        filters, list) else []
    if len(found) != 1:
        return None
    try:
        cap = decimal_field("multiplierUp", found[0].get("multiplierUp"))
    except FieldError:
        return None
    return cap.normalize() if cap is not None and cap >= 1 else None  # 1.0500 as 1.05: sizes keep their digits


def _learn_instruments(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        return ResponseFacts()
    return ResponseFacts(instruments=tuple(i for i in map(_instrument_from, data["symbols"]) if i is not None))


_ORDERS = _coinm_facts(usdm.learn_orders)

_LEARNERS: dict[RouteKey, Learner] = {
    ("GET", "/dapi/v1/exchangeinfo"): _learn_instruments,
    ("POST", "/dapi/v1/order"): _ORDERS,
    ("POST", "/dapi/v1/algoorder"): _ORDERS,
    ("POST", "/dapi/v1/batchorders"): _ORDERS,
    ("PUT", "/dapi/v1/order"): _ORDERS,
    ("PUT", "/dapi/v1/batchorders"): _ORDERS,
    ("DELETE", "/dapi/v1/order"): _ORDERS,
    ("DELETE", "/dapi/v1/batchorders"): _ORDERS,
    ("DELETE", "/dapi/v1/algoorder"): _ORDERS,
    ("GET", "/dapi/v1/order"): _ORDERS,
    ("GET", "/dapi/v1/algoorder"): _ORDERS,
    ("GET", "/dapi/v1/openorders"): _coinm_facts(usdm.learn_open_orders("order")),
    ("GET", "/dapi/v1/openalgoorders"): _coinm_facts(usdm.learn_open_orders("algo")),
    ("DELETE", "/dapi/v1/allopenorders"): _coinm_facts(usdm.learn_cancel_all("order")),
    ("DELETE", "/dapi/v1/algoopenorders"): _coinm_facts(usdm.learn_cancel_all("algo")),
    ("GET", "/dapi/v1/positionrisk"): _learn_positions,
    ("GET", "/dapi/v1/account"): _learn_positions,
    ("GET", "/dapi/v1/premiumindex"): _prices_facts(usdm.learn_prices("markPrice", "mark")),
    ("GET", "/dapi/v1/ticker/price"): _prices_facts(usdm.learn_prices("price", "last")),
    ("GET", "/dapi/v1/ticker/24hr"): _prices_facts(usdm.learn_prices("lastPrice", "last")),
}

# the query parameters each listing's learner reads as its scope (`TableAdapter.sure_scope`). dapi also lists open
# orders by `pair` (every expiry of BTCUSD): a scope of several symbols, none of which a listing that shows none of
# its orders can be known to hold, so such a listing teaches only the orders it shows. The positions learner reads
# `pair` and `marginAsset` itself (a filtered report is kept symbol by symbol)
_SYMBOL_SCOPE = frozenset({"symbol"})
_SCOPES: dict[RouteKey, frozenset[str]] = {
    ("GET", "/dapi/v1/openorders"): _SYMBOL_SCOPE,
    ("GET", "/dapi/v1/openalgoorders"): _SYMBOL_SCOPE,
    ("DELETE", "/dapi/v1/allopenorders"): _SYMBOL_SCOPE,
    ("DELETE", "/dapi/v1/algoopenorders"): _SYMBOL_SCOPE,
    ("GET", "/dapi/v1/positionrisk"): frozenset({"pair", "marginAsset", "symbol"}),
    ("GET", "/dapi/v1/account"): frozenset(),
}

_ROUTES = route_table(_ENDPOINTS, {key: scoped(learner) for key, learner in _LEARNERS.items()})
ADAPTER = BinanceCoinm()

__all__ = ["ADAPTER", "BUNDLED", "VENUE", "BinanceCoinm", "base_quantity", "instrument", "unified_symbol"]
