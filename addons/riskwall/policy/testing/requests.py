"""A case's request: an exchange-neutral `order:` built into intents, or a raw `http:` request parsed by the
venue's real adapter; and attributing a parsed request to an account (shared with `riskwall replay`)."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qsl, urlencode

from riskwall.instruments import CATALOG
from riskwall.model import Action, OrderIntent, ParsedRequest, Venue
from riskwall.policy.testing.context import ORDER_ACTIONS, CaseContext, CaseError
from riskwall.policy.testing.spec import HttpSpec, LegSpec, OrderSpec, RequestSpec, param_pairs
from riskwall.venues import HttpRequest, adapter_for, default_host_map, screen


def attribute_account(parsed: ParsedRequest, account: str | None) -> ParsedRequest:
    """The same request, attributed to `account` (a fingerprint): for tests and for redacted captures, which
    carry the account but not the API key the adapter would fingerprint."""
    intents = tuple(dataclasses.replace(intent, account=account) for intent in parsed.intents)
    return dataclasses.replace(parsed, account=account, intents=intents)


def build_request(request: RequestSpec, context: CaseContext) -> ParsedRequest:
    if request.order is not None:
        return _order_request(request.order, context)
    assert request.http is not None  # guaranteed by RequestSpec
    return _http_request(request.http, context)


def _order_request(order: OrderSpec, context: CaseContext) -> ParsedRequest:
    venue = order.venue or context.venue
    explicit_none = "account" in order.model_fields_set and order.account is None
    account = None if explicit_none else context.account(order.account, venue)
    endpoint = f"policy-test {order.action}"
    base = {name: getattr(order, name) for name in LegSpec.model_fields}
    legs = order.legs or (LegSpec(),)
    intents = []
    for number, leg in enumerate(legs):
        fields = base | {name: getattr(leg, name) for name in leg.model_fields_set}
        where = f"legs[{number}]" if order.legs else "order"
        intents.append(_intent(fields, order.action, venue, account, endpoint, where))
    return ParsedRequest(venue, order.action, endpoint, account, tuple(intents))


def _intent(fields: dict[str, Any], action: Action, venue: Venue, account: str | None, endpoint: str,
            where: str) -> OrderIntent:
    symbol: str | None = fields["symbol"]
    if action in ORDER_ACTIONS:
        missing = [name for name in ("symbol", "side") if fields[name] is None]
        if fields["qty"] is None and not fields["close_position"]:
            missing.append("qty")
        if missing:
            raise CaseError(f"{where}: an order of action {action} needs {', '.join(missing)}")
    if action is Action.SET_LEVERAGE and (symbol is None or fields["leverage"] is None):
        raise CaseError(f"{where}: a set_leverage request needs symbol and leverage")
    order_type = fields["type"]
    if order_type is None and action in ORDER_ACTIONS:
        order_type = "LIMIT" if fields["price"] is not None else "MARKET"
    return OrderIntent(
        venue=venue,
        action=action,
        endpoint=endpoint,
        account=account,
        symbol=symbol,
        unified_symbol=CATALOG.unified(venue, symbol) if symbol else None,
        side=fields["side"],
        position_side=fields["position_side"],
        quantity=fields["qty"],
        price=fields["price"],
        trigger_price=fields["trigger_price"],
        order_type=order_type,
        time_in_force=fields["time_in_force"],
        reduce_only=fields["reduce_only"],
        close_position=fields["close_position"],
        leverage=fields["leverage"],
        margin_mode=fields["margin_mode"],
        hedge_mode=fields["hedge_mode"],
        client_order_id=fields["client_order_id"],
        order_id=fields["order_id"],
    )


def _http_request(spec: HttpSpec, context: CaseContext) -> ParsedRequest:
    venue = spec.venue or (default_host_map().venue(spec.host) if spec.host else None) or context.venue
    try:
        adapter = adapter_for(venue)
    except KeyError:
        raise CaseError(f"venue {venue} has no adapter yet") from None
    host = (spec.host or adapter.default_hosts[0]).lower()
    path, _, inline_query = spec.path.partition("?")
    query = parse_qsl(inline_query, keep_blank_values=True) + param_pairs(spec.query, "query")
    headers = {name.lower(): value for name, value in spec.headers.items()}
    body = b""
    if spec.form is not None:
        body = urlencode(param_pairs(spec.form, "form")).encode()
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    elif spec.body is not None:
        body = spec.body.encode()
    request = HttpRequest(spec.method, host, spec.port, path, tuple(query), headers, body)
    parsed = screen(adapter, request)
    if "account" in spec.model_fields_set:
        return attribute_account(parsed, None if spec.account is None else context.account(spec.account, venue))
    if parsed.account is None:
        return attribute_account(parsed, context.account(None, venue))
    return parsed

