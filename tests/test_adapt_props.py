"""The throttle learns a send rate from 429s, and does not collapse on 429s that are
not about it: properties on a simulated clock (hypothesis)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hypothesis import assume, example, given, settings, strategies as st

import nanobanana as nb
from nanobanana._batch._adapt import LoadJudge, SendRate, likelihood
from nanobanana._batch._throttle import Throttle

untimed = settings(deadline=None, max_examples=25)
TICK = 0.01


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Api:
    """A simulated API: a token bucket of ``limit`` a second, or a share ``p`` of 429s
    whatever the load; every answer takes ``latency``."""

    def __init__(self, clock: Clock, rng: random.Random, *, limit: float = 0, p: float = 0):
        self.clock, self.rng, self.limit, self.p = clock, rng, limit, p
        self.tokens, self.stamp = max(1.0, limit), 0.0

    def refuses(self) -> bool:
        if self.p:
            return self.rng.random() < self.p
        now = self.clock.now
        self.tokens = min(max(1.0, self.limit), self.tokens + (now - self.stamp) * self.limit)
        self.stamp = now
        if self.tokens < 1:
            return True
        self.tokens -= 1
        return False


def run(
    throttle: Throttle,
    api: Api,
    clock: Clock,
    seconds: float,
    latency: float,
    *,
    refused_in: float | None = None,
    tick: float = TICK,
) -> dict:
    """Send as much as the throttle allows for ``seconds``, looking every ``tick``;
    count the last half. A 429 comes after ``refused_in`` seconds (``latency`` unless
    given)."""
    pending: list[tuple[float, float, bool]] = []  # (answer at, sent at, refused)
    late = {"sent": 0, "refused": 0, "in_flight": 0.0, "ticks": 0}
    while clock.now < seconds:
        for due, started, refused in [p for p in pending if p[0] <= clock.now]:
            pending.remove((due, started, refused))
            error = nb.RateLimitError("slow down", status=429) if refused else None
            throttle.release(started, error)
        while (started := throttle._try_acquire()) is not None:
            refused = api.refuses()
            took = refused_in if refused and refused_in is not None else latency
            pending.append((clock.now + took, started, refused))
            if clock.now >= seconds / 2:
                late["sent"] += 1
                late["refused"] += refused
        if clock.now >= seconds / 2:
            late["in_flight"] += throttle.in_flight
            late["ticks"] += 1
        clock.now = round(clock.now + tick, 6)
    return late


#: A token bucket of 10, 40 or 200 a second, answers after 20 or 200 ms.
any_binding_limit = given(
    limit=st.sampled_from([10.0, 40.0, 200.0]),
    latency=st.sampled_from([0.02, 0.2]),
    concurrency=st.integers(16, 64),
)


def against_a_limit(
    limit: float,
    latency: float,
    concurrency: int,
    seconds: float,
    *,
    api: Callable[[Clock], Api] | None = None,
    **answers: float | None,
) -> tuple[Throttle, dict]:
    """A batch sending for ``seconds`` against a rate limit that binds (the
    concurrency is raised to 1.5 times what the limit needs, if lower): a token
    bucket of ``limit`` a second, or what ``api`` makes; ``answers`` go to
    :func:`run` (``refused_in``, ``tick``)."""
    concurrency = max(concurrency, int(1.5 * limit * latency) + 1)
    clock = Clock()
    throttle = Throttle(concurrency, clock=clock)
    bucket = api(clock) if api is not None else Api(clock, random.Random(0), limit=limit)
    late = run(throttle, bucket, clock, seconds, latency, **answers)
    return throttle, late


@untimed
@given(
    concurrency=st.integers(8, 64),
    p=st.sampled_from([0.1, 0.3, 0.5]),
    latency=st.sampled_from([0.05, 0.2, 0.5]),
    seed=st.integers(0, 2**16),
)
# 10 % of 429s: decreases too small to slow the batch measurably must not go on forever.
@example(concurrency=28, p=0.1, latency=0.2, seed=6328)
def test_429s_that_are_not_about_the_load_do_not_collapse_the_concurrency(
    concurrency: int, p: float, latency: float, seed: int
) -> None:
    clock = Clock()
    throttle = Throttle(concurrency, clock=clock)
    late = run(throttle, Api(clock, random.Random(seed), p=p), clock, 40.0, latency)

    assert throttle.limit.allowed >= concurrency // 2
    assert late["in_flight"] / late["ticks"] >= 0.5 * concurrency


@untimed
@given(
    concurrency=st.integers(16, 64),
    p=st.sampled_from([0.3, 0.5]),
    latency=st.sampled_from([0.5, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_429s_answered_at_once_while_images_take_seconds_are_still_found_not_about_the_load(
    concurrency: int, p: float, latency: float, seed: int
) -> None:
    # Right after the batch slows down, the first answers in are the 429s (the
    # successes come a round trip later): a share counted over them alone would look
    # like a limit biting, not the same share as before.
    clock = Clock()
    throttle = Throttle(concurrency, clock=clock)
    api = Api(clock, random.Random(seed), p=p)
    late = run(throttle, api, clock, 60.0, latency, refused_in=0.02)

    assert throttle.judge.independent
    assert late["sent"] / 30.0 >= 0.6 * concurrency / latency


@untimed
@any_binding_limit
def test_a_rate_limit_is_learned_and_few_requests_are_refused(
    limit: float, latency: float, concurrency: int
) -> None:
    throttle, late = against_a_limit(limit, latency, concurrency, seconds=40.0)

    assert throttle.send_rate.rate is not None
    assert 0.5 * limit <= throttle.send_rate.rate <= 1.5 * limit
    goodput = (late["sent"] - late["refused"]) / 20.0
    assert goodput >= 0.8 * limit
    assert late["refused"] <= 0.15 * late["sent"]


@untimed
@given(
    concurrency=st.integers(8, 64),
    p=st.sampled_from([0.3, 0.5]),
    latency=st.sampled_from([0.05, 0.2, 0.5]),
    seed=st.integers(0, 2**16),
)
# Few answers a second: a share between the two guesses (the share before, what a
# limit would give) is judged by which one makes it likelier, not by which is nearer.
@example(concurrency=8, p=0.5, latency=0.5, seed=1)
def test_429s_that_slowing_down_does_not_lessen_leave_the_batch_sending_near_its_concurrency(
    concurrency: int, p: float, latency: float, seed: int
) -> None:
    clock = Clock()
    throttle = Throttle(concurrency, clock=clock)
    late = run(throttle, Api(clock, random.Random(seed), p=p), clock, 40.0, latency)

    # Over the second half, at least 0.6 of what the concurrency allows goes out: the
    # limits were put back (or hardly lowered), and retries absorb the 429s.
    assert late["sent"] / 20.0 >= 0.6 * concurrency / latency


@untimed
@any_binding_limit
def test_a_batch_meeting_a_rate_limit_slows_down_at_its_first_429s(
    limit: float, latency: float, concurrency: int
) -> None:
    throttle, _ = against_a_limit(limit, latency, concurrency, seconds=2.0)

    # Over its first two seconds the batch is refused hardly more than its opening
    # cohort and what the limit's burst did not cover: it does not wait for more
    # evidence before slowing down the first time.
    assert throttle.throttled <= 2 * throttle.limit.maximum + limit


@untimed
@given(concurrency=st.integers(210, 256), latency=st.sampled_from([1.5, 2.0]))
def test_after_its_opening_429s_a_batch_of_slow_answers_gets_its_concurrency_back(
    concurrency: int, latency: float
) -> None:
    # The opening cohort is larger than the limit's burst of 200, so it meets 429s;
    # after that the round trips keep the batch below the limit of 200 a second.
    clock = Clock()
    throttle = Throttle(concurrency, clock=clock)
    late = run(throttle, Api(clock, random.Random(0), limit=200.0), clock, 40.0, latency)

    # The learned rate does the slowing; the concurrency comes back to what that
    # rate keeps in flight, not one slot a round trip.
    goodput = (late["sent"] - late["refused"]) / 20.0
    assert goodput >= 0.9 * concurrency / latency
    assert throttle.limit.allowed == concurrency


class DroppingLimit(Api):
    """A token bucket whose limit drops to ``later`` at ``drop_at`` seconds: another
    client of the same key starts sending."""

    def __init__(self, clock: Clock, *, limit: float, later: float, drop_at: float):
        super().__init__(clock, random.Random(0), limit=limit)
        self.later, self.drop_at = later, drop_at

    def refuses(self) -> bool:
        if self.clock.now >= self.drop_at and self.limit != self.later:
            self.limit = self.later
            self.tokens = min(self.tokens, max(1.0, self.later))
        return super().refuses()


@untimed
@given(
    limits=st.sampled_from([(40.0, 20.0), (40.0, 10.0), (200.0, 50.0)]),
    latency=st.sampled_from([0.0, 0.02, 0.2, 0.5, 2.0]),
    concurrency=st.integers(16, 64),
    refused_in=st.sampled_from([None, 0.005]),
)
# A cut by a fifth, while most requests are refused: too small to tell the limit from a
# background share, which would then be kept for good.
@example(limits=(200.0, 50.0), latency=0.5, concurrency=16, refused_in=None)
# Answers after 3 s: the first 20 answers since a decrease are all to requests sent
# in its first tenth of a second.
@example(limits=(200.0, 50.0), latency=3.0, concurrency=16, refused_in=None)
# From 200 to 100 a second, answers after 3 s: a third refused, then half after a
# cut. Nearer a third than what a limit was expected to refuse, but a background
# share does not grow as the batch slows down.
@example(limits=(200.0, 100.0), latency=3.0, concurrency=16, refused_in=None)
def test_a_limit_that_drops_during_the_batch_is_followed_down(
    limits: tuple[float, float], latency: float, concurrency: int, refused_in: float | None
) -> None:
    # The 429s after the drop come soon after a decrease, as load-independent ones
    # would: they must still be taken for the limit they are.
    before, after = limits
    throttle, late = against_a_limit(
        before,
        latency,
        concurrency,
        50.0,
        api=lambda clock: DroppingLimit(clock, limit=before, later=after, drop_at=15.0),
        refused_in=refused_in,
    )

    assert not throttle.judge.independent
    assert late["sent"] - late["refused"] >= 0.8 * after * 25.0
    assert late["refused"] <= 0.15 * late["sent"]


@untimed
@given(
    limit=st.sampled_from([40.0, 100.0, 200.0]),
    latency=st.sampled_from([0.002, 0.005]),
    concurrency=st.integers(16, 64),
)
def test_a_batch_of_fast_answers_finds_a_fast_limit_within_seconds(
    limit: float, latency: float, concurrency: int
) -> None:
    # Answers in a few milliseconds, 429s in one: the first guess at the rate is
    # often below the limit, and the first requests sent at it can still find the
    # limit spent by those sent before. Those 429s must not end the fast growth
    # back to the limit, which would leave the batch well below it for tens of
    # seconds.
    _, late = against_a_limit(limit, latency, concurrency, 6.0, refused_in=0.001, tick=0.001)

    assert late["sent"] - late["refused"] >= 0.9 * limit * 3.0


@untimed
@given(
    sent=st.integers(80, 400),
    before=st.integers(0, 30),
    after=st.integers(1, 30),
    later=st.integers(0, 30),
    trip=st.sampled_from([None, 0.05, 0.3]),
)
def test_a_guessed_rate_grows_fast_until_a_429_to_a_request_sent_after_the_guess(
    sent: int, before: int, after: int, later: int, trip: float | None
) -> None:
    clock = Clock()
    rate = SendRate(clock=clock)
    for _ in range(sent):
        rate.take()
    clock.now = 0.1
    rate.decrease(refusal_trip=trip)  # no goodput known yet: a guess, half the rate sent at
    guess = rate.rate
    assert guess is not None
    settled = 0.1 + max(0.1, trip or 0.0)  # a 429's round trip after it, 0.1 s at least
    clock.now = settled + 0.2
    for _ in range(before):  # 429s to the cohort sent before the guess: no news
        rate.on_answer(ok=False, started=0.0)
    # Nor a 429 to a request sent just after it: the limit may still be spent by the
    # requests sent before.
    rate.on_answer(ok=False, started=settled - 0.01)
    for _ in range(after):
        rate.on_answer(ok=True, started=settled + 0.1)
    assert rate.rate == pytest.approx(guess + 0.5 * after)

    rate.on_answer(ok=False, started=settled + 0.1)  # sent at the guessed rate, and refused
    for _ in range(later):
        rate.on_answer(ok=True, started=settled + 0.1)
    assert rate.rate == pytest.approx(guess + 0.5 * after + 0.04 * later)


@untimed
@given(sent=st.integers(20, 400))
def test_a_guessed_rate_grows_fast_only_back_to_twice_the_guess(sent: int) -> None:
    clock = Clock()
    rate = SendRate(clock=clock)
    for _ in range(sent):
        rate.take()
    clock.now = 0.1
    rate.decrease()
    guess = rate.rate
    assert guess is not None
    while rate.probing:  # answers never refused: the limit is not in sight
        rate.on_answer(ok=True, started=0.15)
    assert 2 * guess <= rate.rate < 2 * guess + 0.5
    for _ in range(10):
        rate.on_answer(ok=True, started=0.15)
    assert rate.rate < 2 * guess + 0.5 + 10 * 0.04 + 1e-9


@untimed
@given(sent=st.integers(20, 400), trip=st.floats(2.5, 30.0))
def test_a_guess_after_answers_slower_than_the_window_is_half_what_their_round_trip_sent(
    sent: int, trip: float
) -> None:
    clock = Clock()
    rate = SendRate(clock=clock)
    for _ in range(sent):  # the opening cohort, all at once
        rate.take()
    clock.now = trip  # its answers come back: 429s, no success yet
    for _ in range(20):
        rate.on_answer(ok=False, started=0.0)
    rate.decrease()
    # Not a rate near zero because nothing was sent in the last two seconds: the batch
    # sent its requests, then waited for their answers.
    assert rate.rate == pytest.approx(0.5 * sent / trip)


def test_a_guess_counts_the_opening_cohort_though_429s_came_back_long_before_the_images() -> None:
    clock = Clock()
    rate = SendRate(clock=clock)
    for _ in range(32):  # the opening cohort
        rate.take()
    clock.now = 0.02
    for _ in range(5):  # refused at once
        rate.on_answer(ok=False, started=0.0)
    clock.now = 2.5
    for _ in range(5):  # their retries
        rate.take()
    # A look at the last 2 s sees the retries alone, and does not forget the rest.
    assert rate.sending() == pytest.approx(5.0)
    clock.now = 3.0
    for _ in range(15):  # the images, 3 s after they were asked for
        rate.on_answer(ok=True, started=0.0)
    rate.decrease()
    assert rate.rate == pytest.approx(0.5 * 37 / 3.0)


@untimed
@given(
    concurrency=st.integers(16, 64),
    p=st.sampled_from([0.3, 0.5]),
    latency=st.sampled_from([2.5, 5.0]),
    seed=st.integers(0, 2**16),
)
def test_429s_not_about_the_load_do_not_collapse_a_batch_whose_answers_take_seconds(
    concurrency: int, p: float, latency: float, seed: int
) -> None:
    # Images take seconds, and a 429 for want of capacity upstream can take as long.
    # Five batches: one in a hundred still ends up below 0.6 (the share is told from
    # a limit over a few dozen answers), the typical one does not.
    ideal = (1 - p) * concurrency / latency
    ratios = []
    for batch in range(5):
        clock = Clock()
        throttle = Throttle(concurrency, clock=clock)
        api = Api(clock, random.Random(seed + batch), p=p)
        late = run(throttle, api, clock, 120.0, latency, tick=0.05)
        ratios.append((late["sent"] - late["refused"]) / 60.0 / ideal)

    assert sorted(ratios)[2] >= 0.6


@untimed
@given(successes=st.integers(100, 5000), per_second=st.sampled_from([10.0, 100.0, 1000.0]))
def test_what_the_send_rate_remembers_is_bounded_not_the_whole_batch(
    successes: int, per_second: float
) -> None:
    clock = Clock()
    rate = SendRate(clock=clock)
    for _ in range(successes):  # a batch that never meets a 429
        clock.now += 1 / per_second
        rate.take()
        rate.on_answer(ok=True, started=clock.now)
    assert len(rate._sends) <= SendRate.KEPT_SENDS  # a slow answer's round trip back
    assert len(rate._successes) <= rate.window * per_second + 1


@untimed
@given(limit=st.integers(5, 100), excess=st.integers(20, 200), burst=st.integers(0, 100))
def test_after_the_first_decrease_the_rate_goes_to_what_the_limit_let_through_since(
    limit: int, excess: int, burst: int
) -> None:
    assume(0.5 * (burst + excess) > 1.1 * limit)  # the first, guessed, rate is too high
    clock = Clock()
    judge, rate = LoadJudge(clock=clock), SendRate(clock=clock)
    # The opening cohort: the limit's burst goes through (its answers are slow: not
    # in yet), the rest is refused at once.
    for _ in range(burst + excess):
        judge.on_send()
        rate.take()
    for _ in range(excess):
        judge.on_answer(started=0.0, throttled=True)
    clock.now = 0.01
    assert judge.verdict(started=0.0, evidence=20) == "decrease"
    rate.decrease()
    assert judge.let_through is None  # the first epoch holds the burst: no telling
    # Then one second over the limit: what goes beyond it is refused at once, the rest
    # is still being answered (slow answers, fast 429s).
    sent = limit + excess
    for n in range(sent):
        clock.now = 0.01 + (n + 1) / sent
        judge.on_send()
        rate.take()
        if n >= limit:
            judge.on_answer(started=clock.now, throttled=True)
    assert judge.verdict(started=clock.now, evidence=20) == "decrease"
    assert judge.let_through == pytest.approx(limit, rel=0.02)
    rate.decrease(let_through=judge.let_through)
    assert rate.rate == pytest.approx(0.95 * limit, rel=0.02)


@untimed
@given(
    limit=st.integers(20, 100),
    excess=st.integers(20, 200),
    trip=st.sampled_from([0.2, 0.3, 0.5]),
)
def test_requests_still_on_their_way_at_a_decrease_do_not_count_against_the_limit(
    limit: int, excess: int, trip: float
) -> None:
    clock = Clock()
    judge = LoadJudge(clock=clock)
    for _ in range(limit + excess):  # the opening cohort
        judge.on_send()
    for _ in range(excess):
        judge.on_answer(started=0.0, throttled=True)
    clock.now = 0.01
    # A 429 takes `trip` seconds to come back: part of the opening cohort is still
    # on its way, and spends what the limit lets through for that long.
    assert judge.verdict(started=0.0, evidence=20, refusal_trip=trip) == "decrease"
    sent, tokens = limit + excess, 0.0
    for n in range(sent):  # a second over the limit
        clock.now = 0.01 + (n + 1) / sent
        judge.on_send()
        if clock.now > 0.01 + trip:
            tokens += limit / sent
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            judge.on_answer(started=clock.now, throttled=True)
    assert judge.verdict(started=clock.now, evidence=20, refusal_trip=trip) == "decrease"

    # What the limit let through is counted once those requests have reached it.
    assert judge.let_through == pytest.approx(limit, rel=0.1)


def test_once_a_rate_is_learned_a_429_asking_to_wait_holds_back_its_own_item_only() -> None:
    clock = Clock()
    throttle = Throttle(64, clock=clock)
    sent = [throttle._try_acquire() for _ in range(60)]
    assert None not in sent

    def answer(n: int, error: nb.APIStatusError | None) -> None:
        started = sent[n]
        assert started is not None
        clock.now = 0.05 + n * 0.02
        throttle.release(started, error)

    answer(0, nb.RateLimitError("busy", status=429, retry_after=1.0))
    assert throttle.paused_until == pytest.approx(1.05)  # nothing else slows it down yet
    n = 1
    while throttle.send_rate.rate is None:  # until the first decrease
        answer(n, nb.RateLimitError("busy", status=429, retry_after=1.0))
        n += 1
    paused_until = throttle.paused_until
    for later in range(n, 40):  # half of those after, refused, each asking for a second
        refused = nb.RateLimitError("busy", status=429, retry_after=1.0)
        answer(later, refused if later % 2 else None)
    assert throttle.paused_until == paused_until  # the learned rate does the slowing

    answer(40, nb.ServerError("down for a moment", status=503, retry_after=3.0))
    assert throttle.paused_until == pytest.approx(0.05 + 40 * 0.02 + 3.0)


def test_without_adaptive_every_retry_after_pauses_everyone() -> None:
    clock = Clock()
    throttle = Throttle(8, adaptive=False, clock=clock)
    first, second = throttle._try_acquire(), throttle._try_acquire()
    assert first is not None
    assert second is not None
    clock.now = 0.1
    throttle.release(first, nb.RateLimitError("busy", status=429, retry_after=1.0))
    clock.now = 0.5
    throttle.release(second, nb.RateLimitError("busy", status=429, retry_after=1.0))
    assert throttle.paused_until == pytest.approx(1.5)


def test_the_429_that_teaches_the_batch_a_rate_does_not_also_pause_everyone() -> None:
    clock = Clock()
    throttle = Throttle(64, clock=clock)
    sent = [throttle._try_acquire() for _ in range(30)]
    clock.now = 0.05
    for started in sent[:19]:  # 429s without Retry-After: no pause, too few to judge
        assert started is not None
        throttle.release(started, nb.RateLimitError("busy", status=429))
    assert throttle.send_rate.rate is None
    last = sent[19]
    assert last is not None
    throttle.release(last, nb.RateLimitError("busy", status=429, retry_after=1.0))
    assert throttle.send_rate.rate is not None  # the twentieth: the first decrease
    assert throttle.paused_until < clock.now  # its rate does the slowing, not a pause


def test_a_429_after_everyone_waited_out_a_retry_after_slows_the_batch_at_once() -> None:
    clock = Clock()
    throttle = Throttle(64, clock=clock)
    sent = [throttle._try_acquire() for _ in range(10)]
    assert None not in sent
    clock.now = 0.01
    for started in sent[:6]:  # too few answers to judge yet: everyone waits 0.1 s
        throttle.release(started, nb.RateLimitError("busy", status=429, retry_after=0.1))
    assert throttle.send_rate.rate is None
    assert throttle.paused_until == pytest.approx(0.11)

    clock.now = 0.12
    again = throttle._try_acquire()  # the wait is over
    assert again is not None
    clock.now = 0.13
    throttle.release(sent[6], nb.RateLimitError("busy", status=429, retry_after=0.1))
    assert throttle.send_rate.rate is None  # sent before the wait: no news
    throttle.release(again, nb.RateLimitError("busy", status=429, retry_after=0.1))

    # Waiting alone did not help: a limit is biting, and the batch slows down now,
    # without waiting for more answers.
    assert throttle.send_rate.rate is not None
    assert throttle.limit.allowed == 32


def test_once_a_rate_is_learned_an_item_waiting_out_a_429_gives_its_turn_back() -> None:
    for adaptive in (True, False):
        clock = Clock()
        throttle = Throttle(32, adaptive=adaptive, clock=clock)
        sent = [throttle._try_acquire() for _ in range(24)]
        assert not throttle.waits_alone  # nothing but the turns bounds what is sent
        clock.now = 0.05
        for started in sent:
            assert started is not None
            throttle.release(started, nb.RateLimitError("busy", status=429))
        # The learned rate bounds the sends now; without adapting, nothing is learned.
        assert throttle.waits_alone is adaptive
        assert (throttle.send_rate.rate is not None) is adaptive


def found_independent(clock: Clock, baseline: float, counted: int = 100) -> LoadJudge:
    """A judge that has found the 429s not to be about the load, at ``baseline``
    (counted over ``counted`` answers)."""
    judge = LoadJudge(clock=clock)
    judge.independent, judge.baseline, judge.decreases = True, baseline, 3
    judge.baseline_answers = counted
    judge._new_epoch(skip=0.0)
    return judge


def answer(judge: LoadJudge, clock: Clock, answers: int, refused: int) -> str:
    """``answers`` answers (``refused`` of them 429s) to requests sent a second ago;
    the judge's verdict on the last 429."""
    clock.now += 1.0
    for n in range(answers):
        judge.on_send()
        judge.on_answer(started=clock.now, throttled=n < refused)
    clock.now += 1.0
    return judge.verdict(started=clock.now - 1.0, evidence=20, settled_before=clock.now)


@untimed
@given(baseline=st.floats(0.1, 0.3), answers=st.integers(20, 99))
def test_against_the_background_share_a_handful_of_answers_decide_nothing(
    baseline: float, answers: int
) -> None:
    clock = Clock()
    judge = found_independent(clock, baseline)
    # Twice the background share, over fewer than a hundred answers: it may be chance.
    assert answer(judge, clock, answers, refused=round(2.2 * baseline * answers) + 1) == "ignore"
    assert judge.independent


@untimed
@given(baseline=st.floats(0.05, 0.3))
def test_a_share_well_above_the_background_over_a_hundred_answers_slows_the_batch(
    baseline: float,
) -> None:
    clock = Clock()
    judge = found_independent(clock, baseline)
    assert answer(judge, clock, 100, refused=round(100 * (1.5 * baseline + 0.1))) == "decrease"
    assert not judge.independent


def test_answers_to_requests_still_on_their_way_do_not_count_towards_the_share() -> None:
    clock = Clock()
    judge = found_independent(clock, 0.3)
    clock.now = 1.0
    for _ in range(400):  # sent at 1 s: 120 429s back at once, 280 images on their way
        judge.on_send()
    for _ in range(120):
        judge.on_answer(started=1.0, throttled=True)
    for n in range(200):  # sent before: all in
        judge.on_answer(started=0.5, throttled=n < 60)
    clock.now = 1.1
    assert judge.settled(before=0.9) == (200, pytest.approx(0.3))
    assert judge.verdict(started=1.0, evidence=20, settled_before=0.9) == "ignore"
    assert judge.independent
    # Counting everything in, the share looks like a limit biting.
    assert judge.settled(before=None)[1] > 1.5 * 0.3 + 0.05


def judged_twice(clock: Clock, share: float, sending: float, answers: int = 20) -> LoadJudge:
    """A judge past two decreases, the last at ``sending`` requests a second with a
    share ``share`` of 429s among ``answers`` answers."""
    judge = LoadJudge(clock=clock)
    judge.decreases, judge.previous_share, judge.previous_answers = 2, share, answers
    judge.sending_before = sending
    judge._new_epoch(skip=0.0)
    return judge


def test_a_clear_share_decides_on_fewer_answers_than_asked_for() -> None:
    clock = Clock()
    # Half the answers were 429s at 20 a second; at 5 a second, half still are: a
    # limit would refuse none (but for a few, while the rate grows past it again),
    # so ten answers tell it (twenty were asked for).
    judge = judged_twice(clock, 0.5, sending=20.0)
    assert answer(judge, clock, 10, refused=5) == "restore"
    assert judge.independent


def test_a_small_share_that_slowing_down_left_as_it_was_is_not_taken_for_a_limit() -> None:
    clock = Clock()
    # A tenth of the answers were 429s at 16.7 a second; at 15 a second a limit that
    # let 15 a second through refuses hardly any (a rate growing back past it meets
    # a few: 2 %), while two in thirty is a tenth by chance.
    judge = judged_twice(clock, 0.1, sending=16.7)
    assert answer(judge, clock, 30, refused=2) == "restore"
    # None in thirty is the limit, cut below.
    judge = judged_twice(clock, 0.1, sending=16.7)
    assert answer(judge, clock, 30, refused=0) == "decrease"


def test_a_high_share_a_small_cut_cannot_tell_apart_calls_for_a_clear_cut() -> None:
    clock = Clock()
    # 70 % refused at 13.5 a second; at 10.5 a second a limit would refuse 61 %. Two
    # thirds lies between, and no hundred answers would tell 61 % from 70 %: taking it
    # for a background share would be for good (well above 70 % is 85 %).
    judge = judged_twice(clock, 0.7, sending=13.5)
    assert answer(judge, clock, 21, refused=14) == "decrease"
    assert judge.unclear
    assert not judge.independent


def test_a_share_that_grew_as_the_batch_slowed_down_is_not_taken_for_a_background() -> None:
    clock = Clock()
    # A third refused at 24 a second; at 10 a second, four in five. Nearer a third
    # than the few a limit cut below would refuse, but a background share does not
    # grow as the batch slows down: a limit that dropped meanwhile does.
    judge = judged_twice(clock, 1 / 3, sending=24.0, answers=21)
    assert answer(judge, clock, 20, refused=16) == "decrease"
    assert not judge.independent


def test_an_unclear_share_waits_for_the_evidence_asked_for() -> None:
    clock = Clock()
    # At 4 a second from 5, a limit would refuse 37.5 %: three 429s in eight answers
    # could be either.
    judge = judged_twice(clock, 0.5, sending=5.0)
    assert answer(judge, clock, 8, refused=3) == "ignore"
    assert not judge.independent


@untimed
@given(refused=st.integers(0, 10), answers=st.integers(8, 40))
def test_a_verdict_on_fewer_answers_than_asked_for_is_beyond_doubt(
    refused: int, answers: int
) -> None:
    assume(refused <= answers)
    clock = Clock()
    judge = judged_twice(clock, 0.5, sending=5.0)
    verdict = answer(judge, clock, answers, refused=refused)
    if answers < 20 and verdict != "ignore":
        share = refused / answers
        limited = 1.0 - 0.5 * 5.0 / (answers / 2.0)  # the sending: answers over 2 s
        floor = LoadJudge.PROBING_SHARE
        odds = likelihood(share, answers, 0.5) - likelihood(share, answers, max(floor, limited))
        assert abs(odds) >= math.log(LoadJudge.DECISIVE_ODDS)


def test_the_background_share_counts_the_answers_before_the_last_decrease_too() -> None:
    clock = Clock()
    judge = judged_twice(clock, 0.45, sending=20.0, answers=20)
    assert answer(judge, clock, 12, refused=6) == "restore"  # decided on 12 answers
    assert judge.baseline == pytest.approx((0.45 * 20 + 6) / 32)  # not 0.5
    assert judge.baseline_answers == 32


def test_a_background_share_counted_over_few_answers_is_not_taken_for_a_limit_by_chance() -> None:
    clock = Clock()
    judge = found_independent(clock, 0.3, counted=30)
    # 52 % over a hundred answers: above 1.5 x 30 % + 5 points, but within what
    # thirty answers may have put the baseline at.
    assert answer(judge, clock, 100, refused=52) == "ignore"
    assert judge.independent
    # A limit biting again is a different matter.
    assert answer(judge, clock, 100, refused=80) == "decrease"
    assert not judge.independent


def test_a_few_429s_after_cutting_below_a_limit_are_not_taken_for_a_background_share() -> None:
    clock = Clock()
    # 14 % refused at 25 a second; cut to 4 a second, a limit would refuse none, but
    # a rate growing back past it does refuse a few: three in eight prove nothing yet.
    judge = judged_twice(clock, 0.14, sending=25.0)
    assert answer(judge, clock, 8, refused=3) == "ignore"
    assert not judge.independent


def test_a_background_share_of_most_answers_can_still_be_left_for_a_limit() -> None:
    clock = Clock()
    judge = found_independent(clock, 0.7)
    # 1.5 times 70 % is out of reach: 97 % is well above it all the same.
    assert answer(judge, clock, 100, refused=97) == "decrease"
    assert not judge.independent


@untimed
@given(
    limit=st.sampled_from([10.0, 40.0]),
    concurrency=st.integers(64, 160),
    jitter=st.floats(0.0, 0.2),
)
# Most of the first waves refused: the shares of the first epochs say little of the
# limit, and it can be taken for a background share; it must not stay taken for one.
@example(limit=10.0, concurrency=128, jitter=0.0)
def test_far_more_requests_than_a_limit_lets_through_do_not_leave_it_ignored(
    limit: float, concurrency: int, jitter: float
) -> None:
    _, late = against_a_limit(limit, 0.5 * (1.0 + jitter), concurrency, 30.0)

    assert late["refused"] <= 0.15 * late["sent"]
