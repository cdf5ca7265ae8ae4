"""Learning a sustainable send rate from 429s, and telling which 429s are about us.

Concurrency alone does not bound the rate: when answers come fast, a few requests in
flight still make many requests a second. So besides its AIMD concurrency limit the
throttle keeps a **learned send rate** (a token bucket whose rate adapts, like
botocore's adaptive retry mode), and a request waits for whichever binds:

* Until the first 429 there is no learned rate.
* A 429 that slows the batch down (see below) sets the rate to 95 % of the
  *goodput* (successes a second over the last 2 s), which is what the API's limit
  let through, or, when that is no lower than the current rate, cuts the rate by
  30 %. From the second decrease on, the goodput is at most what the API let
  through since the decrease before (requests sent and not refused, a second): the
  429s that caused that one had spent a limit's burst, and this count does not wait
  for slow answers. It starts a 429's round trip after that decrease: until then,
  requests sent before it may still be reaching the API and spending its limit.
* Until 10 successes over half a second tell the goodput (slow answers, fast
  429s), the first decrease sets the rate to half the rate requests were sent at
  (over the last 2 s, or over the slowest answers' round trip when that is longer: a
  batch whose answers take 10 s sent its requests, then waited for them): a guess, so
  until the next 429 (or twice the guess) each success adds 0.5 to it (the rate
  grows by half of itself a second) to find the limit again from below.
  A 429 to a request sent within a 429's round trip of the guess (0.1 s at least)
  does not end that: the requests sent before it may still have the limit spent.
  The first decrease halves the concurrency too; once a rate is learned, it does
  the slowing, and the concurrency grows back (see :class:`._throttle.Throttle`).
* Each success adds 0.04 to the rate: about 4 % a second (additive increase), so the
  batch keeps probing for more.

**Not every 429 is about the batch's load.** A share of 429s that stays the same
whatever the batch sends (another tenant, a busy region) would drive AIMD all the
way down. So a :class:`LoadJudge` compares the share of 429s among the requests sent
after each decrease with the share ``p`` that caused it (when ``p`` is 5 % or more,
was not measured from the start, when a limit's burst lets more through than it will
again, and the batch did slow down, from ``S`` to ``S'`` requests a second). A rate
limit lets through what it let through before, ``(1 - p) * S``, so at ``S'`` it
would refuse a share of ``1 - (1 - p) * S / S'`` (or, as the rate grows back past
it, a few: 2 %, about what a learned rate meets at a steady limit); a
load-independent share stays ``p``. If the new share is likelier under ``p`` than
under the limit's figure (a binomial likelihood: with few answers a second a share
can lie between the two), the 429s are not about the batch: the limits go back to
where they were before the run of decreases, the batch stops lowering them, and
retries absorb the 429s (which cost no retries: see
:mod:`nanobanana._retry`). It lowers them again only if the share, over 100 answers
at least, climbs well above that baseline (1.5 times it, plus 5 points, or halfway
to 100 % if that is lower, and beyond chance: the baseline counts the answers before
and since the last decrease, which may be a few dozen only). A new share well above
``p`` by that measure is never found load-independent, however much nearer ``p``
than the limit's figure: a background share does not grow as the batch slows down,
while a limit that dropped meanwhile refuses more. The share counts only
requests whose answers are all in: 429s often come back at once and images seconds
later, so the answers in first after a decrease are mostly 429s whatever the API's
limit, and would look like one biting. When a decrease did not slow the batch down
enough to tell (by 5 % or more: a cut to 95 % of the goodput can be that small; and,
when the share before was above 45 %, far enough for 100 answers to tell the two
shares apart at odds of 10 to one, since above 45 % "well above" the background is
halfway to 100 %, which a limit at full speed need not reach), the next one cuts to
70 % of the rate requests were sent at, so that it does. Every judgement needs
evidence: 20 answers to requests sent since the last decrease (or 8, when those
already tell the two shares apart at odds of 1,000 to one), and a 429 to a request
sent half a second after it or later (with answers that take seconds, the first 20
would otherwise all be to requests sent in its first moments: too short a sample to
stand for the rate the batch sends at since). The first decrease needs only the 20
answers: it compares nothing, and a batch that meets a limit should slow down at
once, not send unthrottled for its first half second.

The clock is injectable, so all of this is tested on a simulated clock.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

__all__ = ["LoadJudge", "SendRate", "Verdict"]

Clock = Callable[[], float]
#: What a 429 calls for: slow down, put the limits back, or nothing.
Verdict = Literal["decrease", "restore", "ignore"]


class SendRate:
    """A token bucket whose rate (requests a second) is learned from 429s.

    Example:
        >>> now = [0.0]
        >>> rate = SendRate(clock=lambda: now[0])
        >>> rate.delay(), rate.rate  # nothing learned yet: no limit
        (0.0, None)
        >>> for second in range(20):
        ...     now[0] = second / 10
        ...     rate.on_answer(ok=True, started=now[0])
        >>> now[0] = 2.0
        >>> rate.decrease()  # 20 successes in 2 s: 95 % of 10 a second
        >>> round(rate.rate, 2)
        9.5
    """

    AFTERMATH = 0.1  # seconds after a decrease when a 429 may be the old rate's, at least
    #: Send times remembered: a slow answer's round trip back, at the rates images are
    #: sent at (when more, the rate is counted over fewer).
    KEPT_SENDS = 2048

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        window: float = 2.0,
        growth: float = 0.04,
        probe: float = 0.5,
        min_rate: float = 0.05,
    ) -> None:
        self._clock = clock
        self.window = window
        self.growth = growth
        self.probe = probe
        self.probing = False  # the rate is a guess: grow it faster until a 429
        self._aftermath_until = -math.inf  # a 429 to a request sent before: the old rate's
        self._probe_to = math.inf
        self.min_rate = min_rate
        self.rate: float | None = None
        self.decreases = 0
        self._successes: deque[float] = deque()
        self._sends: deque[float] = deque(maxlen=self.KEPT_SENDS)
        #: Seconds the slowest answers lately (a success or a 429) took to come back.
        self.round_trip: float | None = None
        self._tokens = 1.0
        self._stamp = clock()

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] < now - self.window:
            times.popleft()

    def sending(self) -> float:
        """Requests sent a second lately: over the window or, when answers take
        longer, over the slowest answers' round trip and a quarter (the requests they
        answer went out over a while too), at least 1 s of it. Answers that take
        longer than the window come back to a window with no sends in it: the batch
        sent its requests, then waited for them."""
        now = self._clock()
        span = max(self.window, 1.25 * (self.round_trip or 0.0))
        sent = [at for at in self._sends if at >= now - span]  # kept: the span may grow
        if not sent:
            return 0.0
        return len(sent) / min(span, max(1.0, now - sent[0]))

    def goodput(self) -> float | None:
        """Successes a second over the window; ``None`` until there are 10 successes
        over half a second or more (too few to tell a rate from a burst)."""
        now = self._clock()
        times = self._successes
        self._trim(times, now)
        if len(times) < 10 or now - times[0] < 0.5:
            return None
        return len(times) / min(self.window, now - times[0])

    def on_answer(self, *, ok: bool, started: float) -> None:
        """Learn the answer to a request sent at ``started``: a success raises the rate
        by ``growth`` (by ``probe`` while probing); a 429 ends the probing, unless
        the request was sent so soon after the last decrease that it may have met a
        limit still spent by the requests sent before (see :meth:`decrease`)."""
        now = self._clock()
        trip = now - started  # the slowest lately: a maximum that fades by 1 % an answer
        self.round_trip = trip if self.round_trip is None else max(trip, 0.99 * self.round_trip)
        if not ok:
            self.probing = self.probing and started < self._aftermath_until
            return
        self._successes.append(now)
        self._trim(self._successes, now)  # memory stays the window's, not the batch's
        if self.rate is not None:
            self.rate += self.probe if self.probing else self.growth
            self.probing = self.probing and self.rate < self._probe_to

    def decrease(
        self,
        *,
        clearly: bool = False,
        let_through: float | None = None,
        refusal_trip: float | None = None,
    ) -> None:
        """Slow down to 95 % of the goodput, or by 30 % when that is no slower; while
        the goodput is not known yet, to half the rate requests were sent at.

        Args:
            clearly: To 70 % of the rate requests were sent at, at the most.
            let_through: Requests a second the API let through lately (sent and not
                refused), when known: the goodput is the lower of the two. Unlike the
                successes, it does not wait for slow answers.
            refusal_trip: Seconds a 429 takes to come back, when known. For that long
                after the decrease (:attr:`AFTERMATH` at least), requests sent before
                it may still be reaching the API and spending its limit: a 429 to a
                request sent then does not end the probing.
        """
        known = [x for x in (self.goodput(), let_through) if x is not None]
        goodput = min(known) if known else None
        if goodput is not None and (self.rate is None or 0.95 * goodput < self.rate):
            new = 0.95 * goodput
        elif self.rate is not None:
            new = self.rate * 0.7
        else:  # a guess: probe upwards from it, back to twice it, until a 429
            new = 0.5 * self.sending()
            self.probing = True
            self._probe_to = 2.0 * new
        if clearly:
            new = min(new, 0.7 * self.sending())
        self.set_rate(max(self.min_rate, new))
        self.decreases += 1
        self._aftermath_until = self._clock() + max(self.AFTERMATH, refusal_trip or 0.0)

    def set_rate(self, rate: float | None) -> None:
        """Change the rate, keeping the tokens earned at the old one."""
        self._refill()
        self.rate = rate
        if rate is not None:
            self._tokens = min(self._tokens, self._capacity())

    def _capacity(self) -> float:
        return max(1.0, (self.rate or 0.0) * 0.1)

    def _refill(self) -> None:
        now = self._clock()
        if self.rate is not None:
            gained = (now - self._stamp) * self.rate
            self._tokens = min(self._capacity(), self._tokens + gained)
        self._stamp = now

    def delay(self) -> float:
        """Seconds until a request may go at the learned rate (0: now)."""
        if self.rate is None:
            return 0.0
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self) -> None:
        """A request goes out now."""
        now = self._clock()
        self._sends.append(now)  # kept until counted: how far back is not known yet
        if self.rate is not None:
            self._refill()
            self._tokens -= 1.0


def likelihood(share: float, answers: int, expected: float) -> float:
    """The log-likelihood of a share ``share`` of 429s among ``answers`` answers, if
    each is a 429 with probability ``expected`` (kept off 0 and 1: one stray 429
    does not rule a share out)."""
    expected = min(0.99, max(0.01, expected))
    refused = share * answers
    return refused * math.log(expected) + (answers - refused) * math.log(1.0 - expected)


def divergence(share: float, other: float) -> float:
    """How much each answer tells a share of 429s ``share`` from ``other`` on average,
    when ``share`` is the true one (the Kullback-Leibler divergence of the two
    binomials, in log-likelihood per answer; both kept off 0 and 1 as in
    :func:`likelihood`)."""
    p, q = (min(0.99, max(0.01, x)) for x in (share, other))
    return p * math.log(p / q) + (1.0 - p) * math.log((1.0 - p) / (1.0 - q))


class LoadJudge:
    """Tells whether a 429 is about the batch's load (see the module's docstring).

    Example:
        >>> now = [0.0]
        >>> judge = LoadJudge(clock=lambda: now[0])
        >>> for _ in range(10):
        ...     judge.on_send()
        ...     judge.on_answer(started=0.0, throttled=True)
        >>> judge.verdict(started=0.0, evidence=20)  # too few answers to tell
        'ignore'
        >>> judge.verdict(started=0.0, evidence=4)  # the first decrease: at once
        'decrease'
    """

    SHARE_FLOOR = 0.05  # shares below this are a limit being probed, not judged
    #: What a rate limit refuses at the least once the rate was cut below it: a few,
    #: as the rate grows back past it (at a steady limit, 0.2-2 % of requests).
    PROBING_SHARE = 0.02
    MIN_EPOCH = 0.5  # seconds of sending after a decision before the next, at the least
    MAX_EVIDENCE = 100  # answers needed to judge against the background share
    MIN_ANSWERS = 8  # answers needed at the least, however clear they are
    DECISIVE_ODDS = 1000  # odds at which fewer answers than asked for decide
    TELLING_ODDS = 10  # odds the most evidence must reach, above HALFWAY, to compare
    HALFWAY = 0.45  # above this background, "well above" it is halfway to 100 % (_margin)
    KEPT = 1000  # answers remembered for the share: enough to follow a drift (400)

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.epoch_start = -math.inf
        self.answers = 0
        self.throttled = 0
        #: (sent at, refused) of the latest answers to requests sent since the last
        #: decrease: the share of 429s is counted over those that have all come back.
        self._recent: deque[tuple[float, bool]] = deque(maxlen=self.KEPT)
        self.previous_share: float | None = None
        self.previous_answers = 0  # the answers it was counted over
        self.sending_before = 0.0
        self.sends = 0
        self.decreases = 0
        self._began: float | None = None
        self.independent = False
        self.baseline = 0.0
        self.baseline_answers = 0  # the answers the baseline was counted over
        #: The last decrease did not slow the batch down enough to tell a limit from
        #: a load-independent share: the next one should cut clearly.
        self.unclear = False
        #: What the API let through before the last decrease (requests a second), when
        #: known: not before the second decrease (the first epoch has a limit's burst).
        self.let_through: float | None = None
        #: Seconds at the start of an epoch left out of what the API let through: the
        #: requests sent before the decrease may still be reaching it then.
        self._skip = 0.0
        self._early_sends = 0
        self._early_refused = 0

    @property
    def share(self) -> float:
        """The share of 429s among answers to requests sent since the last decrease."""
        return self.throttled / self.answers if self.answers else 0.0

    def settled(self, before: float | None) -> tuple[int, float]:
        """The answers to requests sent since the last decrease and before ``before``
        (all of them when ``None``), and the share of 429s among them."""
        if before is None:
            return self.answers, self.share
        refused = [throttled for started, throttled in self._recent if started <= before]
        return len(refused), (sum(refused) / len(refused) if refused else 0.0)

    def on_answer(self, *, started: float, throttled: bool) -> None:
        """Count the answer to a request sent at ``started``."""
        if started > self.epoch_start:
            self.answers += 1
            self.throttled += throttled
            self._recent.append((started, throttled))
            if self._began is not None and started < self._began + self._skip:
                self._early_refused += throttled

    def on_send(self) -> None:
        """Count a request going out now."""
        now = self._clock()
        if self._began is None:
            self._began = now
        self.sends += 1
        if now < self._began + self._skip:
            self._early_sends += 1

    def sending(self) -> float:
        """Requests a second sent since the last decrease."""
        if self._began is None:
            return 0.0
        return self.sends / max(self._clock() - self._began, 1e-3)

    def verdict(
        self,
        *,
        started: float,
        evidence: int,
        settled_before: float | None = None,
        refusal_trip: float | None = None,
    ) -> Verdict:
        """What a 429 to a request sent at ``started`` calls for.

        Args:
            started: When the refused request was sent.
            evidence: Answers needed before judging.
            settled_before: Requests sent before this time have all been answered
                (``None``: every answer is in). From the second judgement on, only
                their answers count: when 429s come back at once and images seconds
                later, the first answers after a decrease are mostly 429s, whatever
                the API's limit.
            refusal_trip: Seconds a 429 takes to come back, when known: for that long
                after a decision (at most a second), requests sent before it may still
                be reaching the API and spending its limit, so what it lets through
                is counted from then on.
        """
        skip = min(refusal_trip or 0.0, 1.0)  # for the epoch a decision starts
        began = self._began if self._began is not None else self._clock()
        too_soon = self.decreases > 0 and started - began < self.MIN_EPOCH
        if self.decreases == 0:
            settled_before = None  # the first decrease compares nothing: at once
        answers, share = self.settled(settled_before)
        sending = self.sending()
        if started <= self.epoch_start or too_soon:
            return "ignore"  # an earlier cohort's, or too soon after the last decision
        if answers < self._needed(evidence) and not self._decisive(share, answers, sending):
            return "ignore"  # too little evidence yet
        if self.independent:
            if self._well_above(share, answers, self.baseline, self.baseline_answers):
                self.independent = False
                return self._decrease(share, sending, answers, skip)
            if answers >= 400:  # follow the background share as it drifts
                self.baseline, self.baseline_answers = share, answers
                self._new_epoch(skip)
            return "ignore"
        if self._not_about_us(share, sending, answers):
            self.independent = True
            self.baseline = self._background(share, answers)
            self.baseline_answers = self.previous_answers + answers
            self.previous_share = None
            self._new_epoch(skip)
            return "restore"
        return self._decrease(share, sending, answers, skip)

    def _background(self, share: float, answers: int) -> float:
        """The background share of 429s, once they are found not to be about the
        batch: the shares before and since the last decrease are both the
        background's then, so both count (a few answers that decided early would
        make a poor baseline on their own)."""
        before = self.previous_answers * (self.previous_share or 0.0)
        return (before + share * answers) / max(1, self.previous_answers + answers)

    def _margin(self, background: float) -> float:
        """How far above a background share "well above" it starts: half of it plus 5
        points, or, above :attr:`HALFWAY` (where that is the lower), halfway from it to
        100 %."""
        if background > self.HALFWAY:
            return 0.5 * (1.0 - background)
        return 0.5 * background + 0.05

    def _well_above(self, share: float, answers: int, before: float, counted: int) -> bool:
        """Whether a share of 429s among ``answers`` is well above a share ``before``
        counted over ``counted`` answers (1.5 times it, plus 5 points, or halfway from
        it to every answer a 429, whichever is lower: above 63 %, 1.5 times it would
        be out of reach), and not by chance: two and a half standard errors of the
        difference, since ``before`` may have been counted over a few dozen answers
        only."""
        if share <= before + self._margin(before):
            return False
        pooled = (share * answers + before * counted) / (answers + counted)
        spread = pooled * (1.0 - pooled) * (1.0 / answers + 1.0 / max(1, counted))
        return share - before > 2.5 * math.sqrt(spread)

    def _needed(self, evidence: int) -> int:
        """Answers needed for a judgement: ``evidence``, or, once the 429s are found
        not to be about the batch, :attr:`MAX_EVIDENCE`: the share is then compared
        with the background share at every 429, and a small sample would sooner or
        later stray above it by chance."""
        return max(evidence, self.MAX_EVIDENCE) if self.independent else evidence

    def _hypotheses(self, sending: float) -> tuple[float, float] | None:
        """The share of 429s to expect now if they are load-independent (the share
        before the last decrease) and if a rate limit is biting (what it would refuse
        at the lower rate), or ``None`` when there is nothing to compare: no share
        before, a limit being probed, or a share measured from the start, when a rate
        limit's burst let more through than it will again."""
        previous = self.previous_share
        if previous is None or previous < self.SHARE_FLOOR or self.decreases < 2:
            return None
        # A rate limit lets through what it let through before: (1 - p) * S of S; and
        # while the rate grows past it again, it refuses a few (the probing share).
        let_through = (1.0 - previous) * self.sending_before
        if_limited = max(self.PROBING_SHARE, 1.0 - let_through / max(sending, 1e-9))
        return previous, if_limited

    def _odds(self, share: float, answers: int, sending: float) -> float | None:
        """How much likelier the share of 429s among ``answers`` is if they are
        load-independent than if a rate limit is biting (a log-likelihood ratio:
        above 0, load-independent), or ``None`` when there is nothing to compare or
        the batch did not slow down enough to tell."""
        hypotheses = self._hypotheses(sending)
        if hypotheses is None or not self._can_tell(sending, hypotheses):
            return None
        independent, limited = hypotheses
        return likelihood(share, answers, independent) - likelihood(share, answers, limited)

    def _can_tell(self, sending: float, hypotheses: tuple[float, float]) -> bool:
        """Whether the last decrease slowed the batch down enough for the share of
        429s to tell a limit from the background: it sends measurably (5 %) slower
        than before; and, above a share of :attr:`HALFWAY`, the shares the two would
        give now are far enough apart for :attr:`MAX_EVIDENCE` answers to tell them
        at odds of :attr:`TELLING_ODDS` to one. There a wrong finding would be for
        good: "well above" the background is then halfway to 100 %, which a limit at
        full speed need not reach. A cut by a fifth under a limit that refused 70 %
        leaves it refusing 62 %: no sample the batch waits for tells that from 70 %
        staying as it was."""
        if sending > 0.95 * self.sending_before:
            return False
        independent, limited = hypotheses
        if independent <= self.HALFWAY:
            return True  # a wrong finding shows: a limit at full speed is well above
        apart = min(divergence(independent, limited), divergence(limited, independent))
        return apart * self.MAX_EVIDENCE >= math.log(self.TELLING_ODDS)

    def _decisive(self, share: float, answers: int, sending: float) -> bool:
        """Whether a few answers (:attr:`MIN_ANSWERS` at least) already tell the two
        apart beyond doubt (odds of :attr:`DECISIVE_ODDS` to one), as when the rate was
        cut to half and half the answers are still 429s: no need to wait for the
        full evidence then."""
        if self.independent or answers < self.MIN_ANSWERS:
            return False
        odds = self._odds(share, answers, sending)
        return odds is not None and abs(odds) >= math.log(self.DECISIVE_ODDS)

    def _not_about_us(self, share: float, sending: float, answers: int) -> bool:
        """Whether the share of 429s since the last decrease is likelier under the share
        before it (load-independent) than under what a rate limit would give at the
        lower rate."""
        # The batch did not slow down enough to tell: the next cut is clear.
        hypotheses = self._hypotheses(sending)
        self.unclear = hypotheses is not None and not self._can_tell(sending, hypotheses)
        odds = self._odds(share, answers, sending)
        if odds is None or odds <= 0:
            return False
        # Nearer the share before than a limit's guess, but well above both: the
        # 429s grew as the batch slowed down, which a load-independent share does
        # not do (a limit that dropped meanwhile does).
        previous = self.previous_share or 0.0
        return not self._well_above(share, answers, previous, self.previous_answers)

    def _decrease(self, share: float, sending: float, answers: int, skip: float) -> Verdict:
        self.let_through = self._let_through() if self.decreases else None
        self.decreases += 1
        self.previous_share = share
        self.previous_answers = answers
        self.sending_before = sending
        self._new_epoch(skip)
        return "decrease"

    def _let_through(self) -> float | None:
        """Requests a second sent since the last decrease and not refused (yet): what a
        rate limit lets through, once its burst was spent by the 429s that caused it.
        The first moments of the epoch are left out (see ``refusal_trip`` in
        :meth:`verdict`), unless that leaves less than half of :attr:`MIN_EPOCH`."""
        now = self._clock()
        if self._began is None or now - self._began < self.MIN_EPOCH:
            return None
        since = self._began + self._skip
        if now - since < 0.5 * self.MIN_EPOCH:
            return (self.sends - self.throttled) / (now - self._began)
        sent = self.sends - self._early_sends
        return (sent - (self.throttled - self._early_refused)) / (now - since)

    def _new_epoch(self, skip: float) -> None:
        self.epoch_start = self._began = self._clock()
        self.answers = 0
        self.throttled = 0
        self.sends = 0
        self._skip = skip
        self._early_sends = self._early_refused = 0
        self._recent.clear()
