"""Client settings: where they come from (arguments, then environment) and how kept.

The API key is wrapped in :class:`Secret` as soon as it is read, so no repr, str,
log record or exception built from a settings object can show it.
"""

from __future__ import annotations

import enum
import math
import os
import re
from typing import Any, Final, TypeVar

from ._errors import ConfigurationError, ValidationError
from ._urls import is_http_url

__all__ = [
    "API_KEY_ENV_VARS",
    "BASE_URL_ENV_VAR",
    "DEFAULT_BASE_URL",
    "USE_CLIENT_DEFAULT",
    "Secret",
    "UseClientDefault",
    "check_bool",
    "check_client_request_id",
    "check_int",
    "check_number",
    "per_call_error",
    "normalise_base_url",
    "resolve_api_key",
    "resolve_base_url",
]

API_KEY_ENV_VARS: Final = ("AIML_API_KEY", "AIMLAPI_API_KEY")
BASE_URL_ENV_VAR: Final = "AIML_API_BASE"
DEFAULT_BASE_URL: Final = "https://api.aimlapi.com"

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

T = TypeVar("T")


class UseClientDefault(enum.Enum):
    """Type of :data:`USE_CLIENT_DEFAULT`: "take the client's setting" in a per-call option.

    It differs from ``None``, which in some options means "no limit" or "off".
    """

    USE_CLIENT_DEFAULT = enum.auto()

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault.USE_CLIENT_DEFAULT


def pick(value: T | UseClientDefault, default: T) -> T:
    """``value`` unless it is :data:`USE_CLIENT_DEFAULT`, then ``default``."""
    return default if isinstance(value, UseClientDefault) else value


class Secret:
    """A string that never shows itself in ``repr()`` or ``str()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the ``Authorization`` header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str:  # refuse pickling a secret into a file or a queue
        raise TypeError("a Secret cannot be pickled")


def resolve_api_key(api_key: str | None) -> Secret | None:
    """The key given, else ``AIML_API_KEY``, else ``AIMLAPI_API_KEY``, else ``None``."""
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigurationError("api_key must be a non-empty string")
        return _checked_key(api_key.strip(), "api_key")
    for name in API_KEY_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return _checked_key(value, name)
    return None


def _checked_key(key: str, source: str) -> Secret:
    # A key with a space, a newline or a control character cannot go into a header;
    # say so here, naming where it came from but never the key itself.
    if any(ord(c) <= 32 or ord(c) == 127 for c in key):
        raise ConfigurationError(f"{source} contains whitespace or control characters")
    return Secret(key)


def missing_key_error() -> ConfigurationError:
    """The error raised by the first request made without any API key."""
    return ConfigurationError(
        "no API key: pass api_key=... to the client, or set the AIML_API_KEY "
        "(or AIMLAPI_API_KEY) environment variable"
    )


def normalise_base_url(url: str) -> str:
    """Strip trailing slashes and one trailing ``/v1``: the SDK adds the path itself."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("base_url must be a non-empty http(s) URL")
    cleaned = url.strip().rstrip("/")
    if cleaned.endswith("/v1"):
        cleaned = cleaned[: -len("/v1")].rstrip("/")
    if not is_http_url(cleaned):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {url!r}")
    return cleaned


def resolve_base_url(base_url: str | None) -> str:
    """The URL given, else ``AIML_API_BASE``, else ``https://api.aimlapi.com``."""
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV_VAR, "").strip() or DEFAULT_BASE_URL
    return normalise_base_url(base_url)


def check_client_request_id(value: str | None) -> str | None:
    """Refuse an ``X-Client-Request-Id`` the API would silently drop."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_REQUEST_ID.fullmatch(value):
        raise ValidationError(
            "client_request_id",
            "must be 1 to 128 characters of letters, digits and . _ : -",
        )
    return value


# -- settings checks ---------------------------------------------------------------
# Every constructor argument of the clients, RetryPolicy, Timeout and the batch goes
# through one of these, so a bad one is always a ConfigurationError naming it.


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``.

    Example:
        >>> check_int("max_retries", 3, minimum=0)
        3
        >>> check_int("max_retries", -1, minimum=0)
        Traceback (most recent call last):
        ...
        nanobanana._errors.ConfigurationError: max_retries must be an int >= 0, got -1
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_number(
    name: str, value: Any, *, positive: bool = False, allow_none: bool = False
) -> float | None:
    """``value`` as a ``float`` if it is a finite real number >= 0 (> 0 when
    ``positive``); ``None`` passes when ``allow_none``.

    Example:
        >>> check_number("max_delay", 8)
        8.0
        >>> check_number("total", "x", positive=True)
        Traceback (most recent call last):
        ...
        nanobanana._errors.ConfigurationError: total must be a number > 0, got 'x'
    """
    if value is None and allow_none:
        return None
    bound = "> 0" if positive else ">= 0"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        what = f"a number {bound}" + (" or None" if allow_none else "")
        raise ConfigurationError(f"{name} must be {what}, got {value!r}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a ``bool``.

    Example:
        >>> check_bool("trust_env", "yes")
        Traceback (most recent call last):
        ...
        nanobanana._errors.ConfigurationError: trust_env must be True or False, got 'yes'
    """
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def per_call_error(name: str, error: ConfigurationError) -> ValidationError:
    """The same mistake in a per-call argument: a :class:`ValidationError` naming it.

    Example:
        >>> try:
        ...     check_int("concurrency", 0, minimum=1)
        ... except ConfigurationError as exc:
        ...     print(repr(per_call_error("concurrency", exc)))
        ValidationError('concurrency: must be an int >= 1, got 0')
    """
    return ValidationError(name, str(error).removeprefix(f"{name} "))
