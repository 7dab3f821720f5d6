"""Hot reload on the running sidecar: a valid change decides the next order, a broken one changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from tests.e2e.conftest import launch, make_trader_factory
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.support.sidecar import Sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

ETH = "ETH/USDT:USDT"
POLICY = """
rules:
  - id: order-qty
    type: max_order_qty
    default: {limit}
"""


@pytest.fixture
def reloading(tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial) -> Iterator[tuple[Sidecar, Path]]:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "main.yaml").write_text(POLICY.format(limit=2))
    running = launch(tmp_path / "sidecar", policy_dir, fake, pki, extra_args=["--policy-poll", "0.1"])
    yield running, policy_dir / "main.yaml"
    running.stop()


def wait_for_event(sidecar: Sidecar, event: str, count: int = 1, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [line for line in sidecar.log_lines() if line.get("event") == event]
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.05)
    raise AssertionError(f"no {event} line within {timeout_s}s:\n{sidecar.output()}")


def test_policy_file_when_changed_then_next_order_uses_new_policy_and_broken_change_keeps_last_good(
    reloading: tuple[Sidecar, Path], fake: FakeBinanceUsdm
) -> None:
    sidecar, policy_file = reloading
    trader = make_trader_factory(fake, sidecar, "reverse")()
    trader.bot.create_order(ETH, "limit", "buy", 1, 2900)
    first_revision = sidecar.decisions(verdict="allow")[-1]["policy_revision"]

    policy_file.write_text(POLICY.format(limit="0.5"))
    reloaded = wait_for_event(sidecar, "policy_reloaded")
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(ETH, "limit", "buy", 1, 2900)
    blocked = sidecar.decisions(verdict="block")[-1]
    assert blocked["context"]["max_qty"] == "0.5"
    assert blocked["policy_revision"] == reloaded["revision"] != first_revision

    policy_file.write_text("rules:\n  - id: order-qty\n    type: max_order_qty\n    default: lots\n")
    failed = wait_for_event(sidecar, "policy_reload_failed")
    assert any("rules[0].default" in error for error in failed["errors"])
    assert failed["kept_revision"] == reloaded["revision"]
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(ETH, "limit", "buy", 1, 2900)
    trader.bot.create_order(ETH, "limit", "buy", 0.4, 2900)
    assert [r.params["quantity"] for r in trader.orders_received()] == ["1", "0.4"]


POSITION_POLICY = """
rules:
  - id: position
    type: max_position
    default: {{qty: 1}}
{accounts}"""


def test_policy_reload_when_it_moves_a_trading_key_to_a_label_then_the_label_only_reduces_until_resumed(
    reloading: tuple[Sidecar, Path], fake: FakeBinanceUsdm
) -> None:
    # the key trades unlisted: its 0.8 resting buy is counted under its own fingerprint. A label added by a
    # reload would start from nothing (a further 0.8 would pass, 1.6 against a limit of 1): it only reduces
    sidecar, policy_file = reloading
    policy_file.write_text(POSITION_POLICY.format(accounts=""))
    wait_for_event(sidecar, "policy_reloaded")
    trader = make_trader_factory(fake, sidecar, "reverse")()
    trader.bot.create_order(ETH, "limit", "buy", 0.8, 2900)
    key = fingerprint(trader.api_key)

    policy_file.write_text(POSITION_POLICY.format(accounts=f"accounts:\n  desk:\n    fingerprints: [\"{key}\"]\n"))
    moved = wait_for_event(sidecar, "account_moved")
    wait_for_event(sidecar, "policy_reloaded", count=2)

    with pytest.raises(ccxt.PermissionDenied):
        trader.bot.create_order(ETH, "limit", "buy", 0.8, 2900)
    assert sidecar.decisions(verdict="block")[-1]["reason"] == "TRADING_REDUCING"
    assert (moved["fingerprint"], moved["previous"], moved["holder"]) == (key, key, "label:desk")
    assert [r.params["quantity"] for r in trader.orders_received()] == ["0.8"]
