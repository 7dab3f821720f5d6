"""The proxy's event loop (`--event-loop`, `riskwall.proxy.event_loop_factory`): uvloop's by default, the standard
library's when asked for or when uvloop is not installed; what runs is what `/v1/status` reports."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from riskwall import settings
from riskwall.addon import RiskFirewall
from riskwall.proxy import event_loop_factory


@pytest.mark.parametrize(("name", "factory"), [
    ("uvloop", uvloop.new_event_loop),
    ("asyncio", None),  # asyncio.run's own
], ids=["uvloop", "asyncio"])
def test_event_loop_factory_when_named_then_that_loop(name: str, factory: object) -> None:
    assert event_loop_factory(name) is factory


def test_event_loop_factory_when_uvloop_is_not_installed_then_asyncio_and_says_so(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError

    assert event_loop_factory("uvloop") is None
    assert "uvloop is not installed" in capsys.readouterr().err


def test_event_loop_setting_when_not_given_then_uvloop_and_only_the_two_names() -> None:
    setting = settings.BY_NAME["event_loop"]

    assert (setting.default, setting.choices, setting.env) == ("uvloop", ("uvloop", "asyncio"), "RISKWALL_EVENT_LOOP")
    with pytest.raises(ValueError, match="--event-loop"):
        setting.value("trio")


@pytest.mark.parametrize(("name", "reported"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_status_when_running_on_a_loop_then_names_it(name: str, reported: str) -> None:
    async def status() -> object:
        return RiskFirewall().status()["event_loop"]

    assert asyncio.run(status(), loop_factory=event_loop_factory(name)) == reported
