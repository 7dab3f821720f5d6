"""`riskwall replay` (riskwall.replay, riskwall.flowfile): captured traffic through adapter, engine and store.

One scenario of thirteen exchanges is written twice, as a mitmproxy flow file (FlowWriter) and as a JSON-lines
capture built with `capture_record`; both must give the same report, counted and exemplified exactly. The
scenario proves that the store's clock follows the capture (a rate window fills and empties), that responses
teach the store (a position read makes a later buy too large), that a shadow rule reports would_block, and
that capture records carry no credential yet still parse as the original request.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from mitmproxy import http
from mitmproxy import io as mitmio
from mitmproxy.test import tflow

from riskwall.addon import read_flow_file
from riskwall.capture import KEPT_HEADERS, CaptureError, capture_record, exchange_from_record, iso_ms
from riskwall.model import Decision, Reason, Venue, Verdict, Violation, fingerprint
from riskwall.policy.testing import attribute_account
from riskwall.replay import run_replay
from riskwall.venues import HttpRequest, adapter_for
from riskwall.venues.base import screen

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "tests" / "fixtures" / "policy_tests" / "policies" / "replay.yaml"
ADAPTER = adapter_for(Venue.BINANCEUSDM)
# Binance's own documentation sample key and signature: realistic shapes, no real credentials
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ACCOUNT = fingerprint(API_KEY)
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00
FAPI = "https://fapi.binance.com"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Step:
    offset_ms: int
    method: str
    url: str
    form: dict[str, str] | None = None
    status: int | None = None
    response: Any = None
    blocked_then: bool = False  # riskwall answered it when it was captured


def order(symbol: str, side: str, qty: str, price: str) -> dict[str, str]:
    return {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": qty, "price": price}


def new_order(order_id: int, symbol: str, side: str, qty: str) -> dict[str, str | int]:
    return {"orderId": order_id, "symbol": symbol, "side": side, "positionSide": "BOTH", "origQty": qty,
            "executedQty": "0", "status": "NEW"}


def eth_sell(order_id: int) -> tuple[dict[str, str], dict[str, str | int]]:
    return order("ETHUSDT", "SELL", "0.1", "3000"), new_order(order_id, "ETHUSDT", "SELL", "0.1")


BATCH = json.dumps([order("ETHUSDT", "BUY", "1", "3000"), order("ETHUSDT", "BUY", "6", "3000")])
SCENARIO = [
    # A: a position read teaches the store BTCUSDT +0.9 at mark 60000
    Step(0, "GET", f"{FAPI}/fapi/v2/positionRisk?symbol=BTCUSDT", status=200,
         response=[{"symbol": "BTCUSDT", "positionAmt": "0.9", "positionSide": "BOTH", "markPrice": "60000"}]),
    # B: 0.9 + 0.2 > 1: blocked by the position rule (the venue accepted it when captured)
    Step(100, "POST", f"{FAPI}/fapi/v1/order", order("BTCUSDT", "BUY", "0.2", "60000"), 200,
         new_order(1, "BTCUSDT", "BUY", "0.2")),
    # C: above BTCUSDT's 0.5, and above the shadow rule's 0.2 (no response captured)
    Step(200, "POST", f"{FAPI}/fapi/v1/order", order("BTCUSDT", "SELL", "0.6", "60000")),
    # D: a batch whose second leg is above 5
    Step(300, "POST", f"{FAPI}/fapi/v1/batchOrders", {"batchOrders": BATCH}),
    # E: a cancel always passes
    Step(400, "DELETE", f"{FAPI}/fapi/v1/order?symbol=BTCUSDT&orderId=1", status=200,
         response={**new_order(1, "BTCUSDT", "BUY", "0.2"), "status": "CANCELED"}),
    # F, G, H fill the 3/1s window; I is the fourth within a second
    Step(500, "POST", f"{FAPI}/fapi/v1/order", eth_sell(11)[0], 200, eth_sell(11)[1]),
    Step(600, "POST", f"{FAPI}/fapi/v1/order", eth_sell(12)[0], 200, eth_sell(12)[1]),
    Step(700, "POST", f"{FAPI}/fapi/v1/order", eth_sell(13)[0], 200, eth_sell(13)[1]),
    Step(800, "POST", f"{FAPI}/fapi/v1/order", eth_sell(14)[0], 200, eth_sell(14)[1]),
    # J: not a venue
    Step(900, "GET", "https://example.com/index.html", status=200, response={"hello": "world"}),
    # K: a withdrawal, forwarded when captured
    Step(1000, "POST", "https://api.binance.com/sapi/v1/capital/withdraw/apply",
         {"coin": "USDT", "address": "0xabc", "amount": "100"}, 200, {"id": "w-1"}),
    # L: a second later the window holds only H
    Step(1600, "POST", f"{FAPI}/fapi/v1/order", eth_sell(15)[0], 200, eth_sell(15)[1]),
    # M: blocked by the riskwall that captured it; this policy lets it through
    Step(1700, "POST", f"{FAPI}/fapi/v1/order", order("ETHUSDT", "BUY", "0.1", "3000"), 400,
         {"code": -2010, "msg": "Risk firewall blocked this request (old-rule): ORDER_QTY_EXCEEDS_MAX"},
         blocked_then=True),
]


def http_request(step: Step) -> HttpRequest:
    """The request as the addon's to_http_request would see it, signed the way ccxt signs (form body)."""
    url = urlsplit(step.url)
    query = tuple(tuple(p.split("=", 1)) for p in url.query.split("&")) if url.query else ()
    body = urlencode({**step.form, "timestamp": str(T0), "signature": SIGNATURE}).encode() if step.form else b""
    headers = {"x-mbx-apikey": API_KEY, "user-agent": "ccxt/python", "content-type": FORM}
    return HttpRequest(step.method, url.hostname or "", 443, url.path + (f"?{url.query}" if url.query else ""),
                       query, headers, body)  # type: ignore[arg-type]


def response_bytes(step: Step) -> bytes | None:
    return None if step.status is None else json.dumps(step.response).encode()


def write_flows(path: Path) -> None:
    with path.open("wb") as handle:
        writer = mitmio.FlowWriter(handle)
        for step in SCENARIO:
            request = http_request(step)
            headers: dict[str | bytes, str | bytes] = {"X-MBX-APIKEY": API_KEY, "User-Agent": "ccxt/python",
                                                       "Content-Type": FORM}
            made = http.Request.make(step.method, step.url, request.body, headers)
            made.timestamp_start = made.timestamp_end = (T0 + step.offset_ms) / 1000
            flow = tflow.tflow(req=made)
            if step.status is not None:
                answer = {"content-type": "application/json"}
                if step.blocked_then:
                    answer["X-Riskwall-Rule"] = "old-rule"
                flow.response = http.Response.make(step.status, response_bytes(step) or b"", answer)
                flow.response.timestamp_start = flow.response.timestamp_end = (T0 + step.offset_ms + 20) / 1000
            writer.add(flow)


def write_jsonl(path: Path) -> None:
    lines = []
    for step in SCENARIO:
        request = http_request(step)
        venue = Venue.BINANCEUSDM if "binance" in request.host else None
        if venue is None:  # the sidecar captures only venue traffic; a foreign record must still be skipped
            lines.append(json.dumps({"v": 1, "ts": iso_ms(T0 + step.offset_ms), "method": step.method,
                                     "host": request.host, "path": "/index.html", "query": []}))
            continue
        decision = None
        if step.blocked_then:
            violation = Violation.of("old-rule", Reason.ORDER_QTY_EXCEEDS_MAX)
            decision = Decision(Verdict.BLOCK, "d-old", "rev-old", (violation,))
        record = capture_record(request, venue, ADAPTER, ts_ms=T0 + step.offset_ms, status=step.status,
                                response_body=response_bytes(step), decision=decision)
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def replay_json(*captures: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    out = io.StringIO()
    code = run_replay(list(captures), POLICY, out, as_json=True, venue_hosts=extra, read_flow_file=read_flow_file)
    assert code == 0
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def example(step: int, symbol: str | None, side: str | None, qty: str | None, price: str | None, detail: str,
            *, leg: int | None = None, endpoint: str = "POST /fapi/v1/order", captured: str | None = None
            ) -> dict[str, Any]:
    return {"time": iso_ms(T0 + SCENARIO[step].offset_ms), "endpoint": endpoint, "account": ACCOUNT,
            "symbol": symbol, "side": side, "qty": qty, "price": price, "leg": leg, "detail": detail,
            "captured": captured, "where": step + 1}


# scenario steps named in the expectations (see SCENARIO's comments)
B, C, D, FOURTH, K = 1, 2, 3, 8, 10
FORWARDED = "forwarded, venue answered 200"
EXPECTED_TOTALS = {"requests": 13, "skipped": 1, "reads": 1, "decisions": 11, "allowed": 6, "blocked": 5,
                   "would_block": 0, "newly_blocked": 3, "no_longer_blocked": 1}
EXPECTED_RULES = [
    ("block", "order-qty", "ORDER_QTY_EXCEEDS_MAX", [
        example(C, "BTCUSDT", "sell", "0.6", "60000", "ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.5, symbol=BTCUSDT"),
        example(D, "ETHUSDT", "buy", "6", "3000", "ORDER_QTY_EXCEEDS_MAX: qty=6, max_qty=5, symbol=ETHUSDT", leg=1,
                endpoint="POST /fapi/v1/batchorders"),
    ]),
    ("block", "order-rate", "ORDER_RATE_EXCEEDED", [
        example(FOURTH, "ETHUSDT", "sell", "0.1", "3000", "ORDER_RATE_EXCEEDED: orders=4, limit=3, window_ms=1000",
                captured=FORWARDED),
    ]),
    ("block", "position", "POSITION_EXCEEDS_MAX", [
        example(B, "BTCUSDT", "buy", "0.2", "60000",
                "POSITION_EXCEEDS_MAX: position=1.1, max_position=1, symbol=BTCUSDT, side=buy, position_side=both",
                captured=FORWARDED),
    ]),
    ("block", "riskwall.forbidden-endpoint", "ACTION_FORBIDDEN", [
        example(K, None, None, None, None, "ACTION_FORBIDDEN: endpoint=POST /sapi/v1/capital/withdraw/apply",
                endpoint="POST /sapi/v1/capital/withdraw/apply", captured=FORWARDED),
    ]),
    ("would_block", "qty-next", "ORDER_QTY_EXCEEDS_MAX", [
        example(C, "BTCUSDT", "sell", "0.6", "60000", "ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.2, symbol=BTCUSDT"),
        example(D, "ETHUSDT", "buy", "1", "3000", "ORDER_QTY_EXCEEDS_MAX: qty=1, max_qty=0.2, symbol=ETHUSDT", leg=0,
                endpoint="POST /fapi/v1/batchorders"),
    ]),
]


@pytest.mark.parametrize(
    ("name", "write", "where"),
    [
        pytest.param("capture.mitm", write_flows, "{path}#{n}", id="mitmproxy-flow-file"),
        pytest.param("capture.jsonl", write_jsonl, "{path}:{n}", id="jsonl-capture"),
    ],
)
def test_replay_when_capture_is_read_then_report_counts_and_examples_are_exact(
    tmp_path: Path, name: str, write: Any, where: str
) -> None:
    path = tmp_path / name
    write(path)

    report = replay_json(path)

    assert report["captures"] == [str(path)]
    assert report["policy"] == str(POLICY)
    assert report["totals"] == EXPECTED_TOTALS
    expected_rules = [
        {"verdict": verdict, "rule_id": rule, "reason": reason, "count": len(examples),
         "examples": [{**e, "where": where.format(path=path, n=e["where"])} for e in examples]}
        for verdict, rule, reason, examples in EXPECTED_RULES
    ]
    # the flow file has responses for M only as riskwall's own 400; the JSONL record marks it blocked then
    assert report["rules"] == expected_rules


def test_replay_when_responses_are_missing_then_the_store_learns_nothing_and_the_position_block_disappears(
    tmp_path: Path,
) -> None:
    path = tmp_path / "capture.jsonl"
    write_jsonl(path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record.pop("response", None)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))

    report = replay_json(path)

    rules = {(r["verdict"], r["rule_id"]): r["count"] for r in report["rules"]}
    # without A's position answer B (0 + 0.2) passes, and as an admitted order it now fills the rate window
    # with F and G, so H is the fourth within a second as well as I; with no answers at all, whether a request
    # was forwarded is unknown, so nothing counts as newly blocked (M's record still says it was blocked then)
    assert rules == {("block", "order-qty"): 2, ("block", "order-rate"): 2,
                     ("block", "riskwall.forbidden-endpoint"): 1, ("would_block", "qty-next"): 2}
    assert report["totals"] == {**EXPECTED_TOTALS, "newly_blocked": 0}


def test_replay_when_text_report_is_asked_then_it_lists_totals_and_first_examples(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    write_jsonl(path)
    out = io.StringIO()

    code = run_replay([path], POLICY, out, examples=1)

    t = {step: iso_ms(T0 + SCENARIO[step].offset_ms) for step in (B, C, FOURTH, K)}
    assert out.getvalue().splitlines() == [
        f"replayed 13 requests from {path} with policy {POLICY} (revision {report_revision()})",
        "  11 order-related requests: 6 allowed, 5 blocked, 0 allowed with would_block",
        "  1 read, 1 skipped (no known venue)",
        "  3 newly blocked (forwarded when captured), 1 no longer blocked",
        "",
        "block order-qty ORDER_QTY_EXCEEDS_MAX: 2 requests",
        f"  {t[C]}  POST /fapi/v1/order  BTCUSDT sell 0.6 @ 60000  "
        "ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.5, symbol=BTCUSDT",
        "",
        "block order-rate ORDER_RATE_EXCEEDED: 1 request",
        f"  {t[FOURTH]}  POST /fapi/v1/order  ETHUSDT sell 0.1 @ 3000  "
        "ORDER_RATE_EXCEEDED: orders=4, limit=3, window_ms=1000",
        "",
        "block position POSITION_EXCEEDS_MAX: 1 request",
        f"  {t[B]}  POST /fapi/v1/order  BTCUSDT buy 0.2 @ 60000  "
        "POSITION_EXCEEDS_MAX: position=1.1, max_position=1, symbol=BTCUSDT, side=buy, position_side=both",
        "",
        "block riskwall.forbidden-endpoint ACTION_FORBIDDEN: 1 request",
        f"  {t[K]}  POST /sapi/v1/capital/withdraw/apply    "
        "ACTION_FORBIDDEN: endpoint=POST /sapi/v1/capital/withdraw/apply",
        "",
        "would_block qty-next ORDER_QTY_EXCEEDS_MAX: 2 requests",
        f"  {t[C]}  POST /fapi/v1/order  BTCUSDT sell 0.6 @ 60000  "
        "ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.2, symbol=BTCUSDT",
    ]
    assert code == 0


def report_revision() -> str:
    from riskwall.policy import load_policy

    return load_policy(POLICY).revision


def test_replay_when_a_host_is_mapped_to_a_venue_then_its_traffic_is_decided_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    record = capture_record(
        HttpRequest("POST", "127.0.0.1", 9001, "/fapi/v1/order", (), {"content-type": FORM, "x-mbx-apikey": API_KEY},
                    urlencode(order("DOGEUSDT", "BUY", "1", "0.1")).encode()),
        Venue.BINANCEUSDM, ADAPTER, ts_ms=T0,
    )
    del record["venue"]  # as a capture from a testnet or fake exchange might arrive
    path.write_text(json.dumps(record) + "\n")

    skipped = replay_json(path)
    mapped = replay_json(path, extra=("binanceusdm=127.0.0.1:9001",))

    assert (skipped["totals"]["skipped"], skipped["totals"]["decisions"]) == (1, 0)
    assert (mapped["totals"]["skipped"], mapped["totals"]["blocked"]) == (0, 1)
    assert [(r["verdict"], r["rule_id"]) for r in mapped["rules"]] == [("block", "symbols"),
                                                                       ("would_block", "qty-next")]


def test_replay_when_a_bot_repeated_an_order_then_duplicates_within_the_window_are_reported_by_the_capture_clock(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "duplicates.yaml"
    policy.write_text("rules:\n  - {id: duplicates, type: duplicate_orders, window: 1s}\n")
    capture = tmp_path / "capture.jsonl"
    repeated = urlencode(order("BTCUSDT", "BUY", "0.1", "60000")).encode()
    records = [
        capture_record(HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (),
                                   {"content-type": FORM, "x-mbx-apikey": API_KEY}, repeated),
                       Venue.BINANCEUSDM, ADAPTER, ts_ms=T0 + offset_ms, status=200,
                       response_body=json.dumps(new_order(number, "BTCUSDT", "BUY", "0.1")).encode())
        for number, offset_ms in enumerate((0, 300, 700, 1800))  # 300 and 700 repeat the first; 1800 is alone
    ]
    capture.write_text("".join(json.dumps(record) + "\n" for record in records))
    out = io.StringIO()

    assert run_replay([capture], policy, out, as_json=True) == 0

    report = json.loads(out.getvalue())
    assert (report["totals"]["allowed"], report["totals"]["blocked"]) == (2, 2)
    [rule] = report["rules"]
    assert (rule["rule_id"], rule["reason"], rule["verdict"]) == ("duplicates", "DUPLICATE_ORDER", "block")
    assert [e["where"] for e in rule["examples"]] == [f"{capture}:2", f"{capture}:3"]
    assert "ago_ms=300" in rule["examples"][0]["detail"] and "ago_ms=700" in rule["examples"][1]["detail"]


# ---- reading captures -----------------------------------------------------------------------------------


def test_jsonl_when_other_log_events_and_a_cut_last_line_are_present_then_they_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "riskwall.jsonl"
    write_jsonl(path)
    decision_line = json.dumps({"event": "decision", "verdict": "allow", "ts": "2026-01-01T00:00:00Z"})
    path.write_text(decision_line + "\n" + path.read_text() + '{"v": 1, "ts": "2026-01-01T00:00:0')

    report = replay_json(path)

    assert report["totals"] == EXPECTED_TOTALS
    assert capsys.readouterr().err == f"riskwall replay: {path}:15: incomplete last line skipped\n"


@pytest.mark.parametrize(
    ("suffix", "content", "message"),
    [
        pytest.param(".jsonl", b'{"v": 1}\nnot json\n{"v": 1}\n',
                     "{path}:1: a capture record needs method, host and path; 'method' is missing",
                     id="record-without-request"),
        pytest.param(".jsonl", b'{"method": "GET", "host": "fapi.binance.com", "path": "/", "ts": 1}\nnot json\n',
                     "{path}:2: not a JSON object", id="broken-middle-line"),
        pytest.param(".json", b'{"method": "GET", "host": "fapi.binance.com", "path": "/"}\n',
                     "{path}:1: ts is missing", id="json-suffix-sniffed-as-json-lines"),
        pytest.param(".jsonl", b'{"method": "GET", "host": "h", "path": "/", "ts": 1, "query": "a=b"}\n',
                     "{path}:1: query must be a list of [key, value] pairs", id="query-not-pairs"),
        pytest.param(".json", b'{\n  "log": {}\n}\n',
                     "{path}: not a readable mitmproxy flow file: Unable to read HAR file. Please provide a valid "
                     "HAR file", id="json-suffix-sniffed-as-har"),
        pytest.param(".jsonl", b'{"v": 2, "method": "GET", "host": "h", "path": "/", "ts": 1}\n',
                     "{path}:1: capture format v2; this riskwall reads v1", id="newer-format"),
        pytest.param(".bin", b"\x00\x01garbage", "{path}: not a readable mitmproxy flow file: Invalid data format.",
                     id="not-a-capture-at-all"),
    ],
)
def test_replay_when_capture_cannot_be_read_then_exit_2_and_say_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, content: bytes, message: str
) -> None:
    path = tmp_path / f"capture{suffix}"
    path.write_bytes(content)

    code = run_replay([path], POLICY, io.StringIO(), read_flow_file=read_flow_file)

    assert code == 2
    assert capsys.readouterr().err == f"riskwall replay: {message.format(path=path)}\n"


@pytest.mark.parametrize(
    ("status", "headers", "answered_s", "expected"),
    [
        pytest.param(200, {"content-type": "application/json"}, 1.0006,
                     (200, b'{"ok": 1}', 1001, False), id="forwarded"),
        pytest.param(400, {"X-Riskwall-Rule": "old-rule"}, None, (400, b'{"ok": 1}', None, True), id="blocked"),
        pytest.param(400, {"x-riskwall-rule": "old-rule"}, 2.0, (400, b'{"ok": 1}', 2000, True),
                     id="blocked-header-in-lower-case"),
        pytest.param(None, {}, None, (None, None, None, None), id="never-answered"),
    ],
)
def test_read_flow_file_when_flow_read_then_shared_conversion_gives_answer_and_captured_verdict(
    tmp_path: Path, status: int | None, headers: dict[str, str], answered_s: float | None,
    expected: tuple[int | None, bytes | None, int | None, bool | None],
) -> None:
    path = tmp_path / "one.mitm"
    made = http.Request.make("GET", "https://fapi.binance.com/fapi/v2/positionRisk", b"", {"X-MBX-APIKEY": API_KEY})
    made.timestamp_start = 1.2346
    flow = tflow.tflow(req=made)
    if status is not None:
        flow.response = http.Response.make(status, b'{"ok": 1}', headers)
        flow.response.timestamp_end = answered_s
    with path.open("wb") as handle:
        mitmio.FlowWriter(handle).add(flow)

    [exchange] = read_flow_file(path)

    assert (exchange.status, exchange.response_body, exchange.response_ts_ms, exchange.captured_blocked) == expected
    assert (exchange.ts_ms, exchange.where, exchange.request.path) == (1235, f"{path}#1", "/fapi/v2/positionRisk")


def test_read_flow_file_when_file_missing_then_capture_error_saying_so(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"missing\.mitm: cannot be read"):
        list(read_flow_file(tmp_path / "missing.mitm"))


def test_replay_when_capture_or_policy_is_missing_then_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("rules: [{id: x, type: nope}]\n")
    capture = tmp_path / "capture.jsonl"
    capture.write_text("")

    assert run_replay([tmp_path / "missing.jsonl"], POLICY, io.StringIO()) == 2
    assert run_replay([capture], tmp_path / "bad.yaml", io.StringIO()) == 2
    assert run_replay([capture], POLICY, io.StringIO(), venue_hosts=("nonsense",)) == 2
    assert run_replay([capture], POLICY, io.StringIO()) == 0


# ---- capture records ------------------------------------------------------------------------------------

SECRET_CASES = [
    pytest.param(  # ccxt: parameters and signature in a form body
        HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (),
                    {"x-mbx-apikey": API_KEY, "content-type": FORM},
                    urlencode({**order("BTCUSDT", "BUY", "0.1", "60000"), "signature": SIGNATURE}).encode()),
        None, id="form-body-signature"),
    pytest.param(  # the official SDKs: everything in the query string
        HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order?x=1",
                    (*order("BTCUSDT", "SELL", "0.1", "60000").items(), ("signature", SIGNATURE)),
                    {"x-mbx-apikey": API_KEY}, b""),
        None, id="query-signature"),
    pytest.param(  # a listen key is a bearer token: it must not survive in a response body either
        HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/listenKey", (), {"x-mbx-apikey": API_KEY}, b""),
        json.dumps({"listenKey": SECRET}).encode(), id="listen-key-response"),
    pytest.param(  # credentials where no venue puts them: query apiKey, auth headers, a JSON secret
        HttpRequest("POST", "fapi.binance.com", 443, f"/fapi/v1/order/test?apiKey={API_KEY}",
                    (("apiKey", API_KEY), ("symbol", "BTCUSDT")),
                    {"x-mbx-apikey": API_KEY, "authorization": f"Bearer {SECRET}", "cookie": f"s={SECRET}",
                     "content-type": "application/json", "x-custom": SECRET},
                    json.dumps({"secret": SECRET, "passphrase": SECRET, "note": f"key {API_KEY}"}).encode()),
        json.dumps({"ok": True, "echo": f"key={API_KEY}"}).encode(), id="stray-credentials"),
    pytest.param(  # a body that is not text is not stored
        HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/unknown", (),
                    {"x-mbx-apikey": API_KEY, "content-type": "application/octet-stream"},
                    b"\xff\xfe" + API_KEY.encode() + b"\x00"),
        None, id="binary-body"),
    pytest.param(  # a key written as a header into a plain-text body, with no header to learn it from
        HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {"content-type": "text/plain"},
                    f"X-MBX-APIKEY: {API_KEY}\nsignature: {SIGNATURE}".encode()),
        None, id="plain-text-body-without-key-header"),
    pytest.param(  # no content type: the same
        HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {},
                    f"apiKey={API_KEY}&secret={SECRET}".encode()),
        None, id="body-without-content-type"),
    pytest.param(  # a JSON credential that is a number or sits in an array, and one in an unterminated string
        HttpRequest("POST", "www.okx.com", 443, "/api/v5/trade/order", (), {"content-type": "application/json"},
                    (f'[{{"passphrase": 12345678901, "signature": "{SIGNATURE}", "x": "{{\\"secret\\": '
                     f'\\"{SECRET}\\"}}", "apiKey": "{API_KEY}').encode()),
        None, id="json-number-nested-and-unterminated"),
    pytest.param(  # a venue's answer to a key's creation carries the new key's secret (Binance `secretKey`)
        HttpRequest("POST", "fapi.binance.com", 443, "/sapi/v1/sub-account/subAccountApi", (),
                    {"x-mbx-apikey": API_KEY, "content-type": "application/json"}, b'{"subAccountId": "1"}'),
        json.dumps({"apiKey": "NEWKEY", "secretKey": SECRET, "secret_key": SECRET, "privateKey": SECRET}).encode(),
        id="answer-with-a-new-keys-secret"),
]


@pytest.mark.parametrize(("request_", "response"), SECRET_CASES)
def test_capture_record_when_built_then_it_holds_no_api_key_signature_or_secret(
    request_: HttpRequest, response: bytes | None
) -> None:
    record = capture_record(request_, Venue.BINANCEUSDM, ADAPTER, ts_ms=T0, status=200 if response else None,
                            response_body=response)
    text = json.dumps(record)

    for secret in (API_KEY, SIGNATURE, SECRET):
        assert secret not in text
    assert record["account"] == (ACCOUNT if "x-mbx-apikey" in request_.headers else None)
    assert set(record["headers"]) <= KEPT_HEADERS
    assert record["ts"] == "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize(("request_", "response"), SECRET_CASES[:2])
def test_capture_record_when_replayed_then_the_adapter_reads_the_same_order(
    request_: HttpRequest, response: bytes | None
) -> None:
    original = screen(ADAPTER, request_)
    record = json.loads(json.dumps(capture_record(request_, Venue.BINANCEUSDM, ADAPTER, ts_ms=T0)))

    exchange = exchange_from_record(record)
    replayed = attribute_account(screen(ADAPTER, exchange.request), exchange.account)

    assert replayed == original
    assert original.error is None and len(original.intents) == 1
    assert "[redacted]" in json.dumps(record)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"x" * 10_000_000),
        ("application/x-www-form-urlencoded", b"symbol=" + b"a" * 200_000),
        ("application/json", b'{"q": "' + b"\\\"" * 200_000 + b'"}'),
    ],
    ids=["10MB-plain", "large-form", "large-json"],
)
def test_capture_record_when_body_is_large_or_not_read_by_venue_then_only_its_size_kept(
    content_type: str, body: bytes
) -> None:
    request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {"content-type": content_type},
                          body)

    record = capture_record(request, Venue.BINANCEUSDM, ADAPTER, ts_ms=T0)

    assert record["body_omitted"] == {"bytes": len(body)}
    assert len(json.dumps(record)) < 2_000


@pytest.mark.timeout(10)
def test_capture_record_when_json_body_is_a_megabyte_of_escaped_quotes_then_redacted_in_linear_time() -> None:
    # the old pair pattern restarted at every quote of an unterminated string: hours for this body
    text = '{"q": "' + '\\"' * 30_000 + ', "signature": "' + SIGNATURE + '"'
    request = HttpRequest("POST", "www.okx.com", 443, "/api/v5/trade/order", (), {"content-type": "application/json"},
                          text.encode())

    record = capture_record(request, Venue.OKX, adapter_for(Venue.OKX), ts_ms=T0)

    assert record["body"].startswith('{"q": "')


def test_replay_when_body_was_omitted_then_request_refused_as_when_captured(tmp_path: Path) -> None:
    request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order",
                          tuple(order("BTCUSDT", "BUY", "0.1", "60000").items()),
                          {"x-mbx-apikey": API_KEY, "content-type": "text/plain"}, b"reduceOnly=true")
    live = screen(ADAPTER, request)
    record = json.loads(json.dumps(capture_record(request, Venue.BINANCEUSDM, ADAPTER, ts_ms=T0)))

    replayed = screen(ADAPTER, exchange_from_record(record).request)

    assert live.error is not None and replayed.error is not None
    assert "reduceOnly" not in json.dumps(record)


@pytest.mark.parametrize("target", ["/ws/{key}", "/stream?streams={key}", "/private/ws?listenKey={key}",
                                    "/ws-fapi/v1?returnRateLimits={key}"])
def test_capture_record_when_request_opens_a_stream_then_listen_key_is_in_no_field(target: str) -> None:
    listen_key = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
    path = target.format(key=listen_key)
    query = tuple((k, v) for k, _, v in (p.partition("=") for p in urlsplit(path).query.split("&") if p))
    request = HttpRequest("GET", "fstream.binance.com", 443, path, query,
                          {"upgrade": "websocket", "connection": "Upgrade"}, b"")

    record = capture_record(request, Venue.BINANCEUSDM, ADAPTER, ts_ms=T0)

    assert listen_key not in json.dumps(record)
    assert record["path"].endswith("(websocket)")
