"""Properties of the batch's flow-control arithmetic and of its file names (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from nanobanana._batch import image_file_name, slugify
from nanobanana._batch._throttle import AIMDLimit, RetryBudget, TokenBucket

# The properties are about arithmetic, not speed: a busy machine must not fail them.
untimed = settings(deadline=None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- AIMD --------------------------------------------------------------------------------

limits = st.integers(min_value=1, max_value=256)
events = st.lists(
    st.one_of(
        st.tuples(st.just("success"), st.just(0.0)),
        # a 429 for a request sent `age` seconds ago
        st.tuples(st.just("throttled"), st.floats(min_value=0.0, max_value=5.0)),
        st.tuples(st.just("tick"), st.floats(min_value=0.0, max_value=2.0)),
    ),
    max_size=300,
)


@untimed
@given(maximum=limits, minimum=st.integers(min_value=-3, max_value=300), steps=events)
def test_the_aimd_limit_stays_within_its_bounds(
    maximum: int, minimum: int, steps: list[tuple[str, float]]
) -> None:
    clock = FakeClock()
    limit = AIMDLimit(maximum, minimum=minimum, clock=clock)
    floor = limit.minimum
    assert 1 <= floor <= maximum
    for kind, value in steps:
        if kind == "success":
            limit.on_success()
        elif kind == "throttled":
            limit.on_throttled(started=clock.now - value)
        else:
            clock.now += value
        assert floor <= limit.limit <= maximum
        assert floor <= limit.allowed <= maximum


@untimed
@given(
    maximum=limits,
    cohort=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=50),
    answer_delays=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=50, max_size=50),
)
def test_a_cohort_of_429s_decreases_the_limit_once(
    maximum: int, cohort: list[float], answer_delays: list[float]
) -> None:
    clock = FakeClock()
    limit = AIMDLimit(maximum, clock=clock)
    clock.now = 10.0
    sent = [clock.now + offset for offset in cohort]  # all sent before any answer came
    clock.now = max(sent)
    before = limit.limit
    for started, delay in zip(sent, answer_delays, strict=False):
        clock.now += delay
        limit.on_throttled(started=started)

    assert limit.decreases == 1
    assert limit.limit == max(float(limit.minimum), before * limit.factor)


@untimed
@given(
    maximum=limits,
    rounds=st.integers(min_value=1, max_value=12),
)
def test_each_new_cohort_can_decrease_the_limit_again(maximum: int, rounds: int) -> None:
    clock = FakeClock()
    limit = AIMDLimit(maximum, clock=clock)
    for _ in range(rounds):
        clock.now += 1.0
        started = clock.now  # sent after the last decrease
        clock.now += 0.5
        limit.on_throttled(started=started)
    assert limit.decreases == rounds
    assert limit.allowed == max(1, int(maximum * 0.5**rounds))


@untimed
@given(
    maximum=st.integers(min_value=1, max_value=64), throttles=st.integers(min_value=0, max_value=12)
)
def test_successes_raise_the_limit_monotonically_back_to_the_maximum(
    maximum: int, throttles: int
) -> None:
    clock = FakeClock()
    limit = AIMDLimit(maximum, clock=clock)
    for _ in range(throttles):
        clock.now += 1.0
        limit.on_throttled(started=clock.now)
    previous = limit.limit
    successes = 0
    while limit.allowed < maximum:
        limit.on_success()
        successes += 1
        assert limit.limit >= previous
        previous = limit.limit
        # Additive increase: about one slot per round trip, so ~max**2/2 successes at most.
        assert successes <= maximum * maximum + 1
    limit.on_success()
    assert limit.limit == maximum


# -- token bucket ------------------------------------------------------------------------


@untimed
@given(
    per_minute=st.floats(min_value=1.0, max_value=6000.0),
    burst=st.floats(min_value=0.0, max_value=20.0),
    moves=st.lists(
        st.one_of(
            st.floats(min_value=0.0, max_value=3.0),  # the clock moves on
            st.just(-1.0),  # a worker sleeps for delay() then takes, as acquire() does
        ),
        max_size=200,
    ),
)
def test_the_token_bucket_never_allows_more_than_burst_plus_rate_times_t(
    per_minute: float, burst: float, moves: list[float]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute, burst=burst, clock=clock)
    taken: list[float] = []
    for move in moves:
        if move < 0:
            clock.now += bucket.delay()
            bucket.take()
            taken.append(clock.now)
        else:
            clock.now += move
        while bucket.delay() == 0.0:  # a greedy worker takes all it is allowed
            bucket.take()
            taken.append(clock.now)

    for first in range(len(taken)):
        for last in range(first, len(taken)):
            window = taken[last] - taken[first]
            allowed = bucket.capacity + bucket.rate * window
            assert last - first + 1 <= allowed + 1e-6


@untimed
@given(per_minute=st.floats(min_value=1.0, max_value=6000.0))
def test_the_token_bucket_delay_matches_the_rate(per_minute: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute, clock=clock)
    assert bucket.delay() == 0.0
    bucket.take()
    assert math.isclose(bucket.delay(), 60.0 / per_minute)


# -- retry budget ------------------------------------------------------------------------


@untimed
@given(
    capacity=st.integers(min_value=0, max_value=1000),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("retry"), st.booleans()),
            st.tuples(st.just("success"), st.integers(min_value=0, max_value=100)),
        ),
        max_size=300,
    ),
)
def test_the_retry_budget_stays_between_zero_and_capacity(
    capacity: int, steps: list[tuple[str, object]]
) -> None:
    budget = RetryBudget(capacity)
    for kind, value in steps:
        before = budget.tokens
        if kind == "retry":
            spent = budget.try_spend(timeout=bool(value))
            cost = budget.timeout_cost if value else budget.retry_cost
            assert spent == (before >= cost)
            assert budget.tokens == (before - cost if spent else before)
        else:
            assert isinstance(value, int)
            budget.on_success(value)
            assert budget.tokens >= before
        assert 0 <= budget.tokens <= capacity


# -- file names --------------------------------------------------------------------------

SUFFIXES = st.sampled_from([".png", ".jpg", ".webp", ".gif", ".bin"])


def _safe(name: str) -> None:
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    assert ".." not in name
    assert not name.startswith(".")


@untimed
@given(st.text(), st.integers(min_value=1, max_value=80))
def test_a_slug_is_always_a_safe_file_name(text: str, max_len: int) -> None:
    slug = slugify(text, max_len)
    _safe(slug)
    assert slug == "image" or len(slug) <= max_len


@untimed
@given(
    index=st.integers(min_value=0, max_value=10**9),
    prompt=st.text(),
    suffix=SUFFIXES,
    count=st.integers(min_value=1, max_value=4),
    data=st.data(),
)
def test_an_image_file_name_is_always_safe(
    index: int, prompt: str, suffix: str, count: int, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=count - 1))
    name = image_file_name(index, prompt, suffix, position, count)
    _safe(name)
    assert name.endswith(suffix)
    assert name.startswith(f"{index:06d}-")


@untimed
@given(prompt=st.text(), data=st.data())
def test_images_of_one_request_get_distinct_names(prompt: str, data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=1, max_value=4))
    names = {image_file_name(7, prompt, ".png", p, count) for p in range(count)}
    assert len(names) == count
