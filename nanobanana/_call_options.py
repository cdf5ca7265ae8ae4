"""The options of one call: the client's settings, overridden by the call's arguments.

A bad setting given to the client is a :class:`ConfigurationError`; the same setting
given to one call is a :class:`ValidationError` naming the argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._config import (
    UseClientDefault,
    check_client_request_id,
    check_number,
    per_call_error,
    pick,
)
from ._errors import ConfigurationError, ValidationError
from ._models import Timeout
from ._retry import RetryPolicy

__all__ = ["ClientDefaults", "RequestOptions", "as_timeout", "check_headers", "request_options"]


@attrs.frozen
class RequestOptions:
    """The options of one call (or of every request of one batch)."""

    timeout: Timeout
    retry: RetryPolicy
    client_request_id: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    metadata: bool = True


@attrs.frozen
class ClientDefaults:
    """The client's settings a call may override."""

    timeout: Timeout
    retry: RetryPolicy
    metadata: bool


def as_timeout(value: Any) -> Timeout:
    """A :class:`Timeout` from seconds, a ``Timeout``, or ``None`` (no limit)."""
    if isinstance(value, Timeout):
        return value
    if value is None:
        return Timeout(total=None, connect=None)
    seconds = check_number("timeout", value, positive=True)
    return Timeout(total=seconds)


def check_headers(value: Any) -> dict[str, str]:
    """The client's ``default_headers`` as a new ``dict`` of strings."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigurationError(f"default_headers must map str to str, got {value!r}")
    return dict(value)


def request_options(
    defaults: ClientDefaults,
    timeout: float | Timeout | UseClientDefault | None,
    max_retries: int | UseClientDefault,
    retry: RetryPolicy | UseClientDefault,
    client_request_id: str | None,
    extra_headers: Mapping[str, str] | None,
    metadata: bool | UseClientDefault,
) -> RequestOptions:
    """The options of a call made with these arguments."""
    policy = pick(retry, defaults.retry)
    if not isinstance(policy, RetryPolicy):
        raise ValidationError("retry", f"must be a RetryPolicy, got {policy!r}")
    if not isinstance(max_retries, UseClientDefault):
        try:
            policy = attrs.evolve(policy, max_retries=max_retries)
        except ConfigurationError as exc:
            raise per_call_error("max_retries", exc) from None
    chosen = defaults.timeout
    if not isinstance(timeout, UseClientDefault):
        try:
            chosen = as_timeout(timeout)
        except ConfigurationError as exc:
            raise per_call_error("timeout", exc) from None
    if not isinstance(metadata, (bool, UseClientDefault)):
        raise ValidationError("metadata", f"must be True or False, got {metadata!r}")
    return RequestOptions(
        timeout=chosen,
        retry=policy,
        client_request_id=check_client_request_id(client_request_id),
        headers=dict(extra_headers or {}),
        metadata=pick(metadata, defaults.metadata),
    )
