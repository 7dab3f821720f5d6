"""Capture on the running sidecar, then replay last week's orders against a tighter policy before merging it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ccxt
import pytest
from tests.e2e.conftest import launch, make_trader_factory
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.support.secrets import credentials_seen
from tests.support.tls import TlsMaterial

pytestmark = pytest.mark.e2e

ETH = "ETH/USDT:USDT"
RISKWALL = str(Path(sys.executable).parent / "riskwall")
POLICY = "rules:\n  - id: order-qty\n    type: max_order_qty\n    default: {limit}\n"


def test_replay_when_capture_replayed_against_tighter_policy_then_reports_what_it_would_block(
    tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial
) -> None:
    current, tighter, capture = tmp_path / "current.yaml", tmp_path / "tighter.yaml", tmp_path / "capture.jsonl"
    current.write_text(POLICY.format(limit=5))
    tighter.write_text(POLICY.format(limit="0.3"))
    sidecar = launch(tmp_path / "sidecar", current, fake, pki, extra_args=["--capture", str(capture)])
    try:
        trader = make_trader_factory(fake, sidecar, "reverse")()
        for quantity in (0.1, 0.5, 1, 2):
            trader.bot.create_order(ETH, "limit", "buy", quantity, 2900)
        with pytest.raises(ccxt.InvalidOrder):
            trader.bot.create_order(ETH, "limit", "buy", 6, 2900)
    finally:
        sidecar.stop()

    result = subprocess.run([RISKWALL, "replay", "--policy", str(tighter), str(capture), "--json",
                             "--venue-host", f"binanceusdm={fake.host_port}"],
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["totals"]["decisions"] == 5
    [qty] = [r for r in report["rules"] if r["rule_id"] == "order-qty"]
    assert (qty["verdict"], qty["reason"], qty["count"]) == ("block", "ORDER_QTY_EXCEEDS_MAX", 4)
    assert report["totals"]["newly_blocked"] == 3  # 0.5, 1 and 2 passed the old limit of 5
    text = capture.read_text()
    assert text.count("\n") >= 5
    assert not [s for s in credentials_seen() if s in text]
