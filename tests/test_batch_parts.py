"""The parts of the batch engine, each on its own: reader, admission, delivery, ledger."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import given, strategies as st

import nanobanana as nb
from nanobanana._batch import image_file_name, slugify as nb_slugify
from nanobanana._batch._admission import Admission
from nanobanana._batch._attempts import ItemAttempts
from nanobanana._batch._delivery import Delivery
from nanobanana._batch._ledger import Ledger
from nanobanana._batch._options import BatchOptions
from nanobanana._batch._reader import InputReader
from nanobanana._batch._throttle import Throttle
from nanobanana._retry import send_with_retries


def item(index: int, status: str = "ok", **fields: object) -> nb.BatchItem:
    request = nb.ImageRequest(prompt=f"prompt {index}")
    return nb.BatchItem(index=index, request=request, key=f"k{index}", status=status, **fields)  # type: ignore[arg-type]


def result(
    usd: float | None = 0.04, credits: float | None = 100.0, images: int = 1
) -> nb.ImageResult:
    image = nb.GeneratedImage(data=b"\x89PNG\r\n\x1a\n", mime_type="image/png")
    return nb.ImageResult(
        images=(image,) * images, model="m", usage=nb.Usage(usd_spent=usd, credits_used=credits)
    )


# -- the reader -----------------------------------------------------------------------


async def test_the_reader_takes_inputs_one_at_a_time_and_numbers_them() -> None:
    taken: list[str] = []

    def source() -> Iterator[str]:
        for prompt in ("a", "b", "c"):
            taken.append(prompt)
            yield prompt

    reader = InputReader(source())
    assert await reader.next() == (0, "a")
    assert taken == ["a"]  # lazily: nothing read ahead
    assert await reader.next() == (1, "b")
    assert await reader.next() == (2, "c")
    assert await reader.next() is None
    assert (reader.read, reader.total) == (3, None)


async def test_the_reader_reads_async_iterables_and_closes_them() -> None:
    closed = []

    async def source() -> AsyncIterator[str]:
        try:
            yield "a"
            yield "b"
        finally:
            closed.append(True)

    reader = InputReader(source())
    assert await reader.next() == (0, "a")
    await reader.aclose()
    assert closed == [True]


async def test_a_stopped_reader_reads_nothing_more() -> None:
    reader = InputReader(["a", "b"])
    assert reader.total == 2
    reader.stop()
    assert await reader.next() is None


@pytest.mark.parametrize("source", ["a red kite", b"bytes", 42])
def test_the_reader_refuses_what_is_not_a_collection_of_prompts(source: object) -> None:
    with pytest.raises(nb.ValidationError, match="requests"):
        InputReader(source)  # type: ignore[arg-type]


# -- admission ------------------------------------------------------------------------


def test_each_earlier_success_lets_one_input_skip_as_done() -> None:
    admission = Admission(BatchOptions(), Ledger())
    admission.remember_done(Counter({"k": 2}))
    assert [admission.done_before("k") for _ in range(3)] == [True, True, False]
    assert admission.done_before("other") is False


async def test_under_a_cap_one_request_goes_alone_until_the_price_is_known() -> None:
    ledger = Ledger()
    admission = Admission(BatchOptions(max_spend_usd=1.0), ledger)
    first = nb.ImageRequest(prompt="first")
    assert await admission.admit(first) is None
    admitted: list[str] = []

    async def second() -> None:
        assert await admission.admit(nb.ImageRequest(prompt="second")) is None
        admitted.append("second")

    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
        await anyio.sleep(0.05)
        assert admitted == []  # waits: the price of an image is not known yet
        ledger.account(result(usd=0.04), written=0)
        admission.release(first, result(usd=0.04))
    assert admitted == ["second"]


async def test_a_request_that_could_pass_the_cap_is_skipped_for_budget() -> None:
    ledger = Ledger()
    admission = Admission(BatchOptions(max_spend_usd=0.1), ledger)
    request = nb.ImageRequest(prompt="a", num_images=2)
    assert await admission.admit(request) is None
    ledger.account(result(usd=0.08, images=2), written=0)
    admission.release(request, result(usd=0.08, images=2))

    assert await admission.admit(request) == "budget"  # 0.08 spent + 2 x 0.04 > 0.1
    assert ledger.stop_reason is not None
    assert "max_spend_usd=0.1 reached" in ledger.stop_reason


async def test_a_cap_of_zero_sends_nothing() -> None:
    admission = Admission(BatchOptions(max_credits=0), Ledger())
    assert await admission.admit(nb.ImageRequest(prompt="a")) == "budget"


async def test_a_cap_the_api_gives_no_figures_for_stops_sending() -> None:
    ledger = Ledger()
    admission = Admission(BatchOptions(max_spend_usd=5.0), ledger)
    request = nb.ImageRequest(prompt="a")
    assert await admission.admit(request) is None
    admission.release(request, result(usd=None))
    assert await admission.admit(request) == "budget"
    assert "did not report the USD spent" in (ledger.stop_reason or "")


async def test_a_stop_lets_waiting_items_go_as_stopped() -> None:
    admission = Admission(BatchOptions(max_spend_usd=1.0), Ledger())
    assert await admission.admit(nb.ImageRequest(prompt="first")) is None
    reasons = []

    async def waiting() -> None:
        reasons.append(await admission.admit(nb.ImageRequest(prompt="second")))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiting)
        await anyio.sleep(0.02)
        admission.stop()
    assert reasons == ["stopped"]


# -- delivery -------------------------------------------------------------------------


async def test_an_ordered_delivery_hands_items_out_in_input_order() -> None:
    send, receive = anyio.create_memory_object_stream[nb.BatchItem](0)
    delivery = Delivery(send, ordered=True)
    got: list[int] = []

    async def consume() -> None:
        async with receive:
            got.extend([i.index async for i in receive])

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with send, anyio.create_task_group() as workers:
            for index in (2, 0, 3, 1):  # finished out of order
                workers.start_soon(delivery.deliver, item(index))
                await anyio.sleep(0.01)
    assert got == [0, 1, 2, 3]
    assert delivery.next_index == 4


async def test_an_item_waits_until_it_is_within_the_reorder_window() -> None:
    send, receive = anyio.create_memory_object_stream[nb.BatchItem](1)
    delivery = Delivery(send, ordered=True)
    waited: list[int] = []

    async def wait(index: int) -> None:
        await delivery.wait_for_window(index, window=2)
        waited.append(index)

    async with send, receive, anyio.create_task_group() as tg:
        tg.start_soon(wait, 1)
        tg.start_soon(wait, 2)
        await anyio.sleep(0.02)
        assert waited == [1]  # 2 is two ahead of the next to hand out (0)
        await delivery.deliver(item(0))
        await anyio.sleep(0.02)
        assert waited == [1, 2]


async def test_a_delivery_to_a_gone_consumer_says_so() -> None:
    send, receive = anyio.create_memory_object_stream[nb.BatchItem](0)
    receive.close()
    delivery = Delivery(send, ordered=False)
    await delivery.deliver(item(0))
    assert delivery.consumer_gone
    send.close()


# -- the ledger -----------------------------------------------------------------------


def test_the_ledger_counts_items_and_writes_one_manifest_line_each(tmp_path: Path) -> None:
    ledger = Ledger()
    assert ledger.open(tmp_path, resume=False, dry_run=False) == Counter()
    ledger.record(item(0, usage=nb.Usage(usd_spent=0.039), request_id="r0"))
    ledger.record(item(1, status="skipped", skip_reason="budget"))
    ledger.record(item(2, status="failed", error=nb.ServerError("busy", status=503)))
    ledger.close()

    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [(r["index"], r["status"]) for r in lines] == [(0, "ok"), (1, "skipped"), (2, "failed")]
    assert lines[0]["usage"] == {"usd_spent": 0.039}
    assert lines[0]["request_id"] == "r0"
    assert lines[1]["skip_reason"] == "budget"
    assert lines[2]["error_type"] == "ServerError"
    summary = ledger.summary(InputReader([1, 2, 3]), Throttle(4))
    assert (summary.ok, summary.failed, summary.skipped, summary.total) == (1, 1, 1, 3)
    assert summary.skipped_by_reason == {"budget": 1}


def test_resuming_reads_the_keys_that_finished_ok(tmp_path: Path) -> None:
    first = Ledger()
    first.open(tmp_path, resume=False, dry_run=False)
    first.record(item(0))
    first.record(item(1, status="failed", error=nb.ServerError("busy", status=503)))
    first.close()

    again = Ledger()
    assert again.open(tmp_path, resume=True, dry_run=False) == Counter({"k0": 1})
    again.close()


def test_the_ledger_shows_money_rounded_and_keeps_the_exact_sum(tmp_path: Path) -> None:
    ledger = Ledger()
    for _ in range(10):
        ledger.account(result(usd=0.039, credits=0.1), written=0)

    summary = ledger.summary(InputReader([]), Throttle(4))

    assert summary.usd_spent == 0.38999999999999996  # ten times 0.039, in floating point
    assert "usd_spent=0.39," in repr(summary)
    assert "credits_used=1.0," in repr(summary)
    usage = nb.Usage(usd_spent=summary.usd_spent, credits_used=0.1 + 0.2)
    assert repr(usage) == "Usage(credits_used=0.3, usd_spent=0.39, tokens_used=None)"


# -- file names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("東京の夜景、雨上がり", "東京の夜景-雨上がり"),
        ("Кот в сапогах", "кот-в-сапогах"),
        ("قطة على السطح", "قطة-على-السطح"),
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),
        ("\uff26\uff55\uff4c\uff4c\u3000\uff37\uff49\uff44\uff54\uff48", "full-width"),  # NFKC
        ("Crème brûlée", "crème-brûlée"),
        ("a/b\\c\x00d\u202ee", "a-b-c-d-e"),  # separators, controls, a direction override
        ("...hidden", "hidden"),
        ("🎨🖌️", "image"),
    ],
)
def test_a_file_name_keeps_the_letters_of_any_script(prompt: str, slug: str) -> None:
    assert nb_slugify(prompt) == slug
    assert image_file_name(7, prompt, ".png", 0, 1) == f"000007-{slug}.png"


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_a_slug_is_a_safe_file_name_in_any_script(text: str, max_len: int) -> None:
    slug = nb_slugify(text, max_len)

    assert slug
    assert len(slug) <= max_len or slug == "image"
    assert len(slug.encode("utf-8")) <= 100
    assert not slug.startswith((".", "-"))
    assert not slug.endswith("-")
    assert all(unicodedata.category(c)[0] in "LMN" or c == "-" for c in slug)


LETTERS = st.characters(categories=["Lu", "Ll", "Lo", "Nd"])


@given(st.text(alphabet=LETTERS, min_size=1, max_size=30))
def test_a_prompt_of_letters_alone_is_its_own_slug(text: str) -> None:
    normal = unicodedata.normalize("NFKC", text).lower()
    if all(unicodedata.category(c)[0] in "LMN" for c in normal) and len(normal) <= 40:
        assert nb_slugify(text) == normal


# -- an item's attempts ----------------------------------------------------------------


@pytest.mark.parametrize(("independent", "ceilings"), [(False, [1, 2, 4]), (True, [1, 1, 1])])
async def test_an_items_429s_back_off_afresh_once_the_batch_finds_them_not_about_its_load(
    independent: bool, ceilings: list[int]
) -> None:
    throttle = Throttle(4)
    throttle.judge.independent = independent  # as the judge decides
    waits: list[float] = []

    class Attempts(ItemAttempts):
        def waiting(self, error: Exception, seconds: float) -> None:
            waits.append(seconds)
            super().waiting(error, seconds)

    outcomes: list[object] = [nb.RateLimitError("busy", status=429)] * 3 + ["ok"]

    async def send() -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = nb.RetryPolicy(initial_delay=0.01, max_delay=1.0)
    hooks = Attempts(throttle, on_wait=lambda: None)
    assert await send_with_retries(send, policy, hooks, rand=lambda: 1.0) == "ok"
    assert waits == pytest.approx([0.01 * n for n in ceilings])
