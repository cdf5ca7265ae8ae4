"""Whether, and when, an item's request may be sent.

Before a request goes out it passes two gates (the reorder window of an ordered
batch is the third, kept by :mod:`._delivery`, which knows what was handed out):

* **resume**: a request the manifest records as done (matched by its key, as many
  times as it finished) is skipped with reason ``"done"``;
* **spend cap**: until one response has told what an image costs, only one request
  is in flight; after that, a request goes only if what was spent, plus the images
  in flight and its own at the dearest price seen, stays within the cap. Otherwise
  it is skipped with reason ``"budget"``.
"""

from __future__ import annotations

from collections import Counter

from .._models import ImageRequest, ImageResult, Usage
from ._items import SkipReason
from ._ledger import Ledger
from ._options import BatchOptions
from ._throttle import Broadcast

__all__ = ["Admission"]


class Admission:
    """The gates of one batch."""

    def __init__(self, options: BatchOptions, ledger: Ledger) -> None:
        self._options = options
        self._ledger = ledger
        self._done_before: Counter[str] = Counter()
        self._changed = Broadcast()
        self._stopped = False
        self._in_flight_requests = 0
        self._in_flight_images = 0
        self._usd_per_image: float | None = None
        self._credits_per_image: float | None = None
        self._spend_unknown = False

    def remember_done(self, keys: Counter[str]) -> None:
        """The keys an earlier run finished, with how many times each did."""
        self._done_before = keys

    def done_before(self, key: str) -> bool:
        """Whether ``key`` was done in an earlier run (each earlier success counts once)."""
        if self._done_before[key] > 0:
            self._done_before[key] -= 1
            return True
        return False

    def stop(self) -> None:
        """Let every waiting item go, to be skipped as ``"stopped"``."""
        self._stopped = True
        self._changed.notify()

    async def admit(self, request: ImageRequest) -> SkipReason | None:
        """Wait at the gates; ``None`` when ``request`` may go (call :meth:`release`
        when it has ended), else why it is skipped."""
        if self._options.capped:
            while not self._stopped and self._in_flight_requests and self._price_unknown():
                await self._changed.wait()
        if self._stopped:
            return "stopped"
        if self._options.capped and not self._within_cap(_images_of(request)):
            return "budget"
        self._in_flight_requests += 1
        self._in_flight_images += _images_of(request)
        return None

    def release(self, request: ImageRequest, result: ImageResult | None) -> None:
        """``request``, admitted before, has ended (with ``result`` if it succeeded)."""
        self._in_flight_requests -= 1
        self._in_flight_images -= _images_of(request)
        if result is not None and self._options.capped:
            images = max(len(result.images), _images_of(request))
            self._learn_prices(result.usage, images)
        self._changed.notify()

    def _price_unknown(self) -> bool:
        return (self._options.max_spend_usd is not None and self._usd_per_image is None) or (
            self._options.max_credits is not None and self._credits_per_image is None
        )

    def _within_cap(self, images: int) -> bool:
        if self._spend_unknown:
            return False
        in_flight = self._in_flight_images + images
        checks = (
            (self._options.max_spend_usd, self._ledger.usd, self._usd_per_image, "max_spend_usd"),
            (
                self._options.max_credits,
                self._ledger.credits,
                self._credits_per_image,
                "max_credits",
            ),
        )
        for cap, spent, per_image, name in checks:
            if cap is None:
                continue
            # A cap of 0 allows nothing, not even the request that would tell the price.
            more = in_flight * per_image if per_image is not None else 0.0
            if cap <= 0 or (spent or 0.0) + more > cap:
                self._ledger.note_stop(
                    f"{name}={cap:g} reached: no more requests started, as the next "
                    "could take the spend past it"
                )
                return False
        return True

    def _learn_prices(self, usage: Usage, images: int) -> None:
        """Keep the dearest price of an image seen so far."""
        if usage.usd_spent is not None:
            per = usage.usd_spent / images
            self._usd_per_image = max(self._usd_per_image or 0.0, per)
        elif self._options.max_spend_usd is not None:
            self._spend_not_reported("USD", "max_spend_usd")
        if usage.credits_used is not None:
            per = usage.credits_used / images
            self._credits_per_image = max(self._credits_per_image or 0.0, per)
        elif self._options.max_credits is not None:
            self._spend_not_reported("credits", "max_credits")

    def _spend_not_reported(self, what: str, option: str) -> None:
        self._spend_unknown = True
        self._ledger.note_stop(
            f"the API did not report the {what} spent, so {option} cannot be enforced"
        )


def _images_of(request: ImageRequest) -> int:
    return request.num_images or 1
