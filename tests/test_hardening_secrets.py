"""The API key shows up nowhere, in every error path: logs, exceptions, manifests, the CLI.

``test_errors.py`` checks the reprs and a few paths; this file walks every failure the
SDK can meet (each error status with a body, dropped and reset connections, a closed
port, a timeout, every malformed body, failed downloads, validation errors, a proxy
that refuses) with every logger at DEBUG, and searches everything a user could see:
each log record (message, arguments, every attribute), each exception with its
``args``, ``__notes__``, attributes and the exceptions chained to it, the batch
manifest, and the CLI's ``--json -v`` output.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import nanobanana as nb
from nanobanana.testing import MALFORMED_KINDS, FakeServer

SECRET = "sk-NANOBANANA-SECRET-123"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the exceptions chained to it (cause and context) and those it groups."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        if isinstance(e, BaseExceptionGroup):
            todo += list(e.exceptions)


def exception_texts(exc: BaseException) -> list[str]:
    texts = []
    for e in exception_chain(exc):
        texts += [str(e), repr(e), repr(e.args), repr(getattr(e, "__notes__", None))]
        texts += [repr(value) for value in vars(e).values()]
    return texts


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in records:
        texts += [record.getMessage(), repr(record.args), formatter.format(record)]
        texts += [f"{name}={value!r}" for name, value in vars(record).items()]
    return texts


@pytest.fixture
def debug_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG (aiohttp's too), all records captured."""
    monkeypatch.setattr(logging.getLogger("nanobanana"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="nanobanana")
    for name in ("aiohttp", "aiohttp.client", "aiohttp.access", "aiohttp.server", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


Call = Callable[[nb.AsyncClient], Awaitable[object]]


def _gen(**kwargs: Any) -> Call:
    async def call(client: nb.AsyncClient) -> object:
        return await client.generate("a red kite", **kwargs)

    return call


async def test_no_error_path_reveals_the_key(
    server: FakeServer,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server.api_key = SECRET
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    # (arrange the server, the call, the error class expected)
    cases: list[tuple[Callable[[], None], Call, type[BaseException]]] = []
    for status, cls in [
        (400, nb.BadRequestError),
        (401, nb.AuthenticationError),
        (403, nb.OutOfCreditsError),
        (429, nb.RateLimitError),
        (500, nb.ServerError),
    ]:
        # A rate limit is waited out, not failed, unless retries are off.
        call = _gen(retry=nb.RetryPolicy.disabled()) if status == 429 else _gen()
        cases.append((lambda s=status: server.fail_next(2, status=s, retry_after=0), call, cls))
        cases.append(
            (
                lambda s=status: server.fail_next(
                    2, status=s, body={"error": {"message": "custom", "code": s}}
                ),
                call,
                cls,
            )
        )
        cases.append(
            (
                lambda s=status: server.fail_next(2, status=s, body="<html>gateway</html>"),
                call,
                cls,
            )
        )
    cases.append((lambda: server.drop_next(2), _gen(), nb.APIConnectionError))
    cases.append((lambda: server.drop_next(2, reset=True), _gen(), nb.APIConnectionError))
    cases.append((lambda: server.hang_next(2), _gen(timeout=0.2), nb.APITimeoutError))
    for kind in MALFORMED_KINDS:
        cases.append((lambda k=kind: server.malformed_next(2, kind=k), _gen(), nb.ResponseError))
    cases.append((lambda: None, _gen(client_request_id="bad id"), nb.ValidationError))
    cases.append((lambda: None, _gen(num_images=9), nb.ValidationError))

    async def edit_missing(client: nb.AsyncClient) -> object:
        return await client.edit("make it night", images=[tmp_path / "missing.png"])

    async def edit_text(client: nb.AsyncClient) -> object:
        return await client.edit("make it night", images=[not_an_image])

    cases.append((lambda: None, edit_missing, nb.ValidationError))
    cases.append((lambda: None, edit_text, nb.ValidationError))

    def url_shape_failing_downloads() -> None:
        server.shape = "images_url"
        server.fail_downloads_next(4, status=500)

    cases.append((url_shape_failing_downloads, _gen(), nb.ImageDownloadError))

    errors: list[BaseException] = []
    async with nb.AsyncClient(
        api_key=SECRET, base_url=server.url, retry=nb.RetryPolicy.no_wait(max_retries=1)
    ) as client:
        for arrange, call, cls in cases:
            server.reset()
            server.shape = "data_b64"
            arrange()
            with pytest.raises(cls) as info:
                await call(client)
            errors.append(info.value)
        texts = [repr(client), str(client)]

    # A closed port, and a proxy (from the environment) that refuses the connection.
    async with nb.AsyncClient(api_key=SECRET, base_url=closed_port_url(), max_retries=1) as c:
        with pytest.raises(nb.APIConnectionError) as info:
            await c.generate("a red kite")
        errors.append(info.value)
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    monkeypatch.setenv("http_proxy", os.environ["HTTP_PROXY"])
    async with nb.AsyncClient(
        api_key=SECRET, base_url=server.url, retry=nb.RetryPolicy.no_wait(max_retries=1)
    ) as c:
        server.reset()
        with pytest.raises(nb.APIConnectionError) as info:
            await c.generate("a red kite")
        errors.append(info.value)
        assert server.requests == []  # it really went to the proxy

    assert len(errors) == len(cases) + 2
    # The chains were walked: aiohttp's own errors hang below ours as __context__.
    assert any(len(list(exception_chain(e))) > 1 for e in errors)
    for exc in errors:
        texts += exception_texts(exc)
    texts += record_texts(debug_logs.records)
    texts.append(debug_logs.text)
    assert any("retrying" in r.getMessage() for r in debug_logs.records)  # logs were on
    leaks = [t for t in texts if SECRET in t]
    assert leaks == []


async def test_no_manifest_line_or_batch_item_reveals_the_key(
    server: FakeServer, debug_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    server.api_key = SECRET
    server.fail_next(2, status=500, body={"message": "boom"})
    server.drop_next(2)
    server.fail_next(2, status=429, retry_after=0)
    server.malformed_next(2, kind="bad_json")
    server.fail_next(1, status=400)
    items = []
    async with nb.AsyncClient(
        api_key=SECRET, base_url=server.url, retry=nb.RetryPolicy.no_wait(max_retries=1)
    ) as client:
        batch = client.batch(
            [f"prompt {i}" for i in range(8)],
            concurrency=1,
            ordered=True,
            out_dir=tmp_path,
            adaptive=False,
        )
        async for item in batch:
            items.append(item)
        summary = batch.summary
    # A rejected key stops the batch with the AuthenticationError itself.
    server.api_key = "another-key"
    async with nb.AsyncClient(api_key=SECRET, base_url=server.url) as client:
        with pytest.raises(nb.AuthenticationError) as info:
            async for _ in client.batch(["x", "y"], out_dir=tmp_path / "b"):
                pass

    assert [i.ok for i in items].count(False) >= 4
    texts = [(tmp_path / "manifest.jsonl").read_text(), repr(summary)]
    texts += exception_texts(info.value)
    texts += [p.read_text() for p in (tmp_path / "b").glob("*.jsonl")]
    for item in items:
        texts.append(repr(item))
        if item.error is not None:
            texts += exception_texts(item.error)
    texts += record_texts(debug_logs.records)
    assert [t for t in texts if SECRET in t] == []


# -- the command line --------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and not k.startswith("AIML")
    }
    environ.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "nanobanana", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=environ,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr  # every case here fails
    return proc.stdout + proc.stderr


def test_the_cli_never_prints_the_key(sync_server: FakeServer, tmp_path: Path) -> None:
    sync_server.api_key = SECRET
    common = ["--api-key", SECRET, "-v", "--json", "--max-retries", "1"]
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("a red kite\na blue boat\na green hill\n")
    outputs = []

    url = ["--base-url", sync_server.url]
    cases: list[tuple[Callable[[], None], list[str], dict[str, str] | None]] = [
        (lambda: sync_server.fail_next(2, status=401, body={"message": "bad key"}), url, None),
        (lambda: sync_server.fail_next(2, status=500), url, None),
        (lambda: sync_server.drop_next(2), url, None),
        (lambda: sync_server.malformed_next(2, kind="truncated"), url, None),
        (lambda: sync_server.hang_next(2), [*url, "--timeout", "0.3"], None),
        (lambda: None, ["--base-url", closed_port_url()], None),
        (lambda: None, url, {"HTTP_PROXY": closed_port_url()}),
    ]
    for arrange, extra, env in cases:
        sync_server.reset()
        arrange()
        outputs.append(run_cli("generate", "a red kite", *extra, *common, env=env))
    outputs.append(run_cli("generate", " ", *url, *common))  # a validation error
    sync_server.reset()
    sync_server.fail_next(2, status=429, retry_after=0)  # waited out
    sync_server.fail_next(6, status=500)  # every attempt of every item
    out_dir = tmp_path / "out"
    outputs.append(run_cli("batch", str(prompts_file), "-o", str(out_dir), *url, *common))

    assert any('"type": "summary"' in o or '"type":"summary"' in o for o in outputs)
    assert any("retrying" in o for o in outputs)  # -v really logged
    manifest = (out_dir / "manifest.jsonl").read_text()
    assert json.loads(manifest.splitlines()[0])["index"] in (0, 1, 2)
    assert [o for o in [*outputs, manifest] if SECRET in o] == []


async def test_a_server_that_echoes_the_key_does_not_get_it_into_errors(
    server: FakeServer,
) -> None:
    server.api_key = SECRET
    async with nb.AsyncClient(api_key=SECRET, base_url=server.url, max_retries=0) as client:
        server.fail_next(status=400, body={"message": f"bad request from key {SECRET}"})
        with pytest.raises(nb.BadRequestError) as bad:
            await client.generate("a red kite")
        server.fail_next(status=200, body={"data": [], "echo": SECRET})
        with pytest.raises(nb.ResponseError) as malformed:
            await client.generate("a red kite")
    for exc in (bad.value, malformed.value):
        assert SECRET not in str(exc)
        assert SECRET not in repr(exc)
        assert SECRET.encode() not in exc.body
    assert b"**********" in bad.value.body
