"""What a Redis connection of the store (`_Wire`) takes as proof that the server has a script: an answer from it.

Only a script that answered on the connection may have its call counted as sent before its reply (`Link.send`'s
`written`, for settlements in the background): one the server lacks is refused, loaded and sent again behind
whatever went out meanwhile. Replies are scripted here; what Redis answers in each case is in the ids.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from redis.exceptions import NoPermissionError, NoScriptError, ResponseError

from riskwall.state.redis import _Wire

FUNCTION = "riskwall_learn_0123456789abcdef"


class ScriptedConnection:
    """A connection that answers the replies given, one per `read_response`."""

    socket_timeout = 5.0
    is_connected = True

    def __init__(self, replies: list[Any]) -> None:
        self.replies = deque(replies)
        self.sent: list[bytes] = []

    async def send_packed_command(self, packed: bytes, check_health: bool = False) -> None:
        self.sent.append(packed)

    async def read_response(self, timeout: float | None = None) -> Any:
        reply = self.replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        return reply


@pytest.mark.parametrize(("reply", "proven"), [
    (1700000000000, True),  # the script ran and answered
    # it ran and failed, so the server has it; no error is taken as proof all the same (BUSY, NOPERM below are not)
    (ResponseError("ERR user_script:12: riskwall decimal: not a plain decimal"), False),
    (NoScriptError("NOSCRIPT No matching script."), False),  # EVALSHA: not in the script cache
    (ResponseError("Function not found"), False),  # FCALL: no such library loaded
    (ResponseError("BUSY Redis is busy running a script."), False),  # refused before the lookup
    (NoPermissionError("NOPERM No permissions to access a key"), False),  # refused before the lookup
], ids=["answer", "script-error", "noscript", "function-not-found", "busy", "noperm"])
async def test_reply_when_read_then_only_an_answer_proves_the_server_has_the_script(
        reply: Any, proven: bool) -> None:
    wire = _Wire(ScriptedConnection(["OK", reply]))

    replies = await wire.send(b"...", 2, scripts=[(1, FUNCTION)])

    assert replies[1] == reply if not isinstance(reply, Exception) else replies[1] is reply
    assert (FUNCTION in wire.ran) is proven


@pytest.mark.parametrize("refusal", [NoScriptError("NOSCRIPT No matching script."),
                                     ResponseError("Function not found")], ids=["noscript", "function-not-found"])
async def test_reply_when_a_proven_script_is_refused_as_missing_then_it_must_answer_again(refusal: Any) -> None:
    wire = _Wire(ScriptedConnection([1, refusal]))  # answered once; then removed from the server (a FLUSH)
    await wire.send(b"...", 1, scripts=[(0, FUNCTION)])

    await wire.send(b"...", 1, scripts=[(0, FUNCTION)])

    assert FUNCTION not in wire.ran
