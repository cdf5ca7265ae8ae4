"""One way to check settings: a bad argument is refused by name, before anything is sent.

A bad constructor argument of a client, ``RetryPolicy`` or ``Timeout`` raises
``ConfigurationError``; a bad per-call argument (of ``generate``, ``batch``...) raises
``ValidationError``. Both are ``ValueError`` subclasses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import nanobanana as nb
from nanobanana.testing import FakeServer

KEY = {"api_key": "my-key"}

CONSTRUCTOR_CASES: list[tuple[Callable[..., object], dict[str, Any], str]] = []
for make in (nb.AsyncClient, nb.Client):
    CONSTRUCTOR_CASES += [
        (make, {"api_key": "  "}, "api_key"),
        (make, {**KEY, "base_url": "ftp://example.com"}, "base_url"),
        (make, {**KEY, "model": ""}, "model"),
        (make, {**KEY, "timeout": -1}, "timeout"),
        (make, {**KEY, "timeout": 0}, "timeout"),
        (make, {**KEY, "timeout": "x"}, "timeout"),
        (make, {**KEY, "timeout": math.nan}, "timeout"),
        (make, {**KEY, "max_retries": -1}, "max_retries"),
        (make, {**KEY, "max_retries": "3"}, "max_retries"),
        (make, {**KEY, "retry": "patient"}, "retry"),
        (make, {**KEY, "max_connections": 0}, "max_connections"),
        (make, {**KEY, "max_connections": True}, "max_connections"),
        (make, {**KEY, "max_connections": "8"}, "max_connections"),
        (make, {**KEY, "default_headers": {"X-Team": 7}}, "default_headers"),
        (make, {**KEY, "default_headers": "X-Team: 7"}, "default_headers"),
        (make, {**KEY, "max_download_bytes": -5}, "max_download_bytes"),
        (make, {**KEY, "max_download_bytes": "big"}, "max_download_bytes"),
        (make, {**KEY, "max_response_bytes": 0}, "max_response_bytes"),
        (make, {**KEY, "trust_env": "yes"}, "trust_env"),
    ]
CONSTRUCTOR_CASES += [
    (nb.RetryPolicy, {"max_retries": -1}, "max_retries"),
    (nb.RetryPolicy, {"max_retries": True}, "max_retries"),
    (nb.RetryPolicy, {"initial_delay": -1}, "initial_delay"),
    (nb.RetryPolicy, {"initial_delay": math.nan}, "initial_delay"),
    (nb.RetryPolicy, {"max_delay": math.inf}, "max_delay"),
    (nb.RetryPolicy, {"max_total": "long"}, "max_total"),
    (nb.RetryPolicy, {"max_retry_after": -0.5}, "max_retry_after"),
    (nb.RetryPolicy, {"retry_statuses": [429, 999]}, "retry_statuses"),
    (nb.RetryPolicy, {"retry_statuses": 429}, "retry_statuses"),
    (nb.RetryPolicy, {"retry_connection_errors": "no"}, "retry_connection_errors"),
    (nb.Timeout, {"total": -1}, "total"),
    (nb.Timeout, {"total": 0}, "total"),
    (nb.Timeout, {"total": "x"}, "total"),
    (nb.Timeout, {"connect": -1}, "connect"),
    (nb.Timeout, {"connect": "soon"}, "connect"),
]


@pytest.mark.parametrize(
    ("make", "kwargs", "argument"),
    CONSTRUCTOR_CASES,
    ids=[f"{m.__name__}-{a}-{kw.get(a)!r}" for m, kw, a in CONSTRUCTOR_CASES],
)
def test_a_bad_setting_is_a_configuration_error_naming_it(
    make: Callable[..., object], kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(nb.ConfigurationError, match=argument) as info:
        make(**kwargs)
    assert isinstance(info.value, ValueError)


PER_CALL_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("generate", {"timeout": -1}, "timeout"),
    ("generate", {"timeout": "x"}, "timeout"),
    ("generate", {"max_retries": -1}, "max_retries"),
    ("generate", {"retry": "patient"}, "retry"),
    ("generate", {"client_request_id": "has spaces"}, "client_request_id"),
    ("generate", {"num_images": 9}, "num_images"),
    ("batch", {"concurrency": 0}, "concurrency"),
    ("batch", {"concurrency": "4"}, "concurrency"),
    ("batch", {"concurrency": True}, "concurrency"),
    ("batch", {"requests_per_minute": 0}, "requests_per_minute"),
    ("batch", {"reorder_window": 0}, "reorder_window"),
    ("batch", {"max_spend_usd": -1}, "max_spend_usd"),
    ("batch", {"max_credits": "lots"}, "max_credits"),
    ("batch", {"ordered": "yes"}, "ordered"),
    ("batch", {"fail_fast": 1}, "fail_fast"),
    ("batch", {"progress": "print"}, "progress"),
    ("batch", {"resume": True}, "resume"),  # without out_dir
    ("batch", {"timeout": -1}, "timeout"),
    ("batch", {"max_retries": -2}, "max_retries"),
]


@pytest.mark.parametrize(
    ("method", "kwargs", "argument"),
    PER_CALL_CASES,
    ids=[f"{m}-{a}-{kw[a]!r}" for m, kw, a in PER_CALL_CASES],
)
async def test_a_bad_per_call_argument_is_a_validation_error_before_anything_is_sent(
    server: FakeServer, method: str, kwargs: dict[str, Any], argument: str
) -> None:
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url) as client:
        call = client.generate if method == "generate" else client.batch
        with pytest.raises(nb.ValidationError, match=argument) as info:
            await call("a red kite", **kwargs) if method == "generate" else call(["a"], **kwargs)

    assert info.value.field == argument
    assert server.requests == []
