"""Retries: which failures are retried, how many times, how long the client waits."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import AsyncIterator
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana._retry import backoff_delay, parse_retry_after
from nanobanana.testing import FakeServer

# A policy whose own backoff is never 0 and never exactly a server-requested wait, so a
# wait seen in the log can only be the server's if the server's wait was honoured.
BACKOFF = nb.RetryPolicy(max_retries=3, initial_delay=0.2, max_delay=0.2)


@pytest.fixture
def retry_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    # Records must reach caplog even if an earlier test (the CLI's) rerouted the logger.
    monkeypatch.setattr(logging.getLogger("nanobanana"), "propagate", True)
    caplog.set_level(logging.INFO, logger="nanobanana")
    return caplog


def waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [r.wait for r in caplog.records if r.name == "nanobanana"]  # type: ignore[attr-defined]


@pytest.fixture
async def backoff_client(server: FakeServer) -> AsyncIterator[nb.AsyncClient]:
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=BACKOFF) as c:
        yield c


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_transient_status_is_retried(
    client: nb.AsyncClient, server: FakeServer, status: int
) -> None:
    server.fail_next(2, status=status)

    result = await client.generate("a red kite")

    assert result.image.mime_type == "image/png"
    assert [r.outcome for r in server.generation_requests] == [f"fault:{status}"] * 2 + ["ok"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
async def test_client_error_status_is_never_retried(
    client: nb.AsyncClient, server: FakeServer, status: int
) -> None:
    server.fail_next(status=status)

    with pytest.raises(nb.APIStatusError) as info:
        await client.generate("a red kite")

    assert info.value.status == status
    assert len(server.generation_requests) == 1


async def test_dropped_connections_are_retried(client: nb.AsyncClient, server: FakeServer) -> None:
    server.drop_next(2)

    result = await client.generate("a red kite")

    assert result.image.mime_type == "image/png"
    assert [r.outcome for r in server.generation_requests] == ["dropped", "dropped", "ok"]


async def test_timeouts_are_retried(client: nb.AsyncClient, server: FakeServer) -> None:
    server.hang_next()

    result = await client.generate("a red kite", timeout=0.2)

    assert result.image.mime_type == "image/png"
    assert [r.outcome for r in server.generation_requests] == ["hung", "ok"]


async def test_connection_errors_are_not_retried_when_the_policy_says_so(
    server: FakeServer,
) -> None:
    server.drop_next()
    policy = nb.RetryPolicy(max_retries=3, retry_connection_errors=False)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as c:
        with pytest.raises(nb.APIConnectionError):
            await c.generate("a red kite")

    assert len(server.generation_requests) == 1


@pytest.mark.parametrize("max_retries", [0, 1, 4])
async def test_client_max_retries_is_the_number_of_retries(
    server: FakeServer, max_retries: int
) -> None:
    server.fail_next(10, status=503)
    async with nb.AsyncClient(
        api_key=server.api_key,
        base_url=server.url,
        retry=nb.RetryPolicy.no_wait(),
        max_retries=max_retries,
    ) as client:
        with pytest.raises(nb.ServerError):
            await client.generate("a red kite")

    assert len(server.generation_requests) == max_retries + 1


@pytest.mark.parametrize("max_retries", [0, 2])
async def test_call_max_retries_overrides_the_clients(
    client: nb.AsyncClient, server: FakeServer, max_retries: int
) -> None:
    server.fail_next(10, status=500)

    with pytest.raises(nb.ServerError):
        await client.generate("a red kite", max_retries=max_retries)

    assert len(server.generation_requests) == max_retries + 1


async def test_call_retry_policy_overrides_the_clients(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(3, status=429)

    with pytest.raises(nb.RateLimitError):
        await client.generate("a red kite", retry=nb.RetryPolicy.disabled())
    with pytest.raises(nb.RateLimitError):
        await client.generate(
            "a red kite", retry=nb.RetryPolicy(max_retries=5, retry_statuses={503})
        )

    assert len(server.generation_requests) == 2


async def test_each_retry_is_logged_with_attempt_reason_and_wait(
    client: nb.AsyncClient, server: FakeServer, retry_log: pytest.LogCaptureFixture
) -> None:
    server.fail_next(status=503)
    server.drop_next()
    server.hang_next()

    await client.generate("a red kite", timeout=0.2)

    records = [r for r in retry_log.records if r.name == "nanobanana"]
    assert [(r.attempt, r.reason) for r in records] == [  # type: ignore[attr-defined]
        (1, "HTTP 503"),
        (2, "APIConnectionError"),
        (3, "APITimeoutError"),
    ]
    assert all(r.wait == 0.0 for r in records)  # type: ignore[attr-defined]
    assert all(r.levelno == logging.INFO for r in records)


async def test_retry_after_seconds_is_the_wait(
    backoff_client: nb.AsyncClient, server: FakeServer, retry_log: pytest.LogCaptureFixture
) -> None:
    server.fail_next(status=429, retry_after=0.05)

    await backoff_client.generate("a red kite")

    assert waits(retry_log) == [0.05]


async def test_retry_after_ms_is_the_wait_and_wins_over_retry_after(
    backoff_client: nb.AsyncClient, server: FakeServer, retry_log: pytest.LogCaptureFixture
) -> None:
    server.fail_next(status=503, retry_after_ms=50)
    server.fail_next(status=503, retry_after_ms=30, retry_after=0.1)

    await backoff_client.generate("a red kite")

    assert waits(retry_log) == [0.05, 0.03]


@pytest.mark.parametrize("usegmt", [True, False])
async def test_retry_after_http_date_in_the_past_means_retry_now(
    backoff_client: nb.AsyncClient,
    server: FakeServer,
    retry_log: pytest.LogCaptureFixture,
    usegmt: bool,
) -> None:
    server.fail_next(
        status=503, retry_after=email.utils.formatdate(time.time() - 60, usegmt=usegmt)
    )

    await backoff_client.generate("a red kite")

    assert waits(retry_log) == [0.0]


@pytest.mark.parametrize("usegmt", [True, False])
async def test_retry_after_http_date_too_far_ahead_raises_at_once(
    client: nb.AsyncClient, server: FakeServer, usegmt: bool
) -> None:
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=usegmt)
    server.fail_next(status=429, retry_after=in_an_hour)

    started = time.monotonic()
    with pytest.raises(nb.RateLimitError, match="max_throttled_wait=120") as info:
        await client.generate("a red kite")

    assert time.monotonic() - started < 1
    assert 3590 < (info.value.retry_after or 0) <= 3600
    assert len(server.generation_requests) == 1


async def test_a_server_error_asking_for_more_than_max_retry_after_raises_at_once_saying_so(
    server: FakeServer,
) -> None:
    server.fail_next(status=502, retry_after=5)
    policy = nb.RetryPolicy(max_retries=3, max_retry_after=1)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as c:
        started = time.monotonic()
        with pytest.raises(nb.ServerError) as info:
            await c.generate("a red kite")

    assert time.monotonic() - started < 1
    assert "asked to wait 5 s" in str(info.value)
    assert "max_retry_after=1" in str(info.value)
    assert len(server.generation_requests) == 1


async def test_max_total_stops_retrying(server: FakeServer) -> None:
    server.fail_next(10, status=500, retry_after=0.2)
    policy = nb.RetryPolicy(max_retries=8, max_total=0.3)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as c:
        started = time.monotonic()
        with pytest.raises(nb.ServerError, match=r"max_total=0\.3 s reached") as info:
            await c.generate("a red kite")

    # 0.2 s after the first attempt fits in 0.3 s; another 0.2 s would not.
    assert time.monotonic() - started < 0.6
    assert info.value.status == 500
    assert len(server.generation_requests) == 2


async def test_backoff_waits_grow_and_stay_under_max_delay(
    server: FakeServer, retry_log: pytest.LogCaptureFixture
) -> None:
    server.fail_next(4, status=500)
    policy = nb.RetryPolicy(max_retries=4, initial_delay=0.01, max_delay=0.03)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as c:
        await c.generate("a red kite")

    ceilings = [0.01, 0.02, 0.03, 0.03]
    assert len(waits(retry_log)) == 4
    assert all(0 <= w <= c for w, c in zip(waits(retry_log), ceilings, strict=True))


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        nb.RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="max_retries"):
        nb.RetryPolicy(max_retries=True)
    with pytest.raises(ValueError, match="initial_delay"):
        nb.RetryPolicy(initial_delay=float("nan"))
    assert nb.RetryPolicy.disabled().max_retries == 0


# -- the pure functions, with hypothesis ---------------------------------------------------

delays = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(
    initial=delays,
    max_delay=delays,
    retry=st.integers(min_value=1, max_value=10_000),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_delay_is_within_its_full_jitter_ceiling(
    initial: float, max_delay: float, retry: int, rand: float
) -> None:
    policy = nb.RetryPolicy(initial_delay=initial, max_delay=max_delay)

    wait = backoff_delay(policy, retry, rand)

    ceiling = min(Fraction(max_delay), Fraction(initial) * 2 ** (retry - 1))
    assert 0 <= Fraction(wait) <= ceiling


@given(
    initial=delays,
    max_delay=delays,
    retry=st.integers(min_value=1, max_value=10_000),
    step=st.integers(min_value=0, max_value=100),
)
def test_backoff_delay_ceiling_never_shrinks(
    initial: float, max_delay: float, retry: int, step: int
) -> None:
    policy = nb.RetryPolicy(initial_delay=initial, max_delay=max_delay)
    almost_one = 1 - 2**-53

    assert backoff_delay(policy, retry, almost_one) <= backoff_delay(
        policy, retry + step, almost_one
    )


def test_backoff_delay_reaches_max_delay() -> None:
    policy = nb.RetryPolicy(initial_delay=0.5, max_delay=8)

    assert backoff_delay(policy, 1, 0.5) == 0.25
    assert backoff_delay(policy, 100, 1 - 2**-53) == pytest.approx(8)


@given(st.integers(min_value=-(10**6), max_value=10**9))
def test_parse_retry_after_reads_integer_seconds(seconds: int) -> None:
    assert parse_retry_after({"Retry-After": str(seconds)}) == max(seconds, 0)


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_parse_retry_after_reads_float_seconds(seconds: float) -> None:
    assert parse_retry_after({"retry-after": repr(seconds)}) == max(seconds, 0.0)
    assert parse_retry_after({"Retry-After-Ms": repr(seconds)}) == pytest.approx(
        max(seconds / 1000, 0.0)
    )


@given(
    when=st.integers(min_value=0, max_value=4_000_000_000),
    now=st.integers(min_value=0, max_value=4_000_000_000),
    usegmt=st.booleans(),
)
def test_parse_retry_after_reads_http_dates(when: int, now: int, usegmt: bool) -> None:
    header = email.utils.formatdate(when, usegmt=usegmt)

    assert parse_retry_after({"Retry-After": header}, now=now) == max(when - now, 0)


DATE_TOKENS = ["Mon,", "Feb", "32", "99999", "0", "-1", "25:61:61", "23:59:60", "00:00:00"]
DATE_TOKENS += ["GMT", "UT", "EST", "-0000", "+9999", "-2359", "1e9", "9999", "10000", "Dec"]
date_like = st.lists(st.sampled_from(DATE_TOKENS) | st.text(max_size=4), max_size=8).map(" ".join)


@given(st.text() | date_like)
def test_parse_retry_after_never_raises_on_garbage(text: str) -> None:
    for name in ("Retry-After", "retry-after-ms"):
        result = parse_retry_after({name: text})
        assert result is None or result >= 0


def test_parse_retry_after_without_the_headers_is_none() -> None:
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "inf"}) is None
