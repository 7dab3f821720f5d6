"""riskwall.venues.hosts: every spelling of a host is one host, and a venue's own domains are that venue's."""

from __future__ import annotations

import pytest

from riskwall.model import Venue
from riskwall.venues import default_host_map, parse_venue_hosts
from riskwall.venues.base import plain_path
from riskwall.venues.hosts import (
    UNKNOWN_ENVIRONMENT,
    HostMap,
    canonical_host,
    environment_of,
    host_key,
    is_ip_literal,
    listen_address,
)


@pytest.mark.parametrize(
    ("spelled", "canonical"),
    [
        ("fapi.binance.com", "fapi.binance.com"),
        ("FAPI.Binance.COM", "fapi.binance.com"),
        ("fapi.binance.com.", "fapi.binance.com"),
        ("fapi.binance.com..", "fapi.binance.com"),
        (" fapi.binance.com ", "fapi.binance.com"),
        ("ｆａｐｉ.binance.com", "fapi.binance.com"),  # fullwidth letters: IDNA maps them to what DNS resolves
        ("localhost", "127.0.0.1"),
        ("LOCALHOST", "127.0.0.1"),
        ("localhost.", "127.0.0.1"),
        ("api.localhost", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("::1", "::1"),
        ("[fe80::1%eth0]", "fe80::1"),
        ("1e100.net", "1e100.net"),
        ("deadbeef", "deadbeef"),  # a name, not an address: inet_aton reads hex only after 0x
    ],
)
def test_canonical_host_when_spelled_another_way_then_one_spelling(spelled: str, canonical: str) -> None:
    assert canonical_host(spelled) == canonical


@pytest.mark.parametrize(("host", "literal"), [("2130706433", True), ("[::1]", True), ("127.1", True),
                                                ("fapi.binance.com", False), ("localhost", True)])
def test_is_ip_literal_when_host_is_an_address_in_any_form_then_true(host: str, literal: bool) -> None:
    assert is_ip_literal(host) is literal


@pytest.mark.parametrize(
    ("host", "port", "venue"),
    [
        ("fapi.binance.com", 443, Venue.BINANCEUSDM),
        ("FAPI.BINANCE.COM.", 443, Venue.BINANCEUSDM),
        ("fapi1.binance.com", 443, Venue.BINANCEUSDM),  # not listed, under Binance's own domain
        ("fstream.binance.com", 443, Venue.BINANCEUSDM),
        ("dapi.binance.com", 443, Venue.BINANCECOINM),
        ("dstream.binance.com", 443, Venue.BINANCECOINM),
        ("binance.com", 443, Venue.BINANCEUSDM),
        ("notbinance.com", 443, None),
        ("binance.com.evil.example", 443, None),
        ("api2.bybit.com", 443, Venue.BYBIT),
        ("stream.bybit.eu", 443, Venue.BYBIT),
        ("my.okx.com", 443, Venue.OKX),
        ("www.okex.com", 443, Venue.OKX),
        ("api.bitget.com", 443, Venue.BITGET),
        ("ws.bitmex.com", 443, Venue.BITMEX),
        ("open-api-swap.bingx.com", 443, Venue.BINGX),
        ("example.com", 443, None),
    ],
)
def test_host_map_when_host_listed_or_under_venue_domain_then_that_venue(host: str, port: int,
                                                                          venue: Venue | None) -> None:
    assert default_host_map().venue(host, port) is venue


@pytest.mark.parametrize("spelled", ["127.0.0.1", "localhost", "LOCALHOST", "127.1", "2130706433",
                                     "[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "0x7f.1"])
def test_host_map_when_venue_mapped_by_address_then_every_spelling_finds_it(spelled: str) -> None:
    hosts = default_host_map() | parse_venue_hosts(["binanceusdm=127.0.0.1:9001"])

    assert hosts.venue(spelled, 9001) is Venue.BINANCEUSDM
    assert hosts.venue(spelled, 9002) is None


def test_parse_venue_hosts_when_spelled_oddly_then_same_key_as_requests() -> None:
    assert parse_venue_hosts(["okx=LOCALHOST.:7000", "bybit=[::ffff:7f00:2]"]) == {
        host_key("127.0.0.1", 7000): Venue.OKX, host_key("127.0.0.2"): Venue.BYBIT}


def test_ip_entries_when_venues_mapped_by_name_and_address_then_only_addresses() -> None:
    hosts = HostMap() | parse_venue_hosts(["binanceusdm=127.0.0.1:9001", "okx=fake.example:9002", "bybit=::1"])

    assert hosts.ip_entries() == {("127.0.0.1", 9001): Venue.BINANCEUSDM, ("::1", None): Venue.BYBIT}


@pytest.mark.parametrize(("path", "plain"), [
    ("/fapi/v1/order", True), ("/fapi/v1/order?symbol=BTCUSDT", True), ("/a.b/c", True), ("/.well-known/x", True),
    ("/fapi/./v1/order", False), ("/fapi/v1/../order", False), ("./fapi", False), ("..", False), ("/a/.", False),
    ("/a/..", False), ("/fapi/%2e%2e/order", False), ("/fapi;x/order", False), ("/fapi\\v1", False), ("/f#x", False),
    ("/fapi/v1/order?#&positionSide=LONG", False), ("/api/v1/order?symbol=XBTUSD#&side=Sell", False),
])
def test_plain_path_when_path_has_escapes_or_dot_segments_then_not_plain(path: str, plain: bool) -> None:
    assert plain_path(path) is plain


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    (":8080", ("127.0.0.1", 8080)),
    ("0.0.0.0:9090", ("0.0.0.0", 9090)),
    ("[::1]:8080", ("::1", 8080)),
    ("localhost:0", ("localhost", 0)),
    (" 127.0.0.1:8080 ", ("127.0.0.1", 8080)),
])
def test_listen_address_when_host_and_port_given_then_both_read(address: str, expected: tuple[str, int]) -> None:
    assert listen_address(address, "--listen") == expected


@pytest.mark.parametrize("address", ["8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536",
                                     "::1:8080", "[::1]", "127.0.0.1:-1"])
def test_listen_address_when_port_missing_or_not_a_port_then_error_names_the_option(address: str) -> None:
    with pytest.raises(ValueError, match=r"--admin .*write HOST:PORT"):
        listen_address(address, "--admin")


B, OKX, BITGET = Venue.BINANCEUSDM, Venue.OKX, Venue.BITGET


@pytest.mark.parametrize(("venue", "host", "headers", "environment"), [
    (B, "fapi.binance.com", {}, ""),
    (B, "FSTREAM.binance.com.", {}, ""),
    (OKX, "www.okx.com", {}, ""),
    (B, "127.0.0.1", {}, ""),  # a fake, a private deployment: production unless its demo header says otherwise
    (B, "testnet.binancefuture.com", {}, "testnet"),
    (B, "fstream.binancefuture.com", {}, "testnet"),
    (B, "demo-fapi.binance.com", {}, "demo"),
    (Venue.BINANCECOINM, "demo-dapi.binance.com", {}, "demo"),
    (Venue.BYBIT, "api-testnet.bybit.com", {}, "testnet"),
    (Venue.BYBIT, "stream-testnet.bybit.com", {}, "testnet"),
    (Venue.BYBIT, "api-demo.bybit.com", {}, "demo"),
    (OKX, "wspap.okx.com", {}, "demo"),
    (OKX, "wseeapap.okx.com", {}, "demo"),
    (BITGET, "wspap.bitget.com", {}, "demo"),
    (Venue.BINGX, "open-api-vst.bingx.com", {}, "demo"),
    (Venue.BITMEX, "testnet.bitmex.com", {}, "testnet"),
    (OKX, "www.okx.com", {"x-simulated-trading": "1"}, "demo"),
    (OKX, "www.okx.com", {"x-simulated-trading": " 1 "}, "demo"),
    (OKX, "www.okx.com", {"x-simulated-trading": "0"}, ""),
    (BITGET, "api.bitget.com", {"paptrading": "1"}, "demo"),
    (OKX, "www.okx.com", {"x-simulated-trading": "true"}, UNKNOWN_ENVIRONMENT),  # which book: the venue's guess
    (OKX, "www.okx.com", {"x-simulated-trading": ""}, UNKNOWN_ENVIRONMENT),
    (BITGET, "api.bitget.com", {"paptrading": "2"}, UNKNOWN_ENVIRONMENT),
    (BITGET, "testnet.binancefuture.com", {"paptrading": "1"}, "testnet"),
    # a venue reads only its own demo header: another's changes nothing there, so nothing here either (a live
    # order sent with it must be valued at live prices)
    (B, "fapi.binance.com", {"paptrading": "1", "x-simulated-trading": "1"}, ""),
    (OKX, "www.okx.com", {"paptrading": "1"}, ""),
    (BITGET, "api.bitget.com", {"x-simulated-trading": "1"}, ""),
    (Venue.BYBIT, "api.bybit.com", {"x-simulated-trading": "true"}, ""),
])
def test_environment_of_when_host_and_headers_vary_then_production_testnet_demo_or_unknown(
    venue: Venue, host: str, headers: dict[str, str], environment: str
) -> None:
    assert environment_of(venue, host, headers) == environment


@pytest.mark.parametrize(("venue", "host", "headers", "environment"), [
    (OKX, "ws.okx.com", {}, ""),
    (OKX, "wspap.okx.com", {}, "demo"),
    (OKX, "wspap.okx.com", {"x-simulated-trading": "1"}, "demo"),
    # the venues name their demo sockets by host: the REST header on a live socket's handshake is read nowhere
    # (a live key would trade live on it), so the book cannot be told
    (OKX, "ws.okx.com", {"x-simulated-trading": "1"}, UNKNOWN_ENVIRONMENT),
    (BITGET, "ws.bitget.com", {"paptrading": "1"}, UNKNOWN_ENVIRONMENT),
    (OKX, "ws.okx.com", {"x-simulated-trading": "0"}, ""),
])
def test_environment_of_when_a_socket_handshake_carries_the_demo_header_then_only_the_host_names_the_book(
    venue: Venue, host: str, headers: dict[str, str], environment: str
) -> None:
    assert environment_of(venue, host, headers, handshake=True) == environment
