"""Policies: YAML in, a frozen `Policy` out (strict, every error at once, with file and key path)."""

from riskwall.policy.loader import Policy, PolicyError, content_digest, load_policy
from riskwall.policy.model import PolicyMode

__all__ = ["Policy", "PolicyError", "PolicyMode", "content_digest", "load_policy"]
