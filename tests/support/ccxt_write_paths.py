"""The venues' write-only paths as ccxt's API tables list them: every path ccxt sends a POST, PUT or DELETE to and
never a GET, on the hosts a riskwall adapter covers. riskwall keeps them in `addons/riskwall/venues/write_paths.json`
(ccxt is no runtime dependency), where a read method sent to one is refused rather than passed as a read: a server
that took a GET there for its write would run an order nobody checked.

`python -m tests.support.ccxt_write_paths --write` regenerates the file from the installed ccxt;
`tests/unit/test_write_paths.py` fails while the file and ccxt differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt

DATA_FILE = Path(__file__).resolve().parents[2] / "addons" / "riskwall" / "venues" / "write_paths.json"
METHODS = ("get", "post", "put", "delete", "patch")

# riskwall venue → the ccxt exchange whose tables describe it, and its API sections on hosts the adapter covers
# (Binance's: each section's own path, from ccxt's `urls.api`); a venue given a prefix keeps every section under it
# (ccxt's `sign`). A GET in any section of the tables, public ones too, makes a path a read as well.
SOURCES: Mapping[str, tuple[str, tuple[str, ...], str | None]] = {
    "binanceusdm": ("binanceusdm", ("fapiPrivate", "fapiPrivateV2", "fapiPrivateV3", "sapi", "sapiV2", "sapiV3",
                                    "sapiV4", "private", "papi", "papiV2", "eapiPrivate"), None),
    "binancecoinm": ("binancecoinm", ("dapiPrivate", "dapiPrivateV2"), None),
    "bybit": ("bybit", ("private",), "/"),
    "okx": ("okx", ("private",), "/api/v5/"),
    "bitget": ("bitget", ("private",), "/api/"),
    "bitmex": ("bitmex", ("private",), "/api/v1/"),
}

# reads the venues serve at a path ccxt lists only writes at: Binance's algo-order query, documented on fapi
# (`GET /fapi/v1/algoOrder`) and served on dapi too (docs/venues.md §1, §2.2)
READS_CCXT_OMITS = frozenset({"/dapi/v1/algoorder"})


def _endpoints(api: Any, section: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """(section, METHOD, path) for every endpoint of a ccxt `describe()['api']` tree."""
    if not isinstance(api, dict):
        return
    for key, value in api.items():
        if key.lower() in METHODS:
            for path in (value.keys() if isinstance(value, dict) else value):
                yield section, key.upper(), path
        else:
            yield from _endpoints(value, (*section, key))


def write_only_paths(venue: str) -> list[str]:
    """`venue`'s write-only paths in the form riskwall compares them (lower case, from the root)."""
    name, covered, prefix = SOURCES[venue]
    described = getattr(ccxt, name)().describe()
    urls = described["urls"]["api"]
    methods: dict[str, set[str]] = defaultdict(set)
    writes: set[str] = set()
    for section, method, path in _endpoints(described["api"]):
        top = section[0]
        if prefix is not None:
            full = prefix + path
        elif isinstance(urls.get(top), str):
            full = urlsplit(urls[top]).path.rstrip("/") + "/" + path
        else:
            continue
        full = full.lower()
        methods[full].add(method)
        if top in covered and method != "GET":
            writes.add(full)
    return sorted(path for path in writes
                  if "GET" not in methods[path] and "{" not in path and path not in READS_CCXT_OMITS)


def generated() -> dict[str, list[str]]:
    return {venue: write_only_paths(venue) for venue in SOURCES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the data file from the installed ccxt")
    args = parser.parse_args(argv)
    text = json.dumps({"ccxt": ccxt.__version__, "paths": generated()}, indent=1, sort_keys=True) + "\n"
    if args.write:
        DATA_FILE.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
