"""A copy of an SDK error with a changed message or body.

An exception that was raised is never changed afterwards: code further up may hold
it already. Where the SDK has more to say about an error it caught (why it was not
retried, a body with the key blanked out), it raises this copy instead, ``from`` the
original.
"""

from __future__ import annotations

from typing import TypeVar

from ._errors import NanoBananaError

__all__ = ["amended"]

E = TypeVar("E", bound=NanoBananaError)


def amended(error: E, *, message: str | None = None, body: bytes | None = None) -> E:
    """A new exception of ``error``'s class, with its attributes, and ``message``
    and/or ``body`` replaced.

    Example:
        >>> from nanobanana import ServerError
        >>> original = ServerError("busy", status=503)
        >>> copy = amended(original, message="busy (not retried)")
        >>> str(copy), copy.status, str(original)
        ('HTTP 503: busy (not retried)', 503, 'HTTP 503: busy')
    """
    cls = type(error)
    # Made without calling __init__: the classes' constructors differ, and every
    # attribute is copied over from the original below.
    copy = cls.__new__(cls)
    copy.__dict__.update(error.__dict__)
    if message is not None:
        copy.message = message
    copy.args = (copy.message,)
    if body is not None:
        copy.body = body  # type: ignore[attr-defined]
    return copy
