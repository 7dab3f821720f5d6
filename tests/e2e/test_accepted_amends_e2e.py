"""Amends a venue accepts without saying what the order now is, with the real ccxt through the real `riskwall run`:
OKX (amend-order) and Bybit (/v5/order/amend) answer an amend with the order's ids only, Binance USDⓈ-M (PUT
/fapi/v1/order, the contrast) with the order itself.

One sidecar fronts the project's three fake exchanges with one policy: a position of at most 0.05 BTC either way,
resting orders counted as if they filled. Every test trades on a fresh API key of its venue, in both wirings
(explicit proxy with the sidecar's CA, and the plain-HTTP reverse listener), and asserts what ccxt raised, what
reached the fake exchange, and the decision line the sidecar logged. An amend the venue accepted makes its order
hold the larger of its old and new sizes until the venue reports the order again (an order query or the open
orders listing through the sidecar): an upsize counts at once, a downsize on OKX only once reported. Bybit's
adapter reads an accepted amend of an order the sidecar has seen as that order at the amend's size, so there (as
on Binance) a downsize counts at once. Sizes: 0.01 BTC is one unit (0.01 on Binance and Bybit, 1 contract on
OKX); bids at 30000, far under the fakes' marks, so they rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.support.sidecar import Sidecar
from tests.support.three_venues import (
    BTC,
    NATIVE,
    Bot,
    Fakes,
    make_bot,
    max_position_policy,
    ws_sidecar_for,
)
from tests.support.three_venues import rest_sidecar as rest_sidecar  # the `sidecar` fixture
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.tls import TlsMaterial

pytestmark = pytest.mark.e2e

MAX_QTY = Decimal("0.05")

POLICY = max_position_policy(MAX_QTY)

# the venues whose amend answer carries ids only, and each venue's amend endpoint as the fake records it
IDS_ONLY = ["okx", "bybit"]
AMEND_ENDPOINT = {"okx": ("POST", "/api/v5/trade/amend-order"), "bybit": ("POST", "/v5/order/amend"),
                  "binanceusdm": ("PUT", "/fapi/v1/order")}
BID = 30000.0

type BotFactory = Callable[[str], Bot]


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, sidecar, wiring, venue, "amend")


@pytest.fixture(scope="module")
def redis_sidecar(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes, pki: TlsMaterial) -> Iterator[Sidecar]:
    """A second sidecar on the same policy and fakes, its state in the local Redis (skips without one)."""
    with ws_sidecar_for("redis", tmp_path_factory.mktemp("accepted-amends-redis"), POLICY, fakes, pki) as running:
        yield running


@pytest.fixture
def new_redis_bot(fakes: Fakes, redis_sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, redis_sidecar, wiring, venue, "amend-redis")


def bid(bot: Bot, units: int, price: float = BID) -> Any:
    """A resting limit buy of `units` × 0.01 BTC."""
    return bot.order(BTC, "limit", "buy", price, amount=units * bot.unit)


def amend(bot: Bot, order: Any, units: int) -> Any:
    """ccxt's edit_order of a resting buy to `units` × 0.01 BTC, its price unchanged."""
    return bot.exchange.edit_order(order["id"], BTC, "limit", "buy", units * bot.unit, BID)


def report(bot: Bot, order: Any, how: str) -> Any:
    """Have the venue report the order through the sidecar: an order query or the open orders listing."""
    if how == "fetch_order":
        params = {"acknowledged": True} if bot.venue == "bybit" else {}
        return bot.exchange.fetch_order(order["id"], BTC, params)
    return bot.exchange.fetch_open_orders(BTC)


def amends_received(bot: Bot) -> list[Any]:
    method, path = AMEND_ENDPOINT[bot.venue]
    return bot.received(method, path)


def _assert_blocked(bot: Bot, raised: pytest.ExceptionInfo[Any], position: str) -> None:
    """An order-class exception a bot will not retry, and the decision line of the last block: the position had
    every resting buy and this one filled, and the limit."""
    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    assert not isinstance(raised.value, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["rule_id"], line["venue"]) == ("POSITION_EXCEEDS_MAX", "position", bot.venue)
    assert (Decimal(line["context"]["position"]), Decimal(line["context"]["max_position"])) == (
        Decimal(position), MAX_QTY)
    assert line["context"]["symbol"] == NATIVE[bot.venue][BTC]


def _upsize_then_blocked(bot: Bot) -> None:
    placed = bid(bot, 1)
    amend(bot, placed, 4)  # 0.04 in place of 0.01: within 0.05
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, 2, BID - 10)  # 0.04 + 0.02 = 0.06; had the amend not counted, 0.01 + 0.02 would fit

    [amended] = amends_received(bot)
    assert amended.status == 200
    assert len(bot.orders_received()) == 2  # the bid and the amend; the blocked order never reached the venue
    _assert_blocked(bot, raised, "0.06")
    assert len(bot.decisions(verdict="allow")) == 2 and len(bot.decisions(verdict="block")) == 1


@pytest.mark.parametrize("venue", [*IDS_ONLY, "binanceusdm"])
def test_create_order_when_an_accepted_amend_upsized_a_resting_order_then_the_new_size_counts_at_once(
    new_bot: BotFactory, venue: str
) -> None:
    _upsize_then_blocked(new_bot(venue))


@pytest.mark.parametrize("venue", IDS_ONLY)
def test_create_order_when_an_accepted_amend_upsized_a_resting_order_on_redis_then_the_new_size_counts_at_once(
    new_redis_bot: BotFactory, venue: str
) -> None:
    _upsize_then_blocked(new_redis_bot(venue))


@pytest.mark.parametrize("how", ["fetch_order", "fetch_open_orders"])
def test_create_order_when_an_okx_amend_downsized_then_the_old_size_counts_until_the_order_is_reported(
    new_bot: BotFactory, how: str
) -> None:
    bot = new_bot("okx")
    placed = bid(bot, 4)
    amend(bot, placed, 1)  # the venue now has 0.01 open; the answer does not say so
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, 2, BID - 10)  # checked against the old 0.04: 0.06

    reported = report(bot, placed, how)
    bid(bot, 2, BID - 20)  # the report said 0.01: 0.01 + 0.02 fits
    with pytest.raises(ccxt.BaseError) as again:
        bid(bot, 3, BID - 30)  # 0.01 + 0.02 + 0.03: the reported order still counts, at its new size

    listed = [reported] if how == "fetch_order" else [o for o in reported if o["id"] == placed["id"]]
    assert [o["amount"] for o in listed] == [bot.unit]
    assert [r.status for r in amends_received(bot)] == [200]
    assert len(bot.orders_received()) == 3  # the bid, the amend, the bid after the report
    _assert_blocked(bot, raised, "0.06")
    _assert_blocked(bot, again, "0.06")
    assert len(bot.decisions(verdict="block")) == 2


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit"])
def test_create_order_when_a_binance_or_bybit_amend_downsized_then_its_answer_counts_at_once(
    new_bot: BotFactory, venue: str
) -> None:
    """Binance answers an amend with the order itself; Bybit's ids-only answer to an amend of an order the sidecar
    has seen is read by its adapter as the order at the amend's size (`venues.bybit._learn_amended`), which takes
    the amend's leg before the acceptance could: either way the smaller size counts with no report in between."""
    bot = new_bot(venue)
    placed = bid(bot, 4)

    amend(bot, placed, 1)  # 0.01 open at the venue
    bid(bot, 2, BID - 10)  # 0.01 + 0.02 fits
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, 3, BID - 20)  # 0.01 + 0.02 + 0.03: the amended order still counts, at its new size

    assert [r.status for r in amends_received(bot)] == [200]
    assert len(bot.orders_received()) == 3
    _assert_blocked(bot, raised, "0.06")
    assert len(bot.decisions(verdict="allow")) == 3 and len(bot.decisions(verdict="block")) == 1
