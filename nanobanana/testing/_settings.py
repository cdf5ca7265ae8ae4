"""The settings of the fake server: what its responses look like, changeable while it runs."""

from __future__ import annotations

from ._responses import RESPONSE_SHAPES

__all__ = ["ServerSettings"]


class ServerSettings:
    """The settings a :class:`FakeServer` reads on every request; a test may change them.

    The request handlers read these attributes anew for each request, so a change made
    from the test's thread applies to the next request.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        shape: str,
        image_size: tuple[int, int] | None,
        image_bytes: int | None,
        latency: float,
        credits_per_image: float,
        usd_per_image: float,
        strict_models: bool,
    ) -> None:
        if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
            raise ValueError(f"image_size must be (width, height) >= 1, got {image_size!r}")
        if image_bytes is not None and image_bytes < 0:
            raise ValueError(f"image_bytes must be >= 0, got {image_bytes}")
        #: The expected bearer key; ``None`` accepts any. Settable.
        self.api_key = api_key
        #: A fixed ``(width, height)`` for every image, or ``None``. Settable.
        self.image_size = image_size
        #: The PNG file size to pad to, or ``None``. Settable.
        self.image_bytes = image_bytes
        #: Credits reported per image. Settable.
        self.credits_per_image = credits_per_image
        #: US dollars reported per image. Settable.
        self.usd_per_image = usd_per_image
        #: Whether unknown model ids get 404. Settable.
        self.strict_models = strict_models
        self.shape = shape
        self.latency = latency

    @property
    def shape(self) -> str:
        """The shape of successful responses, one of :data:`RESPONSE_SHAPES`; settable.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> server = FakeServer(shape="images_url")
            >>> server.shape = "data_url"
            >>> server.shape
            'data_url'
        """
        return self._shape

    @shape.setter
    def shape(self, value: str) -> None:
        if value not in RESPONSE_SHAPES:
            raise ValueError(f"shape must be one of {RESPONSE_SHAPES}, got {value!r}")
        self._shape = value

    @property
    def latency(self) -> float:
        """Seconds added before every response of the generation endpoint; settable.

        Example:
            >>> from nanobanana.testing import FakeServer
            >>> server = FakeServer(latency=0.5)
            >>> server.latency = 0
            >>> server.latency
            0.0
        """
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"latency must be >= 0, got {value}")
        self._latency = float(value)
