"""The instrument catalog keeps what a testnet or demo book listed apart from the production facts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from riskwall.instruments import Instrument, InstrumentCatalog, facts_of
from riskwall.model import Venue

LIVE = Instrument(Venue.OKX, "BTC-USDT-SWAP", "BTC/USDT:USDT", Decimal("0.01"), code=10)
DEMO = Instrument(Venue.OKX, "BTC-USDT-SWAP", "BTC/USDT:USDT", Decimal("0.0001"), code=11)
BUNDLED = Instrument(Venue.OKX, "ETH-USDT-SWAP", "ETH/USDT:USDT", Decimal("0.1"))


@pytest.mark.parametrize(("environment", "contract_size", "code"), [
    ("", Decimal("0.01"), 10),  # production reads the production listing only
    ("demo", Decimal("0.0001"), 11),  # the demo book its own
    ("testnet", Decimal("0.01"), 10),  # a book that listed nothing falls back to production's
], ids=["production", "demo", "testnet-without-a-listing"])
def test_lookup_when_a_demo_book_listed_other_facts_then_each_environment_reads_its_own(
    environment: str, contract_size: Decimal, code: int
) -> None:
    catalog = InstrumentCatalog((BUNDLED,))
    catalog.learn((LIVE,))
    catalog.learn((DEMO,), "demo")  # learned last: it must not replace the live listing

    with facts_of(environment):
        found = catalog.lookup(Venue.OKX, "BTC-USDT-SWAP")
        by_code = catalog.by_code(Venue.OKX, code)
        bundled = catalog.lookup(Venue.OKX, "ETH-USDT-SWAP")

    assert found is not None and found.contract_size == contract_size
    assert by_code is not None and by_code.contract_size == contract_size
    assert catalog.by_code(Venue.OKX, 11) is None  # outside the block: production again, which has no code 11
    assert bundled == BUNDLED


def test_facts_of_when_nested_then_the_outer_environment_returns() -> None:
    catalog = InstrumentCatalog()
    catalog.learn((DEMO,), "demo")

    with facts_of("demo"):
        with facts_of(""):
            inner = catalog.lookup(Venue.OKX, "BTC-USDT-SWAP")
        outer = catalog.lookup(Venue.OKX, "BTC-USDT-SWAP")

    assert (inner, outer) == (None, DEMO)
