"""A state store's URL as logs, /v1/status and errors show it (`without_password`): every credential masked, in
the authority (`user:pass@`) and in the query options redis-py reads credentials from (`?password=`)."""

from __future__ import annotations

import pytest

from riskwall.state.breaker import without_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://user:s3cret@h:6379/0", "redis://***@h:6379/0"),
        ("redis://h/0?password=s3cret", "redis://h/0?password=***"),
        ("unix:///run/redis.sock?password=s3cret&db=2", "unix:///run/redis.sock?password=***&db=2"),
        ("rediss://u:p@h/0?ssl_password=zz&socket_timeout=1", "rediss://***@h/0?ssl_password=***&socket_timeout=1"),
        ("redis+sentinel://h:26379/mymaster?sentinel_password=s3cret", "redis+sentinel://h:26379/mymaster?"
                                                                       "sentinel_password=***"),
        ("redis://h/0?username=admin&prefix=rw", "redis://h/0?username=***&prefix=rw"),
        ("redis://h/0?prefix=rw", "redis://h/0?prefix=rw"),
    ],
    ids=["none", "authority", "query", "unix-socket", "both", "sentinel", "username", "harmless-option"],
)
def test_without_password_when_url_carries_credentials_then_each_is_masked(url: str, shown: str) -> None:
    assert without_password(url) == shown
    assert "s3cret" not in without_password(url)
