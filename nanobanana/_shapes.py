"""The response shapes of ``API-NOTES.md``, as attrs classes named after their keys.

The API has responded in (at least) five shapes over its life:

1. ``{"data": [{"url", "b64_json"}], "meta": {"usage": {...}}}``
2. ``{"images": [{"url", "content_type", "width", "height"}], "description"}``
3. ``{"description", "data": [{"url", "content_type", "width", "height"}], "meta"}``
4. ``{"data": [{"mime_type", "b64_json", "url"}], "meta": {"usage": {...}}}``
5. ``{"output": {"choices": [{"image_base64"}]}}`` (or ``"output": {"data": [...]}``)

Each class's field names are the keys of its shape, so a place that cannot be read is
named as it is in the response (``$.data[0]``, ``$.output.choices``). The converter
reads a response into one of these, then into a :class:`WireResponse`.
"""

from __future__ import annotations

import attrs

from ._wire import WireImage, WireUsage

__all__ = [
    "Choices",
    "ChoicesBody",
    "DataBody",
    "ImagesBody",
    "Meta",
    "OutputData",
    "OutputDataBody",
    "ResponseBody",
]


@attrs.define
class Meta:
    """The ``meta`` object of shapes 1, 3 and 4."""

    usage: WireUsage | None = None


@attrs.define(kw_only=True)
class ResponseBody:
    """What every shape may carry beside its images."""

    description: str | None = None
    meta: Meta | None = None
    usage: WireUsage | None = None

    def image_list(self) -> list[WireImage]:
        """The images, wherever this shape keeps them."""
        raise NotImplementedError

    def reported_usage(self) -> WireUsage:
        """``meta.usage`` (shapes 1, 3, 4), else a top-level ``usage``."""
        if self.meta is not None and self.meta.usage is not None:
            return self.meta.usage
        return self.usage if self.usage is not None else WireUsage()


@attrs.define(kw_only=True)
class DataBody(ResponseBody):
    """Shapes 1, 3 and 4: the images in ``data``."""

    data: list[WireImage]

    def image_list(self) -> list[WireImage]:
        return self.data


@attrs.define(kw_only=True)
class ImagesBody(ResponseBody):
    """Shape 2: the images in ``images``."""

    images: list[WireImage]

    def image_list(self) -> list[WireImage]:
        return self.images


@attrs.define(kw_only=True)
class Choices:
    choices: list[WireImage]


@attrs.define(kw_only=True)
class ChoicesBody(ResponseBody):
    """Shape 5: the images in ``output.choices``."""

    output: Choices

    def image_list(self) -> list[WireImage]:
        return self.output.choices


@attrs.define(kw_only=True)
class OutputData:
    data: list[WireImage]


@attrs.define(kw_only=True)
class OutputDataBody(ResponseBody):
    """Shape 5 with ``data`` in place of ``choices``: the images in ``output.data``."""

    output: OutputData

    def image_list(self) -> list[WireImage]:
        return self.output.data
