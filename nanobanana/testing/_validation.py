"""Request-body validation the way the AI/ML API does it, with its wording.

The real API validates with zod and responds ``400 Body validation error! <detail>``;
the details below imitate zod's messages and always name the offending field, so a
test can tell which rule fired.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import attrs

from nanobanana._catalog import (
    ASPECT_RATIOS,
    PROVIDERS,
    RESOLUTIONS,
    ModelInfo,
    model_info,
    option_problem,
)

__all__ = ["ApiError", "Job", "validate_body"]

_DATA_URL = re.compile(r"data:image/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,(.*)", re.DOTALL)


class ApiError(Exception):
    """A request the fake responds to with a vendor error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.frozen
class Job:
    """What a valid request asks for."""

    model: str
    prompt: str
    num_images: int
    aspect_ratio: str
    resolution: str
    input_images: int


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid(detail: str, field: str | None = None) -> ApiError:
    where = f' at "{field}"' if field else ""
    return ApiError(400, f"Body validation error! {detail}{where}")


def _enum(value: object, allowed: Sequence[str], field: str) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    expected = " | ".join(f"'{a}'" for a in allowed)
    shown = f"'{value}'" if isinstance(value, str) else _kind(value)
    raise _invalid(f"Invalid enum value. Expected {expected}, received {shown}", field)


def _num_images(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"Expected number, received {_kind(value)}", "num_images")
    if isinstance(value, float) and not value.is_integer():
        raise _invalid("Expected integer, received float", "num_images")
    if value < 1:
        raise _invalid("Number must be greater than or equal to 1", "num_images")
    if value > 4:
        raise _invalid("Number must be less than or equal to 4", "num_images")
    return int(value)


def _image_url_ok(url: str) -> bool:
    match = _DATA_URL.fullmatch(url)
    if match is not None:
        try:
            return bool(base64.b64decode(match.group(1), validate=True))
        except (binascii.Error, ValueError):
            return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _image_urls(value: object, limit: int | None) -> int:
    if not isinstance(value, list):
        raise _invalid(f"Expected array, received {_kind(value)}", "image_urls")
    if not value:
        raise _invalid("Array must contain at least 1 element(s)", "image_urls")
    if limit is not None and len(value) > limit:
        raise _invalid(f"Array must contain at most {limit} element(s)", "image_urls")
    for index, url in enumerate(value):
        field = f"image_urls[{index}]"
        if not isinstance(url, str):
            raise _invalid(f"Expected string, received {_kind(url)}", field)
        if not _image_url_ok(url):
            raise _invalid("Invalid url: expected an http(s) URL or a base64 data URL", field)
    return len(value)


def validate_body(body: object, *, strict_models: bool) -> Job:
    """Check a decoded request body against the model it names.

    Args:
        body: The decoded JSON body (anything ``json.loads`` returns).
        strict_models: Respond to an unknown model id with 404 instead of treating it
            like a generate model.

    Returns:
        The request's parameters, defaults filled in.

    Raises:
        ApiError: 400 for an invalid body, 404 for an unknown model when strict.
    """
    if not isinstance(body, Mapping):
        raise _invalid(f"Expected object, received {_kind(body)}")
    model = body.get("model")
    if model is None:
        raise _invalid("Required", "model")
    if not isinstance(model, str):
        raise _invalid(f"Expected string, received {_kind(model)}", "model")
    info = model_info(model)
    if info is None and strict_models:
        raise ApiError(404, f"Model {model} not found")

    prompt = body.get("prompt")
    if prompt is None:
        raise _invalid("Required", "prompt")
    if not isinstance(prompt, str):
        raise _invalid(f"Expected string, received {_kind(prompt)}", "prompt")
    if not prompt.strip():
        raise _invalid("String must contain at least 1 character(s)", "prompt")

    num_images = 1
    if "num_images" in body:
        if info is not None and not info.num_images:
            raise _invalid("Unrecognized key(s) in object: 'num_images'")
        num_images = _num_images(body["num_images"])

    ratios = info.aspect_ratios if info is not None else ASPECT_RATIOS
    aspect_ratio = "1:1"
    if "aspect_ratio" in body:
        aspect_ratio = _enum(body["aspect_ratio"], ratios, "aspect_ratio")

    resolutions = info.resolutions if info is not None else RESOLUTIONS
    resolution = "1K"
    if "resolution" in body:
        if not resolutions:
            raise _invalid("Unrecognized key(s) in object: 'resolution'")
        resolution = _enum(body["resolution"], RESOLUTIONS, "resolution")

    _check_switches(body, info)

    edits = info.edits if info is not None else "optional"
    limit = info.max_input_images if info is not None else None
    input_images = 0
    if "image_urls" in body:
        if edits == "no":
            raise _invalid("Unrecognized key(s) in object: 'image_urls'")
        input_images = _image_urls(body["image_urls"], limit)
    elif edits == "required":
        raise _invalid("Required", "image_urls")

    return Job(model, prompt, num_images, aspect_ratio, resolution, input_images)


def _check_switches(body: Mapping[str, object], info: ModelInfo | None) -> None:
    """``provider``, ``enable_web_search`` and the options a model documents."""
    if "provider" in body:
        if info is not None and not info.provider:
            raise _invalid("Unrecognized key(s) in object: 'provider'")
        _enum(body["provider"], PROVIDERS, "provider")
    if "enable_web_search" in body:
        if info is not None and not info.web_search:
            raise _invalid("Unrecognized key(s) in object: 'enable_web_search'")
        if not isinstance(body["enable_web_search"], bool):
            kind = _kind(body["enable_web_search"])
            raise _invalid(f"Expected boolean, received {kind}", "enable_web_search")
    for name in info.options if info is not None else ():
        if name in body and option_problem(name, body[name]) is not None:
            raise _invalid(f"Invalid value: {option_problem(name, body[name])}", name)
