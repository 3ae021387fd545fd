"""What a registry lookup came to (``Status``): the one part of the facts an offline run needs, since the
rules and the pipeline name its members at import time. ``preflight.facts`` re-exports it.
"""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    OK = "ok"
    TAG_MISSING = "tag_missing"
    DIGEST_MISSING = "digest_missing"
    REPO_MISSING = "repo_missing"
    REPO_MISSING_OR_PRIVATE = "repo_missing_or_private"  # 401 insufficient_scope (Hub, token registries)
    AUTH_REQUIRED = "auth_required"  # credentials needed, none configured
    AUTH_FAILED = "auth_failed"  # credentials configured but rejected / no pull rights
    RATE_LIMITED = "rate_limited"
    REGISTRY_ERROR = "registry_error"  # 5xx after retries, malformed answers
    NETWORK_DNS = "network_dns"
    NETWORK_REFUSED = "network_refused"
    NETWORK_TIMEOUT = "network_timeout"
    TLS = "tls"
    PROXY = "proxy"
    BLOCKED_BY_POLICY = "blocked_by_policy"  # address guard refused the host
    NOT_CHECKED = "not_checked"  # the global deadline passed before an answer
    INTERNAL_ERROR = "internal_error"  # preflight itself failed while looking this reference up (a bug)

    @property
    def unreachable(self) -> bool:
        return self in _UNREACHABLE

    @property
    def answered(self) -> bool:
        """The registry said something about the image (not: unreachable, error, rate limit, deadline)."""
        return not self.unreachable and self not in (Status.NOT_CHECKED, Status.REGISTRY_ERROR, Status.RATE_LIMITED)


_UNREACHABLE = {
    Status.NETWORK_DNS,
    Status.NETWORK_REFUSED,
    Status.NETWORK_TIMEOUT,
    Status.TLS,
    Status.PROXY,
    Status.BLOCKED_BY_POLICY,
}
