"""The sidecar's addon manager (`riskwall.proxy.LeanAddonManager`) calls the same hooks, in the same order and with
the same error handling, as mitmproxy's own; it only skips the addons that have no hook for an event."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from mitmproxy import exceptions, options
from mitmproxy.master import Master
from mitmproxy.proxy.layers.http import HttpRequestHook, HttpResponseHook
from mitmproxy.test import tflow

from riskwall.proxy import LeanAddonManager, LeanMaster

Calls = list[tuple[str, str, str]]  # (addon, hook, the id of the flow it was handed)


class Recording:
    """An addon that records each hook it has, by its own name; `fails` raises in `request`, `halts` stops the chain."""

    def __init__(self, name: str, calls: Calls, *, fails: bool = False, halts: bool = False) -> None:
        self.name, self.calls, self.fails, self.halts = name, calls, fails, halts

    def request(self, flow: Any) -> None:
        self.calls.append((self.name, "request", flow.id))
        if self.fails:
            raise RuntimeError("addon bug")
        if self.halts:
            raise exceptions.AddonHalt()


class AsyncResponse:
    def __init__(self, name: str, calls: Calls) -> None:
        self.name, self.calls = name, calls

    async def response(self, flow: Any) -> None:
        await asyncio.sleep(0)
        self.calls.append((self.name, "response", flow.id))


class Parent:
    """An addon with children (mitmproxy walks `addons` attributes), and a hook of its own."""

    def __init__(self, name: str, calls: Calls, *children: Any) -> None:
        self.name, self.calls = name, calls
        self.addons = [Recording(f"{name}.child", calls), AsyncResponse(f"{name}.async-child", calls), *children]

    def response(self, flow: Any) -> None:
        self.calls.append((self.name, "response", flow.id))


class Updates:
    """An addon that handles mitmproxy's `update` event (riskwall's do not: the lean manager then builds none)."""

    def __init__(self, name: str, calls: Calls) -> None:
        self.name, self.calls = name, calls

    def update(self, flows: Any) -> None:
        self.calls.extend((self.name, "update", flow.id) for flow in flows)


class Silent:
    """No hooks at all (as most of mitmproxy's addons are for a given event)."""

    def __init__(self, name: str) -> None:
        self.name = name


def chain(calls: Calls, case: str) -> list[Any]:
    return {
        "plain": [Silent("a"), Recording("b", calls), Silent("c"), AsyncResponse("d", calls), Recording("e", calls)],
        "children": [Parent("p", calls), Silent("q"), Recording("r", calls)],
        "a hook raises": [Recording("b", calls, fails=True), Recording("c", calls), AsyncResponse("d", calls)],
        "a hook halts": [Recording("b", calls), Recording("c", calls, halts=True), Recording("d", calls)],
        "an addon handles update": [Recording("b", calls), Updates("u", calls), AsyncResponse("d", calls)],
        "a child handles update": [Silent("a"), Parent("p", calls, Updates("p.updates", calls)), Recording("r", calls)],
    }[case]


async def run(master_type: type[Master], case: str) -> Calls:
    calls: Calls = []
    master = master_type(options.Options())
    master.addons.add(*chain(calls, case))
    flows = [tflow.tflow(resp=True), tflow.tflow(resp=True)]
    flows[0].id, flows[1].id = "flow-1", "flow-2"  # the same ids under both masters, so their calls compare
    for flow in flows:
        for event in (HttpRequestHook(flow), HttpResponseHook(flow)):
            await master.addons.handle_lifecycle(event)  # each followed by an `update` event, as in service
    return calls


CASES = ["plain", "children", "a hook raises", "a hook halts", "an addon handles update", "a child handles update"]


@pytest.mark.parametrize("case", CASES)
async def test_dispatch_when_events_are_triggered_then_the_same_hooks_run_as_under_mitmproxy(
    case: str, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        theirs = await run(Master, case)
        their_errors = [r.getMessage() for r in caplog.records]
        caplog.clear()
        ours = await run(LeanMaster, case)
        our_errors = [r.getMessage() for r in caplog.records]

    assert ours == theirs and ours
    assert our_errors == their_errors


async def test_dispatch_when_an_addon_is_added_after_events_then_it_gets_the_next_ones() -> None:
    calls: Calls = []
    master = LeanMaster(options.Options())
    master.addons.add(Recording("first", calls))
    flow = tflow.tflow()
    await master.addons.handle_lifecycle(HttpRequestHook(flow))
    master.addons.add(Recording("second", calls))
    await master.addons.handle_lifecycle(HttpRequestHook(flow))
    master.addons.remove(master.addons.get("first"))
    await master.addons.handle_lifecycle(HttpRequestHook(flow))

    assert calls == [("first", "request", flow.id), ("first", "request", flow.id), ("second", "request", flow.id),
                     ("second", "request", flow.id)]
    assert isinstance(master.addons, LeanAddonManager)  # the master runs the lean one, not mitmproxy's
