"""`riskwall policy test PATH...`: unit tests for policies, written in YAML and run through the real engine.

A test file is named `*.test.yaml` (or `*.test.yml`) and conventionally lives in a `tests/` folder beside the
policy (`policies/tests/default.test.yaml` tests `policies/default.yaml`). The policy loader reads only the
files directly inside a policy folder, so a `tests/` folder inside it is never mistaken for policy. PATH is a
test file, or a folder searched recursively for `*.test.yaml`.

    policy: ../default.yaml          # the policy under test: a file or a folder, relative to this file
    venue: binanceusdm               # default venue of every case (default binanceusdm)
    account: main                    # default account: a label from the policy's `accounts` or a
                                     # 12-hex-digit fingerprint (default 000000000000, a key no label names)
    cases:
      - name: BTC above its own max qty is blocked       # unique in the file
        state:                                           # optional; every case starts from an empty store
          prices: {BTCUSDT: 60000}                       # mark prices riskwall has seen
          positions:                                     # signed base units; position_side both|long|short
            - {symbol: BTCUSDT, qty: 0.5}
            - {symbol: ETHUSDT, qty: -2, position_side: short, account: hedge-bot}
          open_orders:                                   # orders resting at the venue (pending exposure;
            - {symbol: BTCUSDT, side: buy, qty: 0.2}     # counted by max_open_orders)
            - {symbol: ETHUSDT, count: 40}               # 40 resting orders that only count (no qty: no
                                                         # exposure; side defaults to buy)
            - {symbol: BTCUSDT, qty: 0.1, order_id: "1001"}  # the venue's id, for a request amending it
          trading_states:                                # the kill switch; scope: global (default) or a map
            - {scope: {symbol: ETHUSDT}, state: HALTED, reason: exchange incident}
            - {scope: {account: hedge-bot}, state: REDUCING}  # venue defaults to the file's venue
          recent_orders:                                 # orders admitted before this one, for rate windows
            - {count: 10, ago: 500ms}                    # ago: 250ms, 2s, 1m, 1h or milliseconds
          allowed_orders:                                # orders the firewall allowed before this one, for the
            - {ago: 300ms}                               # duplicate rule: each key defaults to the request's
            - {qty: 0.2, price: 59000, ago: 1s}          # (first leg's): symbol, side, qty, price, type,
                                                         # trigger_price, position_side, account, venue
          rejected_orders:                               # orders the venue refused before this one, counted by
            - {count: 3, ago: 30s}                       # the reject_storm rules (one that reaches its limit
                                                         # trips: the account's state holds its cool-down);
                                                         # also account, venue
          equity_reports:                                # the account's equity as the venue reported it today,
            - {equity: 10000}                            # in order (the first is the day's baseline), measured
            - {equity: 9400}                             # by the max_daily_loss rules; also account, venue
          daily_notional:                                # notional already traded today under a
            - {rule: daily-notional, notional: 4000000}  # max_daily_notional rule (by id); symbol (a per-symbol
                                                         # rule's budget; default: the request's first symbol),
                                                         # account, venue
        request:                                         # exactly one of `order:` and `http:`
          order:                                         # exchange-neutral
            action: new                                  # new (default), amend, cancel, cancel_all,
                                                         # set_leverage, set_margin_mode, ...
            symbol: BTCUSDT
            side: buy
            qty: 1
            price: 60000                                 # type defaults to LIMIT with a price, else MARKET
            # also: type, trigger_price, time_in_force, reduce_only, close_position, position_side,
            # leverage, margin_mode (ISOLATED|CROSSED|PORTFOLIO), hedge_mode (true|false, for
            # set_position_mode), order_id, client_order_id, venue, account,
            # legs: [{...}, {...}]  a batch; each leg takes the order keys above and inherits unset ones
        expect:
          verdict: block                                 # or just `expect: allow` / `expect: block`
          rule: order-qty                                # the deciding rule id (optional)
          reason: ORDER_QTY_EXCEEDS_MAX                  # its reason code (optional)
          context: {max_qty: 0.5}                        # keys of the violation's context (optional)
          # leg: 1                             for a batch: the offending leg (optional)
          # would_block: {rule: x, reason: Y}  the first would_block of a shadow rule or of monitor mode
          # would_block: false                 assert that nothing would block

      - name: a raw Binance request is parsed by the real adapter
        request:
          http:
            method: POST
            path: /fapi/v1/order                         # may carry ?query; host defaults to the venue's
            query: {symbol: BTCUSDT}                     # a map, or [[key, value], ...] to repeat a key
            form: {side: BUY, type: MARKET, quantity: 1} # a form body (lists/maps become JSON, for
                                                         # batchOrders); or `body:` as raw text
            headers: {X-MBX-APIKEY: any-test-key}
        expect: {verdict: block, rule: order-qty}

The account of an `http:` request is its `account:` key when given, else the fingerprint of the API key in
its headers, else the file's `account`. `account: null` sends a request with no account at all.

Every case gets a fresh in-memory store on a fixed clock (2026-01-01T00:00:00Z), seeded through the store's
public methods (`learn`, `set_trading_state`, `reserve`), and is decided by the real `engine.plan` and
`engine.conclude`, exactly as the sidecar decides. `recent_orders` are planned by the engine as orders of the
given account and symbol (default: the request's first symbol), so they land in every rate window that
order would count in. `allowed_orders` are planned by the engine too, and recorded only where the duplicate
rules would record them (not in rate windows, not as exposure: `recent_orders` and `open_orders` say those).
`rejected_orders` are counted by the policy's reject_storm rules exactly as refusals the sidecar read in the
venue's answers: a rule whose window reaches its limit trips, and the account's trading state is the storm's
until its cool-down ends (a case decided within it sees that state, under the rule's id).
`equity_reports` are measured by the policy's max_daily_loss rules, in the order written, at the case's time
(the start of a UTC day), exactly as equity the sidecar read in account answers: the first is the day's
baseline, and a later one more than a rule's `quote` below it trips the rule (the account's state is the rule's
until the next UTC midnight, under the rule's id).
`daily_notional` is charged to the named max_daily_notional rule's budget for the case's UTC day (the account's,
or with `per: symbol` the symbol's) exactly as the sidecar charges an order it admitted: through the store, as a
synthetic order of one unit at price `notional` that the venue filled at once (its position is then reported
flat again, so the seeded notional moves no position). Entries for one budget add up.

Output: one line per case, `PASS file::name` or `FAIL file::name` followed by the expected and the actual
outcome (with the violation's detail), `ERROR` for a test file or policy that cannot be used, then
`N passed, M failed` (and `, K errors`). The exit code is 0 only when every case passed.

The package: `spec` (the format above, and reading a file), `context` (a case's clock and defaults),
`requests` (building a case's request), `seeding` (its state into the store), `report` (expectation
against decision) and `runner` (the command).
"""

from riskwall.decider import Evaluation, decide_request
from riskwall.policy.testing.context import DEFAULT_ACCOUNT, START_MS, CaseError, ManualClock
from riskwall.policy.testing.requests import attribute_account
from riskwall.policy.testing.runner import TEST_FILE_SUFFIXES, add_arguments, discover, main, run_policy_tests
from riskwall.policy.testing.spec import TestFileSpec, load_test_file

__all__ = [
    "DEFAULT_ACCOUNT",
    "START_MS",
    "TEST_FILE_SUFFIXES",
    "CaseError",
    "Evaluation",
    "ManualClock",
    "TestFileSpec",
    "add_arguments",
    "attribute_account",
    "decide_request",
    "discover",
    "load_test_file",
    "main",
    "run_policy_tests",
]
