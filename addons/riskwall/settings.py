"""Every setting of `riskwall run`, declared once, as a field of `RunSettings`.

A field's declaration (`setting(...)`) gives its help, its default (as text, the way the environment or the
command line would write it) and how its text is read; everything else is derived from it:

- the command-line flag: `--` + the name with dashes (`flag=` keeps an older spelling: `--venue-host`);
- the environment variable: `RISKWALL_` + the name in capitals (`RISKWALL_VENUE_HOSTS`);
- the mitmproxy option the addon reads (`riskwall_` + the name, `option=` for an older spelling, `option=None`
  for a setting only the runner reads), with its type and default, under `mitmdump --set` too;
- the typed value `riskwall run` builds the proxy from.

A command-line value wins over the environment; a repeatable setting's command-line values add to the list the
environment gives (items separated by commas, spaces or newlines). No mitmproxy import here: the command line
builds its parser from these declarations without loading the proxy.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskwall import logfile
from riskwall.model import Venue
from riskwall.venues import listen_address, parse_venue

ENV_PREFIX = "RISKWALL_"
OPTION_PREFIX = "riskwall_"
ENV_LIST_SEPARATORS = (",", " ", "\n")
# the admin token comes from the environment (or a file) only: on a command line it would show in `ps`
ADMIN_TOKEN_ENV = ENV_PREFIX + "ADMIN_TOKEN"
# what `--listen` takes for "no explicit proxy"
LISTEN_OFF = ("off", "", "none")
_DECLARATION = "riskwall.setting"

type Parse = Callable[[str, str], Any]


@dataclass(frozen=True, slots=True)
class ReverseListener:
    venue: Venue
    host: str
    port: int
    # where this listener forwards, when not the venue's `--upstream` (a second listener for its WebSocket host)
    upstream: str | None = None


# ---- reading a setting's text (each raises ValueError naming the flag) ---------------------------------------


def _text(text: str, flag: str) -> str:
    return text


def _optional_text(text: str, flag: str) -> str | None:
    return text or None


def _seconds(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a number of seconds") from None


def _count(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a whole number") from None


def _size(text: str, flag: str) -> int:
    try:
        return logfile.parse_size(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _listen(text: str, flag: str) -> tuple[str, int] | None:
    return None if text in LISTEN_OFF else listen_address(text, flag)


def _milliseconds(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a whole number of milliseconds") from None
    if not 1 <= value <= 60_000:
        raise ValueError(f"{flag} {text!r}: between 1 and 60000 milliseconds")
    return value


def _on_off(text: str, flag: str) -> bool:
    if text.strip().lower() not in ("on", "off"):
        raise ValueError(f"{flag} {text!r}: write on or off")
    return text.strip().lower() == "on"


def _reverse(spec: str, flag: str) -> ReverseListener:
    """`VENUE@HOST:PORT[=URL]`: a listener of its own upstream (say the venue's WebSocket host) when URL is given."""
    venue, sep, rest = spec.partition("@")
    address, has_url, url = rest.partition("=")
    if not sep or (has_url and "://" not in url):
        raise ValueError(f"{flag} {spec!r}: write VENUE@HOST:PORT[=URL], e.g. binanceusdm@127.0.0.1:8081 or "
                         "binanceusdm@127.0.0.1:8091=https://ws-fapi.binance.com")
    host, port = listen_address(address, flag)
    try:
        return ReverseListener(parse_venue(venue), host, port, url.rstrip("/") if has_url else None)
    except ValueError as exc:
        raise ValueError(f"{flag} {spec!r}: {exc}") from None


def _upstream(spec: str, flag: str) -> tuple[Venue, str]:
    venue, sep, url = spec.partition("=")
    if not sep or "://" not in url:
        raise ValueError(f"{flag} {spec!r}: write VENUE=URL, e.g. binanceusdm=https://testnet.binancefuture.com")
    try:
        return parse_venue(venue), url.rstrip("/")
    except ValueError as exc:
        raise ValueError(f"{flag} {spec!r}: {exc}") from None


# ---- the declaration ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as declared on its `RunSettings` field; `name` is the field's."""

    help: str
    default: str | None
    parse: Parse
    flag_name: str
    metavar: str | None
    choices: tuple[str, ...] | None
    repeatable: bool
    # how a repeatable setting's items make its value (a tuple; a dict for VENUE=URL pairs)
    collect: Callable[[list[Any]], Any]
    option_name: str | None
    name: str = ""

    @property
    def flag(self) -> str:
        return self.flag_name or "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """The argparse attribute: the flag's, as argparse names it."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def option(self) -> str | None:
        if self.option_name is None:
            return None
        return self.option_name or OPTION_PREFIX + self.name

    def value(self, given: Any) -> Any:
        """The typed value of what the command line (or the environment, through its defaults) gave."""
        if self.repeatable:
            return self.collect([self.parse(str(item), self.flag) for item in given or ()])
        if given is None:
            return None
        text = str(given)
        if self.choices is not None and text not in self.choices:
            raise ValueError(f"{self.flag} {text!r}: write one of {', '.join(self.choices)}")
        return self.parse(text, self.flag)

    def from_environment(self, environ: Mapping[str, str]) -> Any:
        """The argparse default: the environment's text (an empty variable counts as unset), else the default."""
        if self.repeatable:
            return env_list(environ.get(self.env, ""))
        return environ.get(self.env) or self.default

    def help_text(self, help: str | None = None) -> str:
        shown = f", default {self.default}" if self.default else ""
        return f"{help or self.help} [{self.env}{shown}]"


def setting(help: str, default: str | None = None, *, parse: Parse = _text, flag: str = "",
            metavar: str | None = None, choices: tuple[str, ...] | None = None, repeatable: bool = False,
            collect: Callable[[list[Any]], Any] = tuple, option: str | None = "") -> Any:
    """A `RunSettings` field: its default is `parse(default)` (the empty collection for a repeatable one)."""
    declared = Setting(help, default, parse, flag, metavar, choices, repeatable, collect, option)
    metadata = {_DECLARATION: declared}
    if repeatable:
        return field(default_factory=lambda: collect([]), metadata=metadata)
    return field(default=None if default is None else parse(default, flag), metadata=metadata)


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What `riskwall run` runs with, typed; each field is one setting (module doc)."""

    policy: str = setting("policy file or folder", "policies/")
    policy_poll: float = setting("how often to check the policy files for changes; 0 turns hot reload off", "1",
                                 parse=_seconds, metavar="SECONDS")
    listen: tuple[str, int] | None = setting("explicit-proxy listener HOST:PORT, or 'off'", "127.0.0.1:8080",
                                             parse=_listen, option=None)
    state: str = setting("state store URL: memory:// or redis://host:6379/0", "memory://")
    venue_hosts: tuple[str, ...] = setting(
        "map another host (testnet, fake exchange) to a venue; repeatable", flag="--venue-host",
        metavar="VENUE=HOST[:PORT]", repeatable=True)
    reverse: tuple[ReverseListener, ...] = setting(
        "plain-HTTP listener forwarding to the venue (no CA needed), to URL when given (a venue's WebSocket host, "
        "say); repeatable", parse=_reverse, metavar="VENUE@HOST:PORT[=URL]", repeatable=True, option=None)
    upstreams: dict[Venue, str] = setting(  # noqa: RUF009 - a field() whose default_factory makes the dict
        "where a venue's reverse listener forwards instead of its real host", parse=_upstream, flag="--upstream",
        metavar="VENUE=URL", repeatable=True, collect=dict, option=None)
    confdir: str = setting("where the proxy CA is created and kept", "~/.riskwall", option=None)
    upstream_ca: str | None = setting(
        "an extra CA bundle trusted for upstream TLS, added to the system's (testnets or private exchanges behind "
        "a private CA)", parse=_optional_text, metavar="PEM", option=None)
    admin: str = setting("local admin endpoint, or 'off'", "127.0.0.1:9090", metavar="HOST:PORT")
    log_file: str = setting("also write the JSON log lines to PATH, rotated by size", "", metavar="PATH",
                            option=None)
    log_max_bytes: int = setting("rotate the log file at this size, e.g. 50M", "50M", parse=_size, metavar="SIZE",
                                 option=None)
    log_backups: int = setting("rotated log files to keep", "5", parse=_count, metavar="N", option=None)
    capture: str = setting("append every venue request, credentials redacted, to FILE for `riskwall replay`", "",
                           metavar="FILE")
    egress: str = setting("allowlist: refuse requests and tunnels to hosts that are no venue", "open",
                          choices=("open", "allowlist"))
    egress_allow: tuple[str, ...] = setting("another host bots may reach under the allowlist; repeatable",
                                            metavar="HOST", repeatable=True)
    client_cidrs: tuple[str, ...] = setting(
        "client networks allowed to connect (loopback always is); repeatable", flag="--client-cidr", metavar="CIDR",
        repeatable=True)
    proxy_auth: str | None = setting("require proxy authentication on the explicit proxy", parse=_optional_text,
                                     metavar="USER:PASS|@HTPASSWD", option=None)
    ws_order_entry: bool = setting(
        "on: orders over the venues' WebSocket APIs are checked frame by frame; off: their handshakes are refused",
        "on", parse=_on_off, metavar="on|off", option="riskwall_ws_orders")
    ws_deadline_ms: int = setting(
        "longest a WebSocket order frame waits for its decision (the connection waits with it); past it the order "
        "is refused", "250", parse=_milliseconds, metavar="MS")
    admin_token_file: str = setting(f"bearer token for the admin switches ({ADMIN_TOKEN_ENV} wins)", "",
                                    metavar="PATH")
    admin_hosts: tuple[str, ...] = setting(
        "a host name the admin endpoint answers under (its Host header), besides IP addresses and localhost; "
        "repeatable", flag="--admin-host", metavar="NAME", repeatable=True)
    event_loop: str = setting("the event loop the proxy runs on: uvloop (libuv's, less CPU per request) or asyncio "
                              "(the standard library's)", "uvloop", choices=("uvloop", "asyncio"), option=None)


SETTINGS: tuple[Setting, ...] = tuple(
    dataclasses.replace(f.metadata[_DECLARATION], name=f.name) for f in dataclasses.fields(RunSettings)
)
BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


# ---- the command line and the environment -------------------------------------------------------------------


def env_list(text: str) -> list[str]:
    for separator in ENV_LIST_SEPARATORS[1:]:
        text = text.replace(separator, ENV_LIST_SEPARATORS[0])
    return [item for item in text.split(ENV_LIST_SEPARATORS[0]) if item]


def add_argument(parser: argparse.ArgumentParser, name: str, help: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
    """The flag of setting `name`, its default read from the environment now; `help` words it for a command
    that uses the setting differently (the switches' `--state`)."""
    declared = BY_NAME[name]
    options: dict[str, Any] = {"default": declared.from_environment(os.environ if environ is None else environ),
                               "help": declared.help_text(help), "metavar": declared.metavar}
    if declared.repeatable:
        options["action"] = "append"
    if declared.choices is not None:
        options["choices"] = declared.choices
    parser.add_argument(declared.flag, **options)


def add_run_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    for declared in SETTINGS:
        add_argument(parser, declared.name, environ=environ)


def from_args(args: argparse.Namespace) -> RunSettings:
    """The typed settings of a parsed `riskwall run` command line; ValueError naming the flag of a bad value."""
    return RunSettings(**{s.name: s.value(getattr(args, s.dest)) for s in SETTINGS})


# ---- the addon's mitmproxy options ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """A mitmproxy option as `Loader.add_option` takes it."""

    name: str
    kind: Any
    default: Any
    help: str
    choices: Sequence[str] | None = None


def _option_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _option_kind(default: Any) -> Any:
    if isinstance(default, tuple):
        return Sequence[str]
    return type(default)  # bool, int, float or str


def option_specs() -> list[OptionSpec]:
    """The addon's options, their types and defaults those of the settings they carry."""
    specs = []
    defaults = RunSettings()
    for declared in SETTINGS:
        if declared.option is None:
            continue
        default = getattr(defaults, declared.name)
        specs.append(OptionSpec(declared.option, _option_kind(default), _option_value(default),
                                declared.help[:1].upper() + declared.help[1:] + ".", declared.choices))
    return specs


def option_values(run: RunSettings) -> dict[str, Any]:
    """The addon's options for these settings (mitmproxy calls `configure()` only for options that are set:
    every one is)."""
    return {s.option: _option_value(getattr(run, s.name)) for s in SETTINGS if s.option is not None}


__all__ = [
    "ADMIN_TOKEN_ENV", "SETTINGS", "OptionSpec", "ReverseListener", "RunSettings", "Setting", "add_argument",
    "add_run_arguments", "env_list", "from_args", "option_specs", "option_values",
]
