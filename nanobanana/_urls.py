"""What kind of place a string names: an ``http(s)`` URL, a ``data:`` URL, or neither.

One definition for every module that has to tell a URL from a local path.
"""

from __future__ import annotations

__all__ = ["is_data_url", "is_http_url", "is_url"]


def is_http_url(text: str) -> bool:
    """Whether ``text`` starts with ``http://`` or ``https://`` (any case).

    Example:
        >>> is_http_url("HTTPS://example.com/a.png"), is_http_url("photos/a.png")
        (True, False)
    """
    return text[:8].lower().startswith(("http://", "https://"))


def is_data_url(text: str) -> bool:
    """Whether ``text`` is a ``data:`` URL (any case).

    Example:
        >>> is_data_url("data:image/png;base64,iVBO"), is_data_url("data.png")
        (True, False)
    """
    return text[:5].lower() == "data:"


def is_url(text: str) -> bool:
    """Whether ``text`` is an ``http(s)`` or a ``data:`` URL rather than a local path.

    Example:
        >>> is_url("http://example.com/a.png"), is_url("data:image/png;base64,"), is_url("a.png")
        (True, True, False)
    """
    return is_http_url(text) or is_data_url(text)
