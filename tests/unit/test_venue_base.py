"""The rules every venue adapter shares: hedge-mode closing sides (riskwall.model) and the text-neutralising
`Steering` of rejection messages (riskwall.venues.base), tested once here rather than per venue."""

from __future__ import annotations

import re

import pytest

from riskwall.model import PositionSide, Reason, Side, Violation, closes_hedge_position, closing_side
from riskwall.venues.base import MAX_MESSAGE_TEXT, Steering

# ---- hedge mode: a SELL on LONG or a BUY on SHORT only closes ---------------------------------------------


@pytest.mark.parametrize(
    ("side", "position_side", "closes"),
    [
        (Side.SELL, PositionSide.LONG, True),
        (Side.BUY, PositionSide.SHORT, True),
        (Side.BUY, PositionSide.LONG, False),
        (Side.SELL, PositionSide.SHORT, False),
        (Side.BUY, PositionSide.BOTH, False),
        (Side.SELL, PositionSide.BOTH, False),
        (None, PositionSide.LONG, False),
        (None, PositionSide.SHORT, False),
        (Side.SELL, None, False),
        (Side.BUY, None, False),
    ],
)
def test_closes_hedge_position_when_side_against_position_side_then_only_that_pair_closes(
        side: Side | None, position_side: PositionSide | None, closes: bool) -> None:
    assert closes_hedge_position(side, position_side) is closes


@pytest.mark.parametrize(
    ("position_side", "side"),
    [(PositionSide.LONG, Side.SELL), (PositionSide.SHORT, Side.BUY), (PositionSide.BOTH, None), (None, None)],
)
def test_closing_side_when_position_side_given_then_the_side_that_closes_it(
        position_side: PositionSide | None, side: Side | None) -> None:
    assert closing_side(position_side) is side
    if side is not None:
        assert closes_hedge_position(side, position_side)


# ---- Steering: rejection text that picks no client exception by accident ----------------------------------

_STEERING = Steering("LOT_SIZE", "Request timeout", "overloaded")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words", "plain words"),
        ("LOT_SIZE", "L\u00adOT-SIZE"),
        ("lot_size", "l\u00adot-size"),
        ("a Request timeout here", "a R\u00adequest\u00a0timeout here"),
        ("overloaded and OVERLOADED", "o\u00adverloaded and O\u00adVERLOADED"),
    ],
)
def test_neutral_when_text_holds_a_steering_phrase_then_respelled_to_match_no_phrase(text: str,
                                                                                     expected: str) -> None:
    neutral = _STEERING.neutral(text)
    assert neutral == expected
    for phrase in ("LOT_SIZE", "Request timeout", "overloaded"):
        assert phrase.lower() not in neutral.lower()
    # read by a person, only soft hyphens, no-break spaces and '-' for '_' changed
    assert neutral.replace("\u00ad", "").replace("\u00a0", " ").replace("-", "_") == text.replace("-", "_")


@pytest.mark.parametrize("steering", [_STEERING, Steering()])
def test_neutral_when_text_longer_than_bound_then_cut_to_bound_with_ellipsis(steering: Steering) -> None:
    neutral = steering.neutral("x" * (MAX_MESSAGE_TEXT * 4))
    assert neutral == "x" * MAX_MESSAGE_TEXT + "..."


def test_neutral_when_no_phrases_then_text_unchanged() -> None:
    assert Steering().neutral("LOT_SIZE overloaded") == "LOT_SIZE overloaded"


def test_message_when_violation_names_a_phrase_then_rule_and_detail_neutral_in_the_common_text() -> None:
    violation = Violation.of("lot_size-rule", Reason.TRADING_HALTED, None, reason="venue overloaded")
    message = _STEERING.message(violation, "pre: ")
    assert re.fullmatch(r"Risk firewall blocked this request \(l\u00adot-size-rule\): pre: TRADING_HALTED: "
                        r"reason=venue o\u00adverloaded", message)


def test_message_when_no_violation_then_names_riskwall_blocked() -> None:
    assert _STEERING.message(None) == "Risk firewall blocked this request (riskwall): blocked"
