"""The retry loop on its own: a send callable, a policy, hooks; no HTTP."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana._retry import retry_wait, send_with_retries

NO_WAIT = nb.RetryPolicy.no_wait(max_retries=3)


class Script:
    """A send callable that raises or returns what it is given, in order."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Hooks:
    """Records what the loop tells the caller around each attempt."""

    def __init__(self, refuse: str | None = None, independent: bool = False) -> None:
        self.events: list[tuple[str, object]] = []
        self.refuse = refuse
        self.independent = independent

    async def before_attempt(self, attempt: int) -> None:
        self.events.append(("before", attempt))

    def after_attempt(self, error: BaseException | None) -> None:
        self.events.append(("after", type(error).__name__ if error else None))

    def refuse_retry(self, error: Exception) -> str | None:
        self.events.append(("refuse?", type(error).__name__))
        return self.refuse

    def waiting(self, error: Exception, seconds: float) -> None:
        self.events.append(("wait", seconds))

    def excuse(self, error: Exception) -> bool:
        return False

    def independent_429s(self) -> bool:
        return self.independent


def busy(status: int = 503, retry_after: float | None = None) -> nb.APIStatusError:
    cls = nb.RateLimitError if status == 429 else nb.ServerError
    return cls("busy", status=status, retry_after=retry_after)


async def test_a_failing_send_is_retried_until_it_succeeds() -> None:
    send = Script(busy(), nb.APIConnectionError("reset"), "the images")

    assert await send_with_retries(send, NO_WAIT) == "the images"
    assert send.calls == 3


async def test_the_hooks_hear_of_every_attempt_and_its_outcome() -> None:
    hooks = Hooks()
    await send_with_retries(Script(busy(), "ok"), NO_WAIT, hooks)

    assert hooks.events == [
        ("before", 1),
        ("after", "ServerError"),
        ("refuse?", "ServerError"),
        ("wait", 0.0),
        ("before", 2),
        ("after", None),
    ]


async def test_an_error_the_policy_does_not_retry_is_raised_as_it_is() -> None:
    error = nb.BadRequestError("no", status=400)
    with pytest.raises(nb.BadRequestError) as info:
        await send_with_retries(Script(error), NO_WAIT)
    assert info.value is error


async def test_running_out_of_retries_raises_the_last_error_as_it_is() -> None:
    last = busy()
    send = Script(busy(), busy(), busy(), last)
    with pytest.raises(nb.ServerError) as info:
        await send_with_retries(send, NO_WAIT)
    assert info.value is last
    assert send.calls == 4


async def test_a_refused_retry_says_why_in_a_new_error_of_the_same_class() -> None:
    original = busy()
    with pytest.raises(nb.ServerError) as info:
        await send_with_retries(Script(original), NO_WAIT, Hooks(refuse="budget exhausted"))

    raised = info.value
    assert raised is not original
    assert raised.status == 503
    assert str(raised) == "HTTP 503: busy (not retried: budget exhausted)"
    assert raised.__cause__ is original
    assert str(original) == "HTTP 503: busy"  # the caught error is never changed


async def test_a_wait_longer_than_max_retry_after_is_not_retried() -> None:
    policy = nb.RetryPolicy(max_retry_after=1.0)
    with pytest.raises(nb.ServerError, match="asked to wait 30 s") as info:
        await send_with_retries(Script(busy(500, retry_after=30.0)), policy)
    assert info.value.retry_after == 30.0


async def test_a_rate_limit_wait_longer_than_max_throttled_wait_is_not_retried() -> None:
    policy = nb.RetryPolicy(max_retry_after=1.0, max_throttled_wait=10.0)
    with pytest.raises(nb.RateLimitError, match="max_throttled_wait=10 s allows") as info:
        await send_with_retries(Script(busy(429, retry_after=30.0)), policy)
    assert info.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("independent", "waits"), [(False, [0.01, 0.02, 0.04, 0.08]), (True, [0.01] * 4)]
)
async def test_429s_found_not_to_be_about_the_load_do_not_back_off_further_and_further(
    independent: bool, waits: list[float]
) -> None:
    hooks = Hooks(independent=independent)
    policy = nb.RetryPolicy(initial_delay=0.01, max_delay=1.0)
    send = Script(busy(429), busy(429), busy(429), busy(429), "ok")

    assert await send_with_retries(send, policy, hooks, rand=lambda: 1.0) == "ok"
    assert [seconds for event, seconds in hooks.events if event == "wait"] == waits


async def test_max_total_counts_from_the_first_attempt() -> None:
    now = [0.0]
    policy = nb.RetryPolicy(initial_delay=0.0, max_delay=0.0, max_total=10.0)

    async def send() -> str:
        now[0] += 6.0  # each attempt takes 6 s on this clock
        raise busy()

    with pytest.raises(nb.ServerError, match=r"max_total=10 s reached"):
        await send_with_retries(send, policy, clock=lambda: now[0])
    assert now[0] == 12.0  # the second attempt ended past max_total: no third


async def test_the_server_asked_wait_is_slept() -> None:
    with anyio.fail_after(5):
        started = anyio.current_time()
        await send_with_retries(Script(busy(429, retry_after=0.2), "ok"), NO_WAIT)
    assert anyio.current_time() - started >= 0.2


async def test_a_cancelled_attempt_is_reported_to_the_hooks_and_not_retried() -> None:
    hooks = Hooks()

    async def hang() -> str:
        await anyio.sleep_forever()
        return "never"

    with anyio.move_on_after(0.05):
        await send_with_retries(hang, NO_WAIT, hooks)
    assert hooks.events == [("before", 1), ("after", "CancelledError")]


async def test_other_exceptions_go_straight_through() -> None:
    hooks = Hooks()
    with pytest.raises(KeyError):
        await send_with_retries(Script(KeyError("x")), NO_WAIT, hooks)
    assert hooks.events == [("before", 1), ("after", "KeyError")]


# -- the decision, with hypothesis ------------------------------------------------------

seconds = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)


@given(
    attempt=st.integers(min_value=1, max_value=50),
    elapsed=seconds,
    asked=st.none() | seconds,
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
    max_total=seconds,
)
def test_a_retry_never_waits_past_max_total_or_beyond_what_is_allowed(
    attempt: int, elapsed: float, asked: float | None, rand: float, max_total: float
) -> None:
    policy = nb.RetryPolicy(max_retries=10, max_total=max_total)
    wait = retry_wait(busy(500, retry_after=asked), attempt, policy, elapsed=elapsed, rand=rand)

    if isinstance(wait, str):
        return  # not retried, with a reason unless the policy simply does not retry it
    assert attempt <= policy.max_retries
    assert elapsed + wait <= policy.max_total
    if asked is None:
        assert 0 <= wait <= policy.max_delay
    else:
        assert wait == asked <= policy.max_retry_after
