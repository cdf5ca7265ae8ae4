"""Image payloads decode the same with or without the optional pybase64."""

from __future__ import annotations

import binascii
import subprocess
import sys
import textwrap

import pytest
from hypothesis import example, given, settings, strategies as st

from nanobanana import _b64

pytest.importorskip("pybase64")

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\u00e9"


def outcome(decode: object, text: str) -> bytes | str:
    try:
        return decode(text)  # type: ignore[operator,no-any-return]
    except (binascii.Error, ValueError):
        return "refused"


def test_pybase64_is_used_when_it_is_installed() -> None:
    assert _b64.ACCELERATED
    assert _b64.decode is _b64._fast_decode


@settings(max_examples=2000)
@given(st.text(alphabet=ALPHABET, max_size=40))
@example("AAAA=")  # pybase64 refuses it, the standard library reads it: the latter wins
@example("YQ==YQ==")
@example("YQ")
def test_both_decoders_read_and_refuse_the_same_text(text: str) -> None:
    assert outcome(_b64._fast_decode, text) == outcome(_b64._std_decode, text)


@given(st.binary(max_size=300))
def test_both_encoders_write_the_same_text_and_it_reads_back(data: bytes) -> None:
    assert _b64._fast_encode(data) == _b64._std_encode(data)
    assert _b64.decode(_b64.encode(data).decode()) == data


def test_without_pybase64_the_client_decodes_with_the_standard_library() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pybase64"] = None  # as if it were not installed
        import nanobanana as nb
        from nanobanana import _b64
        from nanobanana.testing import FakeServer

        with FakeServer() as server, nb.Client(
            api_key=server.api_key, base_url=server.url
        ) as client:
            image = client.generate("a red kite").image
        print(_b64.ACCELERATED, image.mime_type, image.data[:4])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout

    assert out.split() == ["False", "image/png", "b'\\x89PNG'"]
