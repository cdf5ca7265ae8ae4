"""The root of the exception tree, and how much of a body an error keeps.

Both branches of the tree (``_errors`` and ``_status_errors``) build on this module;
users import every class from ``nanobanana`` (or ``nanobanana._errors``).
"""

from __future__ import annotations

from typing import Any

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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle (and deep-copy) the error with every attribute it carries.

        Python's default calls the class again with ``self.args``, which fails for a
        class whose constructor takes other arguments; this rebuilds the error without
        calling the constructor, then restores its attributes.

        Example:
            >>> import copy, pickle, nanobanana as nb
            >>> err = nb.RateLimitError("slow down", status=429, retry_after=2.0)
            >>> again = pickle.loads(pickle.dumps(err))
            >>> type(again).__name__, again.status, again.retry_after, str(again)
            ('RateLimitError', 429, 2.0, 'HTTP 429: slow down')
            >>> copy.deepcopy(nb.ValidationError("prompt", "must not be empty")).field
            'prompt'
        """
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[NanoBananaError], args: tuple[Any, ...]) -> NanoBananaError:
    """An instance of ``cls`` with ``args``, its constructor not called (see ``__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error
