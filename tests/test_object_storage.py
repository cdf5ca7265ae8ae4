"""A batch into object storage: ``out_dir="s3://bucket/run/"`` (moto's S3 server on
127.0.0.1, through s3fs) and ``memory://`` (fsspec's in-process store)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _helpers import AWS, s3_server

import nanobanana as nb
from nanobanana._batch import _remote
from nanobanana._cli import main
from nanobanana._cli._batch_run import _remote_segments, _remote_since
from nanobanana.testing import FakeServer

# The dev extra installs them (fsspec, s3fs, moto's server); the SDK does not need them.
fsspec = pytest.importorskip("fsspec")
pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {**AWS, "AWS_ENDPOINT_URL": s3_endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    """A new, empty bucket; the URL of a run in it."""
    name = f"run-{secrets.token_hex(4)}"
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir(name)
    return f"s3://{name}/run/"


@pytest.fixture
def memory_url() -> Iterator[str]:
    root = f"/test-{secrets.token_hex(4)}"
    yield f"memory://{root}/run/"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def prompts(n: int) -> list[str]:
    return [f"a paper boat, number {i}" for i in range(n)]


def objects(url: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    return sorted(str(p).rsplit("/", 1)[-1] for p in fs.ls(root.rstrip("/"), detail=False))


def status(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["status", url, "--json"])
    return code, json.loads(capsys.readouterr().out)


# -- s3:// through s3fs, against moto's S3 server --------------------------------------


async def test_an_s3_batch_interrupted_and_resumed_makes_one_image_per_prompt(
    client: nb.AsyncClient, server: FakeServer, bucket: str, s3_env: dict[str, str]
) -> None:
    inputs = prompts(12)
    async with client.batch(inputs, out_dir=bucket, concurrency=3) as batch:
        async for item in batch:
            if item.index >= 5:
                break  # interrupted half-way
    first = len(server.generation_requests)
    assert 0 < first < 12

    summary = await client.batch(inputs, out_dir=bucket, resume=True).run()

    done = summary.skipped_by_reason["done"]
    assert 0 < done < 12
    assert summary.ok == 12 - done
    assert len(server.generation_requests) == first + summary.ok  # nothing done sent again
    names = objects(bucket)
    images = [n for n in names if n.endswith(".png")]
    assert sorted(int(n[:6]) for n in images) == list(range(12))  # one per prompt
    segments = [n for n in names if n.startswith("manifest")]
    assert len(segments) == 2  # one written by each run, at its close
    result = subprocess.run(
        [sys.executable, "-m", "nanobanana", "status", bucket, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **s3_env},
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["requests"], doc["ok"], doc["images"]) == (12, 12, 12)
    assert [m["name"] for m in doc["manifests"]] == ["manifest.jsonl"]


def test_shards_write_to_one_s3_folder(
    sync_client: nb.Client, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for k in range(2):
        sync_client.batch(prompts(8), out_dir=bucket, shard=nb.Shard(k, 2)).run()

    code, doc = status(bucket, capsys)

    assert (code, doc["ok"], doc["images"]) == (0, 8, 8)
    assert [m["name"] for m in doc["manifests"]] == [
        "manifest-00-of-02.jsonl",
        "manifest-01-of-02.jsonl",
    ]


# -- memory:// ------------------------------------------------------------------------


def test_the_manifest_is_written_in_segments_read_as_one(
    sync_client: nb.Client,
    memory_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(_remote, "SEGMENT_LINES", 3)
    summary = sync_client.batch(prompts(10), out_dir=memory_url, concurrency=1).run()

    segments = [n for n in objects(memory_url) if n.startswith("manifest.")]
    assert len(segments) == 4  # 3 + 3 + 3 + the last line, at the close
    assert summary.manifest is None  # no single file to name
    code, doc = status(memory_url, capsys)
    assert (code, doc["requests"], doc["ok"]) == (0, 10, 10)
    assert doc["manifests"][0]["lines"] == 10


def test_a_segment_is_written_when_its_oldest_line_is_old_enough(
    sync_client: nb.Client, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_remote, "SEGMENT_SECONDS", 0.0)
    sync_client.batch(prompts(3), out_dir=memory_url, concurrency=1).run()
    assert len([n for n in objects(memory_url) if n.startswith("manifest.")]) == 3


def test_an_image_in_object_storage_is_never_overwritten(
    sync_client: nb.Client, memory_url: str
) -> None:
    fs, root = fsspec.core.url_to_fs(memory_url)
    fs.pipe_file(f"{root.rstrip('/')}/000000-a-paper-boat-number-0.png", b"mine")

    items = list(sync_client.batch(prompts(1), out_dir=memory_url))

    assert [p.name for p in items[0].paths] == ["000000-a-paper-boat-number-0-2.png"]
    assert fs.cat_file(f"{root.rstrip('/')}/000000-a-paper-boat-number-0.png") == b"mine"


def test_the_cli_writes_to_a_url_and_status_reads_it(
    sync_server: FakeServer,
    memory_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "boats.txt"
    source.write_text("".join(p + "\n" for p in prompts(5)))
    assert sync_server.api_key is not None
    args = ["batch", str(source), "-o", memory_url, "--json", "--progress", "off"]
    code = main([*args, "--base-url", sync_server.url, "--api-key", sync_server.api_key])

    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    paths = sorted(p for r in records if r["type"] == "item" for p in r["paths"])
    assert paths == [f"{memory_url}{name}" for name in objects(memory_url) if name.endswith("png")]
    assert records[-1]["manifest"] is None
    code, doc = status(memory_url, capsys)
    assert (code, doc["ok"], doc["images"]) == (0, 5, 5)


def test_the_lines_a_run_wrote_are_read_back_by_what_was_there_before(
    sync_client: nb.Client, memory_url: str
) -> None:
    sync_client.batch(prompts(2), out_dir=memory_url).run()
    before = _remote_segments(memory_url)
    sync_client.batch(["a third boat"], out_dir=memory_url).run()

    since = _remote_since(memory_url, before)

    assert [doc["prompt"] for doc in since.values()] == ["a third boat"]


def test_status_of_a_url_that_is_not_there_is_a_usage_error(
    memory_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", memory_url]) == 2
    assert f"{memory_url}: no such folder" in capsys.readouterr().err
    fsspec.filesystem("memory").mkdir(memory_url.removeprefix("memory://"))
    assert main(["status", memory_url]) == 2
    assert "no manifest" in capsys.readouterr().err


# -- fsspec stays optional ------------------------------------------------------------

_WITHOUT_FSSPEC = "import sys; sys.modules['fsspec'] = None\n"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_without_fsspec_a_url_is_refused_with_what_to_install() -> None:
    result = run_python(
        _WITHOUT_FSSPEC
        + "import nanobanana as nb\n"
        + "try:\n"
        + "    nb.Client(api_key='k').batch(['a boat'], out_dir='s3://bucket/run/')\n"
        + "except nb.ValidationError as exc:\n"
        + "    print(exc)\n"
    )
    assert result.stdout == (
        "out_dir: s3://bucket/run/ is object storage, which needs fsspec: "
        "pip install 'nanobanana[s3]'\n"
    )


def test_without_fsspec_the_cli_refuses_a_url_as_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "boats.txt"
    source.write_text("a boat\n")
    result = run_python(
        _WITHOUT_FSSPEC
        + "from nanobanana._cli import main\n"
        + f"sys.exit(main(['batch', {str(source)!r}, '-o', 's3://bucket/run/', '--fake']))\n"
    )
    assert result.returncode == 2
    assert result.stderr == (
        "nanobanana batch: error: -o s3://bucket/run/ is object storage, which needs "
        "fsspec: pip install 'nanobanana[s3]'\n"
    )


def test_an_unknown_storage_is_refused(sync_client: nb.Client) -> None:
    with pytest.raises(nb.ValidationError, match="nosuch:// is not a known storage"):
        sync_client.batch(["a boat"], out_dir="nosuch://bucket/run/")


def test_a_batch_to_a_folder_does_not_import_fsspec(tmp_path: Path) -> None:
    result = run_python(
        "import sys, nanobanana as nb\n"
        "from nanobanana.testing import FakeServer\n"
        "with FakeServer() as s, nb.Client(api_key=s.api_key, base_url=s.url) as c:\n"
        f"    c.batch(['a boat'], out_dir={str(tmp_path)!r}).run()\n"
        "print('fsspec' in sys.modules)\n"
    )
    assert result.stdout == "False\n", result.stderr


# -- when object storage refuses a write --------------------------------------------


def refuse_writes(monkeypatch: pytest.MonkeyPatch, refused: str) -> None:
    """Make fsspec's memory store refuse to write objects whose path contains ``refused``."""
    memory = fsspec.get_filesystem_class("memory")
    real = memory.pipe_file

    def pipe_file(self: Any, path: str, value: bytes, *args: Any, **kwargs: Any) -> None:
        if refused in path:
            raise PermissionError(13, "Access Denied", path)
        real(self, path, value, *args, **kwargs)

    monkeypatch.setattr(memory, "pipe_file", pipe_file)


def test_an_item_whose_second_image_is_refused_leaves_no_image(
    sync_client: nb.Client, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_writes(monkeypatch, "-2.png")
    request = nb.ImageRequest(prompt="a pair of boats", num_images=2)

    with pytest.raises(PermissionError, match="Access Denied"):
        sync_client.batch([request], out_dir=memory_url).run()

    assert [n for n in objects(memory_url) if n.endswith(".png")] == []
    (line,) = [doc for _, doc in _remote.read_remote_manifests(*fsspec.core.url_to_fs(memory_url))]
    assert (line["status"], line["skip_reason"]) == ("skipped", "stopped")


def test_a_refused_manifest_segment_stops_the_batch_with_its_error(
    sync_client: nb.Client, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_remote, "SEGMENT_LINES", 1)
    refuse_writes(monkeypatch, "/manifest.")
    batch = sync_client.batch(prompts(5), out_dir=memory_url, concurrency=1)

    with pytest.raises(PermissionError, match="Access Denied"):
        batch.run()

    assert "Access Denied" in (batch.summary.stop_reason or "")
    assert batch.summary.ok == 1  # the first item; its line could not be written


# -- a storage library's own errors ---------------------------------------------------


@pytest.fixture
def no_credentials(bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``bucket``, reached with no AWS credentials anywhere: botocore raises its own
    ``NoCredentialsError``, which s3fs lets through."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    fsspec.get_filesystem_class("s3").clear_instance_cache()
    return bucket


def test_a_bucket_without_credentials_is_a_usage_error_before_anything_is_sent(
    sync_server: FakeServer, no_credentials: str, tmp_path: Path
) -> None:
    source = tmp_path / "boats.txt"
    source.write_text("".join(p + "\n" for p in prompts(3)))
    assert sync_server.api_key is not None
    args = ["batch", str(source), "-o", no_credentials, "--progress", "off"]
    result = subprocess.run(
        [sys.executable, "-m", "nanobanana", *args, "--base-url", sync_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AIML_API_KEY": sync_server.api_key},
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"nanobanana batch: error: -o {no_credentials}: "
        "NoCredentialsError: Unable to locate credentials\n"
    )
    assert sync_server.generation_requests == []  # stopped before anything was paid for


def test_the_sdk_raises_an_oserror_for_a_bucket_without_credentials(
    sync_client: nb.Client, no_credentials: str
) -> None:
    with pytest.raises(OSError, match="NoCredentialsError") as raised:
        sync_client.batch(prompts(2), out_dir=no_credentials).run()
    assert type(raised.value.__cause__).__name__ == "NoCredentialsError"


def test_a_store_that_fails_mid_batch_stops_it_with_the_reason(
    sync_client: nb.Client, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = fsspec.get_filesystem_class("memory")
    real_pipe = memory.pipe_file

    def pipe_file(self: Any, path: str, value: bytes, **kwargs: Any) -> None:
        if path.endswith("-3.png"):
            raise RuntimeError("the store said no")  # not an OSError
        real_pipe(self, path, value, **kwargs)

    monkeypatch.setattr(memory, "pipe_file", pipe_file)
    batch = sync_client.batch(prompts(6), out_dir=memory_url, concurrency=1)
    with pytest.raises(OSError, match="RuntimeError: the store said no"):
        batch.run()

    summary = batch.summary
    assert summary.stop_reason is not None
    assert "RuntimeError: the store said no" in summary.stop_reason
    assert summary.ok == 3  # 0, 1 and 2: the item whose image was not written is not ok
