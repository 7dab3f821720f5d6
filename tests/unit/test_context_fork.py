"""The sidecar forks mitmproxy's per-request proxy Context without building the server connection mitmproxy's fork
throws away (`riskwall.proxy.lean_context_fork`): the copy holds the same things, and a mitmproxy whose Context
holds anything more keeps its own fork."""

from __future__ import annotations

from typing import Any

import pytest
from mitmproxy import connection, options
from mitmproxy.proxy.context import Context

from riskwall.proxy import lean_context_fork

MITMPROXY_FORK = vars(Context)["fork"]


@pytest.fixture(autouse=True)
def restore_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    # whatever lean_context_fork replaces is put back after the test: the rest of the session keeps mitmproxy's
    monkeypatch.setattr(Context, "fork", MITMPROXY_FORK)


def a_context() -> Context:
    client = connection.Client(peername=("127.0.0.1", 50000), sockname=("127.0.0.1", 8080), timestamp_start=1.0)
    ctx = Context(client, options.Options())
    ctx.server = connection.Server(address=("fapi.binance.com", 443))
    ctx.layers = [object(), object()]
    return ctx


def held(ctx: Context) -> dict[str, Any]:
    return {name: (value if name == "layers" else id(value)) for name, value in vars(ctx).items()}


def test_fork_when_lean_then_the_copy_holds_what_mitmproxys_holds() -> None:
    original = a_context()
    expected = MITMPROXY_FORK(original)

    lean_context_fork()
    lean_context_fork()  # the sidecar may be served twice in one process (tests): a second call changes nothing
    copy = original.fork()

    assert vars(Context)["fork"] is not MITMPROXY_FORK
    assert type(copy) is type(expected) is Context
    assert held(copy) == held(expected)  # the same client, options and server objects, an equal layer list
    assert copy.layers is not original.layers  # a layer the stream adds is not the connection's
    copy.layers.append(object())
    assert len(original.layers) == 2


def test_fork_when_mitmproxys_context_holds_another_field_then_its_own_fork_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    init = Context.__init__

    def init_with_more(self: Context, client: connection.Client, opts: options.Options) -> None:
        init(self, client, opts)
        self.more = "a field a later mitmproxy adds"  # type: ignore[attr-defined]

    monkeypatch.setattr(Context, "__init__", init_with_more)

    lean_context_fork()

    assert vars(Context)["fork"] is MITMPROXY_FORK
    assert a_context().fork().more == "a field a later mitmproxy adds"  # type: ignore[attr-defined]
