"""A batch whose disk fills up, or whose folder cannot be written: it stops at once.

The real cases run on a small tmpfs (mounted for the test, when the system allows it);
the rest break one write at a time.
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from _helpers import assert_complete_png

import nanobanana as nb
from nanobanana._batch import read_manifest
from nanobanana.testing import FakeServer

# Never a hang: a batch that does not end in this time has hung.
NO_HANG = 60


def prompts(n: int) -> list[str]:
    return [f"prompt number {i}" for i in range(n)]


async def collect_into(items: list[nb.BatchItem], batch: nb.AsyncBatch) -> None:
    """Iterate ``batch``, keeping the items that came out before it raised."""
    async with batch:
        async for item in batch:
            items.append(item)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the disk is full."""
    with path.open("wb", buffering=0) as fh:
        while True:
            fh.write(b"\0" * 4096)


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted after the test (which fails if a file is left open)."""
    mount_point = Path(tempfile.mkdtemp(prefix="nb-small-disk-"))
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
            capture_output=True,
            check=False,
        )
    except OSError:  # no mount command
        mounted = None
    if mounted is None or mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        yield mount_point
    finally:
        unmounted = subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()
        assert unmounted.returncode == 0, unmounted.stderr


def open_files_under(folder: Path) -> list[str]:
    """The files under ``folder`` this process holds open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def assert_every_ok_image_is_there(items: list[nb.BatchItem], out: Path) -> None:
    for item in items:
        if item.ok:
            assert item.paths
            for path in item.paths:
                assert_complete_png(path)
    for record in read_manifest(out / "manifest.jsonl"):
        if record["status"] == "ok":
            for name in record["paths"]:
                assert_complete_png(out / name)


@pytest.mark.parametrize(
    ("count", "concurrency", "image_bytes"),
    [(200, 1, None), (200, 8, None), (4, 1, 20_000), (4, 8, 20_000)],
    ids=["200-prompts-one-at-a-time", "200-prompts-8-at-a-time", "4-big-images", "4-at-once"],
)
async def test_a_batch_that_fills_the_disk_stops_with_the_disk_error_and_resumes(
    small_disk: Path, count: int, concurrency: int, image_bytes: int | None
) -> None:
    out = small_disk / "out"
    items: list[nb.BatchItem] = []
    async with (
        FakeServer(image_bytes=image_bytes) as server,
        nb.AsyncClient(api_key=server.api_key, base_url=server.url) as client,
    ):
        batch = client.batch(prompts(count), out_dir=out, concurrency=concurrency)
        with anyio.fail_after(NO_HANG), pytest.raises(OSError) as raised:
            await collect_into(items, batch)

        assert raised.value.errno == errno.ENOSPC
        summary = batch.summary
        assert summary.stop_reason is not None
        assert "No space left on device" in summary.stop_reason
        assert summary.done == summary.read == len(items)
        assert summary.ok < count
        assert summary.in_flight == 0
        assert summary.ok == sum(item.ok for item in items)
        assert summary.images_written == sum(len(item.paths) for item in items)
        assert_every_ok_image_is_there(items, out)
        assert not [p for p in out.iterdir() if p.name.endswith(".part")]
        assert open_files_under(small_disk) == []  # the manifest is closed

        # With room again, a resume finishes the work and sends nothing twice that
        # the manifest records as done.
        done_before = {
            r["key"] for r in read_manifest(out / "manifest.jsonl") if r["status"] == "ok"
        }
        subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
        with anyio.fail_after(NO_HANG):
            async with client.batch(prompts(count), out_dir=out, resume=True) as again:
                second = [item async for item in again]
        assert again.summary.stop_reason is None
        assert again.summary.ok + again.summary.skipped_by_reason.get("done", 0) == count
        assert {item.key for item in second if item.ok}.isdisjoint(done_before)
        assert_every_ok_image_is_there(second, out)


async def test_a_disk_full_before_the_batch_starts_stops_it_at_once(
    small_disk: Path,
) -> None:
    out = small_disk / "out"
    out.mkdir()
    filler = small_disk / "filler"
    with pytest.raises(OSError):
        fill(filler)
    async with (
        FakeServer() as server,
        nb.AsyncClient(api_key=server.api_key, base_url=server.url) as client,
    ):
        batch = client.batch(prompts(20), out_dir=out, concurrency=4)
        with anyio.fail_after(NO_HANG), pytest.raises(OSError):
            await batch.run()

    assert batch.summary.ok == 0
    assert batch.summary.stop_reason is not None
    assert "No space left on device" in batch.summary.stop_reason
    assert [p.name for p in out.iterdir() if p.suffix == ".png"] == []
    assert open_files_under(small_disk) == []


# -- one write failing at a time ----------------------------------------------------------


async def test_a_full_disk_stops_the_batch_with_the_disk_error(
    client: nb.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(target: Path, data: bytes, tag: str = "") -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("nanobanana._results.atomic_write", no_space)
    batch = client.batch(prompts(10), out_dir=tmp_path, concurrency=2)
    with anyio.fail_after(NO_HANG), pytest.raises(OSError, match="No space left"):
        await batch.run()
    records = list(read_manifest(tmp_path / "manifest.jsonl"))
    assert records
    assert all(r["status"] == "skipped" and r["skip_reason"] == "stopped" for r in records)
    assert batch.summary.ok == 0
    assert "No space left" in (batch.summary.stop_reason or "")


async def test_when_the_second_image_of_an_item_cannot_be_written_the_item_is_not_ok(
    client: nb.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanobanana._files import atomic_write

    def second_fails(target: Path, data: bytes, tag: str = "") -> None:
        if target.stem.endswith("-2"):
            raise OSError(errno.ENOSPC, "No space left on device")
        atomic_write(target, data, tag)

    monkeypatch.setattr("nanobanana._results.atomic_write", second_fails)
    request = nb.ImageRequest(prompt="a pair of kites", num_images=2)
    batch = client.batch([request], out_dir=tmp_path)
    items: list[nb.BatchItem] = []
    with anyio.fail_after(NO_HANG), pytest.raises(OSError, match="No space left"):
        await collect_into(items, batch)

    assert [(item.status, item.skip_reason) for item in items] == [("skipped", "stopped")]
    assert batch.summary.ok == batch.summary.images_written == 0
    # The first image of the item is not left behind without a line naming it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.jsonl"]


async def test_a_manifest_line_that_cannot_be_written_stops_the_batch(
    client: nb.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanobanana._batch import _manifest

    real_write_all = _manifest._write_all
    lines = 0

    def full_after_three_lines(fh: object, data: bytes) -> None:
        nonlocal lines
        lines += 1
        if lines > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fh, data)  # type: ignore[arg-type]

    monkeypatch.setattr(_manifest, "_write_all", full_after_three_lines)
    batch = client.batch(prompts(50), out_dir=tmp_path, concurrency=4)
    with anyio.fail_after(NO_HANG), pytest.raises(OSError, match="No space left"):
        await batch.run()

    assert len(list(read_manifest(tmp_path / "manifest.jsonl"))) == 3
    assert batch.summary.read < 50
    assert "No space left" in (batch.summary.stop_reason or "")


async def test_an_out_dir_that_cannot_be_made_stops_the_batch_before_anything_is_sent(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    a_file = tmp_path / "kite.png"
    a_file.write_bytes(b"not a folder")
    batch = client.batch(prompts(3), out_dir=a_file / "sub")

    with anyio.fail_after(NO_HANG), pytest.raises(OSError):
        await batch.run()

    assert server.generation_requests == []
    assert batch.summary.read == 0
    assert (batch.summary.stop_reason or "").startswith("stopped by NotADirectoryError")
