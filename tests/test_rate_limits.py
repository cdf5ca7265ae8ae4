"""Rate limits cost patience, not items: a 429 says "later", not "never"."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana._retry import batch_policy, retry_wait
from nanobanana.testing import FakeServer
from nanobanana.testing._load import LoadRules


def patient(max_retries: int = 1, **changes: float) -> nb.RetryPolicy:
    return nb.RetryPolicy(max_retries=max_retries, initial_delay=0.0, max_delay=0.0, **changes)


# -- single calls ---------------------------------------------------------------------


async def test_429s_are_retried_past_max_retries(server: FakeServer) -> None:
    server.fail_next(6, status=429)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=patient(max_retries=1)
    ) as client:
        result = await client.generate("a red kite")

    assert result.images
    assert [r.status for r in server.generation_requests] == [429] * 6 + [200]


async def test_a_503_with_retry_after_is_a_rate_limit_and_one_without_is_a_failure(
    server: FakeServer,
) -> None:
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=patient(max_retries=1)
    ) as client:
        server.fail_next(4, status=503, retry_after=0)
        assert (await client.generate("a red kite")).images

        server.fail_next(4, status=503)
        with pytest.raises(nb.ServerError):
            await client.generate("a blue boat")

    assert len(server.generation_requests) == 5 + 2  # 4 + success, then 1 + 1 retry


async def test_rate_limits_give_up_once_max_throttled_wait_is_used_up(server: FakeServer) -> None:
    server.fail_next(100, status=429, retry_after=0.05)
    policy = patient(max_retries=0, max_throttled_wait=0.12)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as client:
        with pytest.raises(nb.RateLimitError, match=r"max_throttled_wait=0\.12 s") as info:
            await client.generate("a red kite")

    assert info.value.status == 429
    # 0.05 + 0.05 fit in 0.12 s; a third wait would not.
    assert len(server.generation_requests) == 3


async def test_a_disabled_policy_does_not_retry_a_429_either(server: FakeServer) -> None:
    server.fail_next(1, status=429, retry_after=0)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.disabled()
    ) as client:
        with pytest.raises(nb.RateLimitError):
            await client.generate("a red kite")
    assert len(server.generation_requests) == 1


def test_single_calls_wait_two_minutes_and_batches_fifteen() -> None:
    assert nb.RetryPolicy().max_throttled_wait is None
    assert nb.RetryPolicy().throttled_wait_limit == 120.0
    assert batch_policy(nb.RetryPolicy()).throttled_wait_limit == 900.0
    assert nb.RetryPolicy.for_batch(max_retries=5).throttled_wait_limit == 900.0
    assert nb.RetryPolicy.for_batch(max_retries=5).max_retries == 5
    assert batch_policy(nb.RetryPolicy(max_throttled_wait=30)).throttled_wait_limit == 30


def test_bad_patience_settings_are_configuration_errors() -> None:
    with pytest.raises(nb.ConfigurationError, match="max_throttled_wait"):
        nb.RetryPolicy(max_throttled_wait=-1)
    with pytest.raises(nb.ConfigurationError, match="max_outage"):
        nb.RetryPolicy(max_outage=float("nan"))


@given(
    asked=st.lists(st.one_of(st.none(), st.floats(0, 30)), min_size=1, max_size=60),
    limit=st.floats(0, 300),
    rand=st.floats(0, 1, exclude_max=True),
)
def test_rate_limit_waits_add_up_to_at_most_max_throttled_wait(
    asked: list[float | None], limit: float, rand: float
) -> None:
    policy = nb.RetryPolicy(max_retries=0, max_total=0.0, max_throttled_wait=limit)
    waited = 0.0
    for answer, retry_after in enumerate(asked, start=1):
        error = nb.RateLimitError("slow down", status=429, retry_after=retry_after)
        wait = retry_wait(error, answer, policy, elapsed=1e9, rand=rand, throttled_wait=waited)
        if isinstance(wait, str):
            assert "max_throttled_wait" in wait  # never max_retries, never max_total
            return
        waited += wait
        assert waited <= limit


def test_a_429_asking_for_more_than_max_retry_after_is_waited_out_while_patience_lasts() -> None:
    policy = nb.RetryPolicy.for_batch()  # max_retry_after=60, max_throttled_wait=900
    error = nb.RateLimitError("slow down", status=429, retry_after=300)

    assert retry_wait(error, 1, policy, elapsed=0.0, rand=0.5) == 300.0
    refused = retry_wait(error, 2, policy, elapsed=0.0, rand=0.5, throttled_wait=700)
    assert refused == (
        "the server asked to wait 300 s, more than the 200 s left of "
        "max_throttled_wait=900 s allows; not retried"
    )


# -- batches --------------------------------------------------------------------------


async def test_a_batch_under_a_tight_rate_limit_loses_no_item(server: FakeServer) -> None:
    server.rate_limit(per_second=100, burst=5)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=patient(max_retries=1)
    ) as client:
        batch = client.batch([f"kite {i}" for i in range(80)], concurrency=32)
        items = [item async for item in batch]

    assert sorted(item.status for item in items) == ["ok"] * 80
    summary = batch.summary
    assert summary.throttled > 0  # the limit did bite
    assert summary.throttled == sum(item.throttled for item in items)
    assert all(item.attempts - item.throttled == 1 for item in items)
    assert summary.requests_sent == len(server.generation_requests)


async def test_a_batch_told_its_limit_meets_no_429_where_its_first_wave_would(
    server: FakeServer,
) -> None:
    server.rate_limit(per_second=50, burst=5)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=patient(max_retries=1)
    ) as client:
        unpaced = await client.batch([f"kite {i}" for i in range(30)], concurrency=32).run()
        server.rate_limit(per_second=50, burst=5)  # its bucket full again
        paced = client.batch(
            [f"boat {i}" for i in range(30)], concurrency=32, requests_per_minute=45 * 60
        )
        await paced.run()

    assert unpaced.ok == 30
    assert unpaced.throttled >= 20  # its first wave of 30 met a burst of 5
    assert paced.summary.ok == 30
    assert paced.summary.throttled == 0


async def test_a_batch_item_waits_out_a_retry_after_above_max_retry_after(
    server: FakeServer,
) -> None:
    server.fail_next(1, status=429, retry_after=0.2)
    policy = patient(max_retry_after=0.05, max_throttled_wait=5)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as client:
        items = [item async for item in client.batch(["a red kite"], concurrency=1)]

    assert items[0].ok
    assert (items[0].attempts, items[0].throttled) == (2, 1)


async def test_a_batch_item_fails_at_once_when_the_wait_asked_for_exceeds_its_patience(
    server: FakeServer,
) -> None:
    server.fail_next(1, status=429, retry_after=90)
    policy = patient(max_throttled_wait=5)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, retry=policy) as client:
        items = [item async for item in client.batch(["a red kite"], concurrency=1)]

    assert items[0].status == "failed"
    assert isinstance(items[0].error, nb.RateLimitError)
    assert "asked to wait 90 s, more than max_throttled_wait=5 s allows" in str(items[0].error)
    assert len(server.generation_requests) == 1


async def test_429s_do_not_spend_the_retry_budget(server: FakeServer) -> None:
    # Far more 429s than a budget of 500 tokens at 5 a retry could pay for.
    server.fail_next(300, status=429)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=patient(max_retries=0)
    ) as client:
        # Not adaptive: 300 429s in a row would slow the batch down, and the budget,
        # not the pacing, is the point here.
        batch = client.batch(["a red kite"], concurrency=1, adaptive=False)
        items = [item async for item in batch]

    assert items[0].ok
    assert (items[0].attempts, items[0].throttled) == (301, 300)


# -- the fake server's load switches ---------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_lets_its_burst_through_then_its_rate() -> None:
    clock = Clock()
    rules = LoadRules(clock=clock)
    rules.rate_limit(10, burst=2)

    assert [rules.verdict() for _ in range(2)] == [None, None]
    refused = rules.verdict()
    assert refused is not None
    assert refused[1] == "rate_limit:429"
    clock.now = 0.1  # one token later
    assert rules.verdict() is None
    assert rules.verdict() is not None
    rules.rate_limit(None, None)
    assert rules.verdict() is None


def test_a_throttle_share_refuses_about_that_share_whatever_the_load() -> None:
    rules = LoadRules(clock=Clock(), rand=random.Random(7))
    rules.throttle_share(0.3, retry_after=1)

    refused = [rules.verdict() for _ in range(2000)]
    share = sum(v is not None for v in refused) / len(refused)
    assert 0.25 < share < 0.35
    first = next(v for v in refused if v is not None)
    assert first[0].headers == (("Retry-After", "1"),)


def test_an_outage_refuses_everything_until_it_ends() -> None:
    clock = Clock()
    rules = LoadRules(clock=clock)
    rules.outage(20, status=None)

    verdict = rules.verdict()
    assert verdict is not None
    assert verdict[1] == "outage:refused"
    clock.now = 19.9
    assert rules.verdict() is not None
    clock.now = 20.0
    assert rules.verdict() is None


async def test_an_outage_that_resets_connections_reaches_the_client_as_a_connection_error(
    server: FakeServer,
) -> None:
    server.outage(60, status=None)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.disabled()
    ) as client:
        with pytest.raises(nb.APIConnectionError):
            await client.generate("a red kite")
    assert [(r.outcome, r.status) for r in server.generation_requests] == [("outage:refused", None)]


@pytest.mark.parametrize(
    ("switch", "args"),
    [
        ("rate_limit", (0,)),
        ("rate_limit", (10, 0.5)),
        ("throttle_share", (1.5,)),
        ("throttle_share", (0.5, -1)),
        ("outage", (-1,)),
        ("outage", (10, 99)),
    ],
)
def test_load_switches_reject_bad_settings(switch: str, args: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        getattr(FakeServer(), switch)(*args)
