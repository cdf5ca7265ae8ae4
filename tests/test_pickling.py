"""Errors and batch items cross process boundaries: pickle and deepcopy keep everything.

multiprocessing, concurrent.futures, Celery and Ray all pickle what a worker raises or
returns; a value that does not survive the trip breaks them.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana import _errors
from nanobanana.testing import FakeServer

ERROR_CLASSES = sorted(
    (
        obj
        for obj in vars(_errors).values()
        if isinstance(obj, type) and issubclass(obj, BaseException)
    ),
    key=lambda cls: cls.__name__,
)

text = st.text(max_size=40)
maybe_text = st.none() | text
small_float = st.floats(min_value=0, max_value=1e6, allow_nan=False)
headers = st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=3)


def status_errors() -> st.SearchStrategy[nb.NanoBananaError]:
    return st.builds(
        lambda cls, message, status, **kw: cls(message, status=status, **kw),
        st.sampled_from([c for c in ERROR_CLASSES if issubclass(c, nb.APIStatusError)]),
        text,
        st.integers(min_value=400, max_value=599),
        request_id=maybe_text,
        body=st.binary(max_size=40),
        headers=headers,
        retry_after=st.none() | small_float,
    )


def any_error() -> st.SearchStrategy[nb.NanoBananaError]:
    """An instance of every error class, with arbitrary attributes."""
    plain = [
        c
        for c in ERROR_CLASSES
        if c.__init__ is nb.NanoBananaError.__init__  # type: ignore[misc]
    ]
    return st.one_of(
        st.builds(lambda cls, message: cls(message), st.sampled_from(plain), text),
        st.builds(nb.ValidationError, text, text),
        st.builds(nb.APIConnectionError, text, client_request_id=maybe_text),
        st.builds(nb.APITimeoutError, text, client_request_id=maybe_text),
        st.builds(nb.ResponseError, text, request_id=maybe_text, body=st.binary(max_size=40)),
        st.builds(
            nb.ImageDownloadError,
            text,
            url=text,
            status=st.none() | st.integers(100, 599),
            request_id=maybe_text,
        ),
        status_errors(),
    )


def same_error(a: BaseException, b: BaseException) -> None:
    assert type(a) is type(b)
    assert a.args == b.args
    assert vars(a) == vars(b)
    assert str(a) == str(b)
    assert repr(a) == repr(b)


ROUND_TRIPS: list[Callable[[Any], Any]] = [
    lambda value: pickle.loads(pickle.dumps(value)),
    copy.deepcopy,
    copy.copy,
]


def test_every_exception_class_is_covered() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"RateLimitError", "ValidationError", "ImageDownloadError", "ServerError"} <= names
    assert len(names) == 21


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=["pickle", "deepcopy", "copy"])
@given(error=any_error())
def test_an_error_survives_pickle_and_copy_with_its_attributes(
    round_trip: Callable[[Any], Any], error: nb.NanoBananaError
) -> None:
    same_error(round_trip(error), error)


def test_the_warning_survives_pickle() -> None:
    again = pickle.loads(pickle.dumps(nb.BlockingCallWarning("use AsyncClient")))
    assert type(again) is nb.BlockingCallWarning
    assert str(again) == "use AsyncClient"


def test_a_rate_limit_error_sent_to_another_process_keeps_its_status_and_wait() -> None:
    error = nb.RateLimitError(
        "slow down", status=429, request_id="req-1", body=b"{}", retry_after=2.5
    )

    again = pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))

    assert isinstance(again, nb.RateLimitError)
    assert (again.status, again.status_code, again.retry_after) == (429, 429, 2.5)
    assert str(again) == "HTTP 429: slow down (request id req-1)"
    with pytest.raises(nb.RateLimitError):
        raise again


def test_an_error_keeps_its_notes_through_pickle() -> None:
    error = nb.ValidationError("prompt", "must not be blank")
    error.add_note("while reading prompts.txt line 3")

    again = pickle.loads(pickle.dumps(error))

    assert again.__notes__ == ["while reading prompts.txt line 3"]
    assert again.field == "prompt"


# -- batch items and summaries -----------------------------------------------------------

usage = st.builds(
    nb.Usage,
    credits_used=st.none() | small_float,
    usd_spent=st.none() | small_float,
    tokens_used=st.none() | small_float,
)
images = st.builds(
    nb.GeneratedImage,
    data=st.binary(max_size=20),
    mime_type=st.sampled_from(["image/png", "image/jpeg"]),
    url=maybe_text,
)
results = st.builds(
    nb.ImageResult,
    images=st.lists(images, min_size=1, max_size=2).map(tuple),
    model=text,
    usage=usage,
    request_id=maybe_text,
)
items = st.builds(
    nb.BatchItem,
    index=st.integers(min_value=0),
    request=st.none(),
    key=maybe_text,
    status=st.sampled_from(["ok", "failed", "skipped"]),
    skip_reason=st.none() | st.sampled_from(["done", "budget", "stopped", "dry_run"]),
    result=st.none() | results,
    error=st.none() | any_error(),
    attempts=st.integers(min_value=0, max_value=10),
    elapsed=small_float,
    paths=st.lists(st.text(min_size=1, max_size=10).map(Path), max_size=2).map(tuple),
    usage=st.none() | usage,
    request_id=maybe_text,
)
summaries = st.builds(
    nb.BatchSummary,
    read=st.integers(min_value=0),
    total=st.none() | st.integers(min_value=0),
    ok=st.integers(min_value=0),
    skipped_by_reason=st.dictionaries(st.sampled_from(["done", "budget"]), st.integers(0, 9)),
    usd_spent=st.none() | small_float,
    credits_used=st.none() | small_float,
    stop_reason=maybe_text,
    manifest=st.none() | st.just(Path("out/manifest.jsonl")),
)


def same_item(a: nb.BatchItem, b: nb.BatchItem) -> None:
    # An exception equals only itself, so errors are compared on their own.
    assert attrs.evolve(a, error=None) == attrs.evolve(b, error=None)
    if a.error is None:
        assert b.error is None
    else:
        assert b.error is not None
        same_error(a.error, b.error)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=["pickle", "deepcopy", "copy"])
@given(item=items)
def test_a_batch_item_survives_pickle_and_copy(
    round_trip: Callable[[Any], Any], item: nb.BatchItem
) -> None:
    same_item(round_trip(item), item)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=["pickle", "deepcopy", "copy"])
@given(summary=summaries)
def test_a_batch_summary_survives_pickle_and_copy(
    round_trip: Callable[[Any], Any], summary: nb.BatchSummary
) -> None:
    assert round_trip(summary) == summary


async def test_the_items_of_a_real_batch_pickle(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    server.fail_next(status=400)
    async with client.batch(["a red kite", "a blue boat"], concurrency=1) as batch:
        got = [item async for item in batch]

    for item in got:
        again = pickle.loads(pickle.dumps(item))
        assert (again.index, again.status, again.key) == (item.index, item.status, item.key)
        assert again.request == item.request
        if item.error is not None:
            same_error(again.error, item.error)
    assert pickle.loads(pickle.dumps(batch.summary)) == batch.summary
