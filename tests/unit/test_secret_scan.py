"""The end-to-end secret scan (`tests.support.secrets`) takes exactly the credentials a client sent on a WebSocket:
a value it missed would go unscanned, and a value that is no secret (a time) would fail the scan by chance."""

from __future__ import annotations

import json

import pytest
from tests.support.secrets import _frame_credentials

KEY, SIGNATURE, PASSPHRASE = "bybit-key-0123456789", "f" * 64, "okx-passphrase-1"


@pytest.mark.parametrize(("frame", "credentials"), [
    ({"op": "auth", "args": [KEY, "1796555393292", SIGNATURE]}, {KEY, SIGNATURE}),
    ({"op": "auth", "args": [KEY, 1796555393292, SIGNATURE]}, {KEY, SIGNATURE}),
    ({"op": "login", "args": [{"apiKey": KEY, "passphrase": PASSPHRASE, "timestamp": "1796555393",
                               "sign": SIGNATURE}]}, {KEY, PASSPHRASE, SIGNATURE}),
    ({"id": "1", "method": "order.place", "params": {"apiKey": KEY, "timestamp": 1796555393292,
                                                     "signature": SIGNATURE}}, {KEY, SIGNATURE}),
    ({"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]}, set()),
], ids=["bybit-auth", "bybit-auth-numeric-expiry", "okx-login", "binance-order", "public-subscribe"])
def test_scan_frame_when_a_client_authenticates_then_its_key_and_signature_are_taken_not_its_times(
        frame: dict[str, object], credentials: set[str]) -> None:
    assert _frame_credentials(json.dumps(frame)) == credentials


def test_scan_frame_when_not_json_then_nothing_is_taken() -> None:
    assert _frame_credentials("ping") == set()
