"""What every case runs in: its clock, the file's defaults for venue and account, and the error of a case that
cannot be run as written."""

from __future__ import annotations

from dataclasses import dataclass

from riskwall.model import Action, Venue, is_fingerprint
from riskwall.policy.loader import Policy
from riskwall.policy.testing.spec import TestFileSpec

# 2026-01-01T00:00:00Z: every case starts on this clock, so a test never depends on the day it runs
START_MS = 1_767_225_600_000
DEFAULT_ACCOUNT = "000000000000"
ORDER_ACTIONS = (Action.NEW, Action.AMEND)


class ManualClock:
    """Milliseconds that move only when told (the store's injected clock)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


class CaseError(Exception):
    """A case that cannot be run as written (an unknown account label, an order without a side, ...)."""


@dataclass(frozen=True, slots=True)
class CaseContext:
    """The test file and its policy, which a case's accounts and venue default to."""

    spec: TestFileSpec
    policy: Policy

    @property
    def venue(self) -> Venue:
        return self.spec.venue

    def account(self, text: str | None, venue: Venue) -> str:
        """A label or a fingerprint → a fingerprint; None → the file's default account."""
        if text is None:
            return self.account(self.spec.account, venue) if self.spec.account is not None else DEFAULT_ACCOUNT
        if is_fingerprint(text):
            return text
        account = self.policy.accounts.get(text)
        if account is None:
            known = ", ".join(sorted(self.policy.accounts)) or "none"
            raise CaseError(f"account {text!r} is neither a 12-hex-digit fingerprint nor a label of the policy "
                            f"(labels: {known})")
        if account.venue is not None and account.venue != venue:
            raise CaseError(f"account label {text!r} belongs to venue {account.venue}, not {venue}")
        return account.fingerprints[0]

    def holder(self, text: str | None, venue: Venue) -> str:
        """The account a case's state is kept under: the key's label where the policy names one (as in the
        sidecar, so a position seeded for one key of an account counts for all of them)."""
        fingerprint = self.account(text, venue)
        return self.policy.holder(venue, fingerprint) or fingerprint

