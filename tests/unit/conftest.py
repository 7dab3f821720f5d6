"""Unit tests share one process: what an adapter remembers of the traffic it read is forgotten between tests."""

from collections.abc import Iterator

import pytest

from riskwall.venues.bitget import HELD_SYMBOLS


@pytest.fixture(autouse=True)
def _no_held_symbols() -> Iterator[None]:
    HELD_SYMBOLS.clear()
    yield
    HELD_SYMBOLS.clear()
