"""The `max_gross_exposure` rule summed over venues, with the real ccxt, through the real `riskwall run`.

A desk trades with one API key on Binance USDⓈ-M and one on Bybit; the policy lists both fingerprints under one
`accounts` label that names no venue, so the sidecar keeps their state under one holder (`label:<name>`) on each
venue. With `per: account` (the default) an order on one venue is checked against the desk's positions on both;
with `per: venue` against its own venue's only. Each policy is its own sidecar in front of the project's fake
exchanges, launched once the desks' keys exist on the fakes (the policy must list their fingerprints). Both
wirings: the plain-HTTP reverse listener and the explicit proxy with the sidecar's CA.

Limit 1000 USDT; the fakes' BTC mark is 50000 on both venues, so 0.01 BTC is worth 500. Bids rest at 30000 and
are valued at the mark, not at their price. Every test asserts what ccxt raised, what reached each fake, and the
sidecar's decision lines.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from tests.support.bybit_bots import make_bybit
from tests.support.ccxt_bots import proxied_bot, reverse_bot
from tests.support.sidecar import Sidecar
from tests.support.three_venues import BTC, Bot, Fakes, start_sidecar_for
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

LIMIT = Decimal(1000)
WIRINGS = ["reverse", "explicit"]
SOURCES = ["filled", "listed"]  # how the Bybit position comes to the sidecar: a market order, or a position read
BID = 30000.0  # far under the 50000 mark: bids rest
CODES = {"binanceusdm": "-2010", "bybit": "110032"}  # each venue's refusal code for a blocked order


@dataclass(frozen=True)
class Desk:
    """One account: a fresh key on the Binance fake and one on the Bybit fake, listed under one label."""

    label: str
    binance: tuple[str, str]
    bybit: tuple[str, str]

    def policy_entry(self) -> str:
        return (f'  {self.label}: {{fingerprints: ["{fingerprint(self.binance[0])}", '
                f'"{fingerprint(self.bybit[0])}"]}}\n')


def new_desk(fakes: Fakes, label: str) -> Desk:
    binance = ("desk-binance-" + secrets.token_hex(12), "secret-" + secrets.token_hex(16))
    bybit = ("desk-bybit-" + secrets.token_hex(12), "secret-" + secrets.token_hex(16))
    fakes.binanceusdm.add_account(*binance)
    fakes.bybit.add_account(*bybit)
    return Desk(label, binance, bybit)


def policy_for(per: str, desks: list[Desk]) -> str:
    return ("version: 1\nmode: enforce\naccounts:\n" + "".join(desk.policy_entry() for desk in desks)
            + f"rules:\n  - id: gross\n    type: max_gross_exposure\n    notional: {LIMIT}\n    per: {per}\n")


def launch(folder: Path, per: str, desks: list[Desk], fakes: Fakes, pki: TlsMaterial) -> Sidecar:
    return start_sidecar_for(folder, policy_for(per, desks), fakes, pki)


def bots(desk: Desk, fakes: Fakes, sidecar: Sidecar, wiring: str) -> tuple[Bot, Bot]:
    """The desk's ccxt bots, Binance's and Bybit's, through `sidecar` wired as `wiring`."""
    (bkey, bsecret), (ykey, ysecret) = desk.binance, desk.bybit
    binance: Any
    bybit: Any
    if wiring == "explicit":
        binance = proxied_bot(fakes.binanceusdm.base_url, sidecar.proxy_url, sidecar.ca_cert, api_key=bkey,
                              secret=bsecret)
        bybit = make_bybit(fakes.bybit.base_url, api_key=ykey, secret=ysecret, ca_file=sidecar.ca_cert,
                           https_proxy=sidecar.proxy_url)
    else:
        binance = reverse_bot(sidecar.reverse_url_for("binanceusdm"), api_key=bkey, secret=bsecret)
        bybit = make_bybit(sidecar.reverse_url_for("bybit"), api_key=ykey, secret=ysecret)
    binance.load_markets()
    bybit.load_markets()
    return (Bot("binanceusdm", bkey, fakes.binanceusdm, sidecar, binance),
            Bot("bybit", ykey, fakes.bybit, sidecar, bybit))


def bid(bot: Bot, amount: float) -> Any:
    return bot.order(BTC, "limit", "buy", BID, amount=amount)


def sent(request: Any) -> str:
    return f"{request.params}{request.body.decode()}"


def hold_on_bybit(fakes: Fakes, bybit: Bot, source: str) -> None:
    """0.01 BTC long on Bybit (500 at the mark), known to the sidecar with Bybit's BTC mark."""
    if source == "filled":
        bybit.learn_mark(BTC)  # tickers: the mark, so the market order has a price
        bybit.order(BTC, "market", "buy")
    else:
        fakes.bybit.set_position(bybit.api_key, "BTCUSDT", Decimal("0.01"))
        bybit.exchange.fetch_positions([BTC])  # the row carries markPrice
    assert fakes.bybit.position(bybit.api_key, "BTCUSDT") == Decimal("0.01")


def assert_gross_block(bot: Bot, raised: pytest.ExceptionInfo[Any], gross: Decimal) -> None:
    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    assert "GROSS_EXPOSURE_EXCEEDS_MAX" in str(raised.value) and CODES[bot.venue] in str(raised.value)
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["rule_id"], line["venue"]) == ("GROSS_EXPOSURE_EXCEEDS_MAX", "gross", bot.venue)
    context = line["context"]
    assert context["symbol"] == "BTCUSDT"
    assert (Decimal(context["gross_exposure"]), Decimal(context["max_gross_exposure"])) == (gross, LIMIT), line


# ---- one sidecar per policy, its desks made before it starts ---------------------------------------------------


@pytest.fixture(scope="module")
def desks(fakes: Fakes) -> dict[tuple[str, str, str], Desk]:
    """A desk per (per, source, wiring): no two tests share an account."""
    return {(per, source, wiring): new_desk(fakes, f"desk_{per}_{source}_{wiring}")
            for per in ("account", "venue") for source in SOURCES for wiring in WIRINGS}


@pytest.fixture(scope="module")
def sidecars(desks: dict[tuple[str, str, str], Desk], fakes: Fakes, pki: TlsMaterial,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Sidecar]]:
    running: dict[str, Sidecar] = {}
    try:
        for per in ("account", "venue"):
            mine = [desk for key, desk in desks.items() if key[0] == per]
            running[per] = launch(tmp_path_factory.mktemp(f"gross-per-{per}"), per, mine, fakes, pki)
        yield running
    finally:
        for sidecar in running.values():
            sidecar.stop()


# ---- (a) per: account: the Bybit position counts against a Binance order ---------------------------------------


@pytest.mark.parametrize("wiring", WIRINGS)
@pytest.mark.parametrize("source", SOURCES)
def test_binance_order_when_the_desk_holds_on_bybit_then_blocked_over_the_sum_per_account(
    desks: dict[tuple[str, str, str], Desk], sidecars: dict[str, Sidecar], fakes: Fakes, source: str, wiring: str
) -> None:
    binance, bybit = bots(desks["account", source, wiring], fakes, sidecars["account"], wiring)
    hold_on_bybit(fakes, bybit, source)
    binance.learn_mark(BTC)

    with pytest.raises(ccxt.BaseError) as raised:
        bid(binance, 0.015)  # 750 alone (fits), 1250 with Bybit's 500
    bid(binance, 0.01)  # 500 + 500: exactly the limit
    with pytest.raises(ccxt.BaseError) as back:
        bid(bybit, 0.001)  # and the other way: Binance's resting 500 counts against Bybit (1050)

    [fits] = binance.orders_received()
    assert fits.status == 200 and "0.01" in sent(fits) and "0.015" not in sent(fits)
    assert len(bybit.orders_received()) == (1 if source == "filled" else 0)
    assert_gross_block(binance, raised, Decimal(1250))
    assert_gross_block(bybit, back, Decimal(1050))
    assert [line["qty"] for line in binance.decisions(verdict="allow")] == ["0.01"]
    assert len(binance.decisions(verdict="block")) == 1


# ---- (b) per: venue: the Bybit position is not summed ----------------------------------------------------------


@pytest.mark.parametrize("wiring", WIRINGS)
@pytest.mark.parametrize("source", SOURCES)
def test_binance_order_when_the_desk_holds_on_bybit_then_only_binance_counts_per_venue(
    desks: dict[tuple[str, str, str], Desk], sidecars: dict[str, Sidecar], fakes: Fakes, source: str, wiring: str
) -> None:
    binance, bybit = bots(desks["venue", source, wiring], fakes, sidecars["venue"], wiring)
    hold_on_bybit(fakes, bybit, source)
    binance.learn_mark(BTC)

    bid(binance, 0.015)  # 750: Bybit's 500 not summed
    bid(binance, 0.005)  # 1000 on Binance alone (1500 had Bybit counted)
    with pytest.raises(ccxt.BaseError) as raised:
        bid(binance, 0.001)  # the rule still holds on Binance: 1050
    bid(bybit, 0.01)  # nor does Binance's 1000 count on Bybit: 500 + 500 there

    assert [r.status for r in binance.orders_received()] == [200, 200]
    assert len(bybit.orders_received()) == (2 if source == "filled" else 1)
    assert_gross_block(binance, raised, Decimal(1050))
    assert [line["qty"] for line in binance.decisions(verdict="allow")] == ["0.015", "0.005"]
    assert len(bybit.decisions(verdict="block")) == 0


# ---- (c) per: account: a Bybit position with no Bybit mark known ----------------------------------------------


@pytest.mark.parametrize("wiring", WIRINGS)
def test_binance_order_when_the_desk_holds_on_bybit_without_a_bybit_mark_then_price_unknown(
    fakes: Fakes, pki: TlsMaterial, tmp_path: Path, wiring: str
) -> None:
    desk = new_desk(fakes, "desk")
    sidecar = launch(tmp_path, "account", [desk], fakes, pki)  # its own: no Bybit BTC mark ever passed it
    try:
        binance, bybit = bots(desk, fakes, sidecar, wiring)
        binance.learn_mark(BTC)  # Binance's BTC mark only
        bid(binance, 0.001)  # nothing held on Bybit yet: 50
        bid(bybit, 0.01)  # rests on Bybit, valued at its own price there (300); Bybit's mark still unseen

        with pytest.raises(ccxt.BaseError) as raised:
            bid(binance, 0.001)  # the Bybit bid has no Bybit mark to be valued at
        blocked = binance.decisions(verdict="block")
        bybit.learn_mark(BTC)  # once Bybit's mark passes, the sum is known: 50 + 500 + 50
        bid(binance, 0.001)

        assert [r.status for r in binance.orders_received()] == [200, 200]
        [resting] = bybit.orders_received()
        assert resting.status == 200 and "30000" in sent(resting)
        assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
        assert "PRICE_UNKNOWN" in str(raised.value) and CODES["binanceusdm"] in str(raised.value)
        [line] = blocked
        assert (line["reason"], line["rule_id"], line["venue"]) == ("PRICE_UNKNOWN", "gross", "binanceusdm")
        assert line["context"]["symbol"] == "bybit:BTCUSDT", line
        assert len(binance.decisions(verdict="allow")) == 2 and len(binance.decisions(verdict="block")) == 1
    finally:
        sidecar.stop()
