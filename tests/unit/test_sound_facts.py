"""`sound_facts`: what an answer teaches reaches the store only under symbols a venue could have, and what is
dropped never makes exposure look smaller than it is."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from riskwall.model import (
    ClosedOrder,
    OpenOrdersSnapshot,
    OrderUpdate,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    ResponseFacts,
    Side,
    Venue,
)
from riskwall.venues.base import sound_facts

V = Venue.BINANCEUSDM


def order(symbol: str, order_id: str = "1") -> OrderUpdate:
    return OrderUpdate(V, "acct", symbol, order_id, Side.BUY, PositionSide.BOTH, Decimal(1), Decimal(0), final=False)


def report(symbol: str | None, *rows: str) -> PositionsReport:
    return PositionsReport(V, "acct", symbol, tuple((row, PositionSide.BOTH, Decimal(1)) for row in rows))


@pytest.mark.parametrize(("facts", "kept"), [
    (ResponseFacts(prices=(PriceUpdate(V, "BTCUSDT", Decimal(1), "mark"), PriceUpdate(V, "", Decimal(1), "mark"))),
     ResponseFacts(prices=(PriceUpdate(V, "BTCUSDT", Decimal(1), "mark"),))),
    (ResponseFacts(orders=(order("BTCUSDT"), order("BTC USDT"), order("-"))),
     ResponseFacts(orders=(order("BTCUSDT"),))),
    (ResponseFacts(orders=(order("BTCUSDT", ""), order("BTCUSDT", "algo:"), order("BTCUSDT", "a b"),
                           order("BTCUSDT", "algo:7")),
                   closed=(ClosedOrder(V, "acct", ""), ClosedOrder(V, "acct", "9"))),
     ResponseFacts(orders=(order("BTCUSDT", "algo:7"),), closed=(ClosedOrder(V, "acct", "9"),))),
    # an account-wide report says every unlisted position is flat: with one row unsound it is dropped whole
    (ResponseFacts(positions=(report(None, "BTCUSDT", "\u0000"),)), ResponseFacts()),
    (ResponseFacts(positions=(report("", ""), report("ETHUSDT", "ETHUSDT"))),
     ResponseFacts(positions=(report("ETHUSDT", "ETHUSDT"),))),
    # an open-orders snapshot finalises the orders it does not list: one unsound order drops it whole
    (ResponseFacts(open_orders=(OpenOrdersSnapshot(V, "acct", None, (order("BTCUSDT"), order(""))),)),
     ResponseFacts()),
    (ResponseFacts(prices=(PriceUpdate(Venue.BITMEX, ".BXBT", Decimal(1), "last"),),
                   positions=(report("BTC-USDT-SWAP", "BTC-USDT-SWAP"),)),
     ResponseFacts(prices=(PriceUpdate(Venue.BITMEX, ".BXBT", Decimal(1), "last"),),
                   positions=(report("BTC-USDT-SWAP", "BTC-USDT-SWAP"),))),
], ids=["price-without-symbol", "orders-with-mangled-symbols", "orders-without-an-id",
        "account-wide-report-with-bad-row", "symbol-report-without-symbol", "snapshot-with-bad-order",
        "sound-facts-kept-as-they-are"])
def test_sound_facts_when_a_fact_names_no_possible_symbol_or_order_then_dropped_towards_more_exposure(
    facts: ResponseFacts, kept: ResponseFacts
) -> None:
    assert sound_facts(facts) == kept


def named(client_id: str | None, order_id: str = "1") -> OrderUpdate:
    return dataclasses.replace(order("BTCUSDT", order_id), client_order_id=client_id)


@pytest.mark.parametrize(("client_id", "kept"), [
    ("bot-7", "bot-7"),
    (None, None),
    ("two words", None),
    ("x" * 129, None),  # longer than any venue's id
    ("\u00e9t\u00e9", None),
])
def test_sound_facts_when_a_client_order_id_could_not_be_a_name_then_the_order_is_kept_without_it(
    client_id: str | None, kept: str | None,
) -> None:
    # the order and its fill still count; only the name amends could look it up by goes
    listed = OpenOrdersSnapshot(V, "acct", "BTCUSDT", (named("ok", "2"), named(client_id)))

    sound = sound_facts(ResponseFacts(orders=(named(client_id),), open_orders=(listed,)))

    assert [o.client_order_id for o in sound.orders] == [kept]
    assert [o.client_order_id for o in sound.open_orders[0].orders] == ["ok", kept]
    assert (sound.orders[0].order_id, sound.open_orders[0].orders[1].executed) == ("1", Decimal(0))
