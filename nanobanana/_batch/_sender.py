"""What the batch engine needs of a client: resolve a request's model, and send it.

The client hands the engine an object with these two methods, bound to the call
options of the batch (timeout, retry policy); the engine never reaches into it.
"""

from __future__ import annotations

from typing import Protocol

from .._models import ImageRequest, ImageResult
from .._retry import AttemptHooks, RetryPolicy

__all__ = ["Sender"]


class Sender(Protocol):
    """Sends the requests of one batch."""

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy the requests are sent with (a batch's defaults applied)."""

    def resolve_model(self, request: ImageRequest) -> str:
        """The model ``request`` goes to; raises ValidationError when it cannot go."""

    async def send(self, request: ImageRequest, model: str, hooks: AttemptHooks) -> ImageResult:
        """Send ``request`` to ``model`` with retries, calling ``hooks`` around each attempt."""
