"""The root of the exception tree, and how much of a body an error keeps.

Both branches of the tree (``_errors`` and ``_status_errors``) build on this module;
users import every class from ``nanobanana`` (or ``nanobanana._errors``).
"""

from __future__ import annotations

__all__ = ["BODY_EXCERPT_BYTES", "NanoBananaError"]

#: How much of a response body an error keeps, for diagnosis (64 KiB).
BODY_EXCERPT_BYTES = 64 * 1024


class NanoBananaError(Exception):
    """Base class of every error the SDK raises.

    Example:
        >>> import nanobanana as nb
        >>> issubclass(nb.RateLimitError, nb.NanoBananaError)
        True
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
