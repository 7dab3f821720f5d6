"""What one sidecar of a fleet learned, every other sidecar on the same Redis uses (issue 14, item 2).

The facts a request leaves out (the side of the order an amend names by the bot's id, a price to turn USD
contracts into coin, an account's position mode) used to live in each sidecar's memory, so the same request was
decided differently depending on which sidecar it reached. They live in the store now: here a bot's traffic is
split over two sidecars sharing one `redis-server`, and what the first learned decides what the second admits.

Each test module starts its own `redis-server` (`redis_server`, from the Redis fleet suite); without the binary
the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP
from tests.e2e.test_redis_fleet_e2e import redis_server  # noqa: F401 - a fixture
from tests.fakes.bybit import FakeBybit
from tests.support.bybit_bots import make_pybit
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

POLICY = """
version: 1
mode: enforce
rules:
  - id: position
    type: max_position
    symbols: {BTCUSDT: {qty: 1}, "BTC/USD:BTC": {qty: 1}}
"""


@pytest.fixture(scope="module")
def bybit_fake(pki: TlsMaterial) -> Iterator[FakeBybit]:
    with watch(FakeBybit(tls=pki.server_ssl_context())) as venue:
        yield venue


@pytest.fixture
def pair(tmp_path: Path, bybit_fake: FakeBybit, pki: TlsMaterial,
         redis_server: object) -> Iterator[tuple[Sidecar, Sidecar]]:  # noqa: F811 - the fixture imported above
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    url = f"{redis_server.url}?timeout_ms=250"  # type: ignore[attr-defined]
    started = [start_sidecar(tmp_path / name, policy, upstreams={"bybit": bybit_fake.base_url},
                             upstream_ca=pki.ca_cert, extra_args=["--state", url]) for name in ("a", "b")]
    yield started[0], started[1]
    for sidecar in started:
        sidecar.stop()


Bots = tuple[HTTP, HTTP, str]


@pytest.fixture
def bots(pair: tuple[Sidecar, Sidecar], bybit_fake: FakeBybit) -> Bots:
    """One account, a pybit session on each sidecar (reverse wiring)."""
    key, secret = "fleet-" + secrets.token_hex(12), "secret-" + secrets.token_hex(18)
    bybit_fake.add_account(key, secret)
    first, second = (make_pybit(s.reverse_url_for("bybit"), api_key=key, secret=secret) for s in pair)
    return first, second, key


def amends_received(fake: FakeBybit, key: str) -> list[dict[str, object]]:
    return [dict(r.params) for r in fake.requests if r.api_key == key and r.path == "/v5/order/amend"]


@pytest.mark.parametrize(("name", "qty", "admitted"), [
    ("within the limit", "0.9", True),
    ("over the limit", "1.2", False),
])
def test_amend_when_order_was_placed_through_another_sidecar_then_its_side_comes_from_redis(
    bots: Bots, bybit_fake: FakeBybit, pair: tuple[Sidecar, Sidecar], name: str, qty: str, admitted: bool,
) -> None:
    first, second, key = bots
    link = "fleet-" + secrets.token_hex(6)
    first.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.4",
                      price="40000", orderLinkId=link)

    # Bybit's amend names no side; the second sidecar never saw the order, so only the store can say it is a buy
    amend: Callable[[], object] = lambda: second.amend_order(category="linear", symbol="BTCUSDT",  # noqa: E731
                                                             orderLinkId=link, qty=qty)
    if admitted:
        amend()
        assert [a["qty"] for a in amends_received(bybit_fake, key)] == [qty]
    else:
        with pytest.raises(InvalidRequestError) as raised:
            amend()
        assert "POSITION_EXCEEDS_MAX" in str(raised.value)
        assert amends_received(bybit_fake, key) == []
    [line] = pair[1].decisions(account=fingerprint(key), endpoint="POST /v5/order/amend")
    assert (line["verdict"], line.get("reason")) == (("allow", None) if admitted else ("block", "POSITION_EXCEEDS_MAX"))


def test_inverse_market_order_when_only_another_sidecar_saw_the_price_then_the_price_in_redis_converts_it(
    bots: Bots, bybit_fake: FakeBybit, pair: tuple[Sidecar, Sidecar],
) -> None:
    first, second, key = bots
    # the ticker passes the first sidecar only: its mark price goes to the store, for every sidecar
    bybit_fake.set_mark_price("BTCUSD", Decimal(50000))
    first.get_tickers(category="inverse", symbol="BTCUSD")
    too_many = "75000"  # USD contracts: 1.5 BTC at 50,000, over the 1 BTC limit

    with pytest.raises(InvalidRequestError) as raised:
        second.place_order(category="inverse", symbol="BTCUSD", side="Buy", orderType="Market", qty=too_many)
    second.place_order(category="inverse", symbol="BTCUSD", side="Buy", orderType="Market", qty="1000")

    assert "POSITION_EXCEEDS_MAX" in str(raised.value)  # converted and measured, not "no price is known"
    assert bybit_fake.position(key, "BTCUSD") == Decimal("1000")
