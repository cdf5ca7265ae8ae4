"""Base64 for image payloads: the standard library's, or pybase64's when it is installed.

Decoding the images is the largest share of the SDK's own CPU per response: the
standard library decodes about 0.4 GB/s, so a 1.5 MB image costs milliseconds.
pybase64 (SIMD) does the same work 20 to 60 times faster. It is optional
(``pip install "nanobanana[speedups]"``) and used whenever it can be imported; both
paths give the same bytes and refuse the same input (a property test compares them).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from types import ModuleType

__all__ = ["ACCELERATED", "decode", "encode"]


def _std_decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _std_encode(data: bytes) -> bytes:
    return base64.b64encode(data)


def _accelerated() -> ModuleType | None:
    try:
        import pybase64
    except ImportError:
        return None
    return pybase64


_fast = _accelerated()


def _fast_decode(text: str) -> bytes:
    assert _fast is not None
    try:
        data: bytes = _fast.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        # pybase64 is stricter on a few paddings ("AAAA="): the standard library has
        # the last word, so both paths accept and refuse exactly the same input.
        return _std_decode(text)
    return data


def _fast_encode(data: bytes) -> bytes:
    assert _fast is not None
    encoded: bytes = _fast.b64encode(data)
    return encoded


#: Whether pybase64 is in use.
ACCELERATED = _fast is not None
#: Strict decoding: anything but the base64 alphabet and correct padding is an error
#: (``binascii.Error`` or ``ValueError``).
decode: Callable[[str], bytes] = _fast_decode if ACCELERATED else _std_decode
#: Plain base64 encoding.
encode: Callable[[bytes], bytes] = _fast_encode if ACCELERATED else _std_encode
