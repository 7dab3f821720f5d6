"""`addons/riskwall/venues/write_paths.json` against the installed ccxt's API tables, which it is generated from."""

from __future__ import annotations

import json

import ccxt
import pytest
from tests.support.ccxt_write_paths import DATA_FILE, SOURCES, generated

from riskwall.venues.base import write_only_paths


def test_data_file_when_compared_with_ccxt_then_it_holds_every_write_only_path() -> None:
    stored = json.loads(DATA_FILE.read_text())
    if stored["ccxt"] != ccxt.__version__:  # another release's tables: the file says which it was made from
        pytest.skip(f"write_paths.json is from ccxt {stored['ccxt']}, {ccxt.__version__} is installed: regenerate it "
                    "with `python -m tests.support.ccxt_write_paths --write` and review the difference")

    assert stored == {"ccxt": ccxt.__version__, "paths": generated()}, (
        "write_paths.json is out of date: run `python -m tests.support.ccxt_write_paths --write`")


@pytest.mark.parametrize("venue", sorted(SOURCES))
def test_write_only_paths_when_loaded_then_lower_case_from_the_root(venue: str) -> None:
    paths = write_only_paths(venue)

    assert paths, venue
    assert all(path.startswith("/") and path == path.lower() and "//" not in path for path in paths)
