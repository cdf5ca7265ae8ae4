"""Contract tests: the SDK against Prism, an independent mock of the vendor's OpenAPI schema.

Prism (``@stoplight/prism-cli``, installed by ``.ci/install-prism`` into ``.ci/node``)
validates every request against ``openapi-gemini-2.5-flash-image.json`` and answers
with data generated from the response schema. These tests check that:

* what the SDK sends passes Prism's request validation (no 422, no violation logged);
* whatever Prism makes up from the response schema (``"string"`` where base64 or a
  URL belongs, ``null``, empty lists, unknown keys) ends in a typed
  :class:`nanobanana.ResponseError`, never a crash or another exception type;
* a request the schema forbids comes back as an :class:`nanobanana.APIStatusError`.

Without Prism the tests are skipped locally, and fail in CI (``CI`` set).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

import nanobanana as nb

pytestmark = pytest.mark.contract

HERE = Path(__file__).resolve().parent
SPEC = HERE / "openapi-gemini-2.5-flash-image.json"
REPO = HERE.parent.parent
DEFAULT_PRISM = REPO / ".ci" / "node" / "node_modules" / ".bin" / "prism"
MODEL = "google/gemini-2.5-flash-image"  # the only model id in the schema's enum
PROMPT = "Racoon eating ice-cream"
START_TIMEOUT = 30.0
LOG_TIMEOUT = 5.0

# Prism's log, one block per request: the validator's verdict, then how it answered.
_PASSED = "The request passed the validation rules"
_FAILED = "Request did not pass the validation rules"
_VIOLATION = re.compile(r"\[VALIDATOR\] .*(error|warning)|Violation:")
_DONE = re.compile(r"> Responding with|Request terminated with error")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_or_fail(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{reason} (CI is set: contract tests must run in CI)", pytrace=False)
    pytest.skip(reason)


def _prism_bin() -> Path | None:
    configured = os.environ.get("PRISM_BIN", "").strip()
    if configured:
        path = Path(configured)
        if not path.is_file():
            pytest.fail(f"PRISM_BIN={configured!r} is not a file", pytrace=False)
        return path
    return DEFAULT_PRISM if DEFAULT_PRISM.is_file() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prism:
    """A running ``prism mock`` and its log (a file, so the pipe can never fill up)."""

    def __init__(self, binary: Path, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("wb") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                [str(binary), "mock", str(SPEC), "--port", str(self.port), "--host", "127.0.0.1"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prism exited with {self.proc.returncode}:\n{self.log()}")
            if "Prism is listening on" in self.log():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"prism did not listen within {START_TIMEOUT:g} s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def mark(self) -> int:
        """Where the log ends now: pass it to :meth:`log_since` after a request."""
        return len(self.log())

    def log_since(self, mark: int, requests: int = 1) -> str:
        """The log of the next ``requests`` requests after ``mark`` (waits for it)."""
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            text = self.log()[mark:]
            if len(_DONE.findall(text)) >= requests:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"prism logged no answer to {requests} request(s):\n{text}")
            time.sleep(0.02)


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    binary = _prism_bin()
    if binary is None:
        _skip_or_fail(
            f"Prism is not installed: run .ci/install-prism (expected {DEFAULT_PRISM}) "
            "or set PRISM_BIN"
        )
    log_dir = tmp_path_factory.mktemp("prism")
    last: Exception | None = None
    for attempt in range(3):  # a free port can be taken between choosing and binding it
        server = Prism(binary, log_dir / f"prism-{attempt}.log")
        try:
            server.wait_listening()
        except RuntimeError as exc:
            server.stop()
            last = exc
            continue
        try:
            yield server
        finally:
            server.stop()
            tail = server.log()[-2000:]
            assert server.proc.returncode is not None, f"prism still running:\n{tail}"
        return
    pytest.fail(f"could not start Prism: {last}", pytrace=False)


def _client(prism: Prism) -> nb.AsyncClient:
    # No retries: every answer Prism gives here is final, and a retry would hide it.
    return nb.AsyncClient(
        api_key="contract-test-key", base_url=prism.url, max_retries=0, timeout=10
    )


def _assert_accepted(log: str) -> None:
    assert _PASSED in log, f"Prism did not accept the request:\n{log}"
    assert _FAILED not in log, log
    assert not _VIOLATION.search(log), f"Prism reported a violation:\n{log}"


# -- (a) what the SDK sends passes the schema's request validation ---------------------

ACCEPTED_CALLS = {
    "defaults": {},
    "num_images=2": {"num_images": 2},
    "aspect_ratio=16:9": {"aspect_ratio": "16:9"},
    "model named explicitly": {"model": MODEL, "num_images": 4, "aspect_ratio": "21:9"},
}


@pytest.mark.parametrize("kwargs", ACCEPTED_CALLS.values(), ids=ACCEPTED_CALLS.keys())
async def test_generate_request_passes_validation(prism: Prism, kwargs: dict[str, Any]) -> None:
    mark = prism.mark()
    async with _client(prism) as client:
        # Prism validates first, then picks the answer: ask for the 200 explicitly. The
        # mock's 200 carries placeholder image data, so the SDK cannot use it: a
        # ResponseError (not an APIStatusError) proves the request was accepted.
        with pytest.raises(nb.ResponseError) as info:
            await client.generate(PROMPT, extra_headers={"Prefer": "code=200"}, **kwargs)
    assert "base64" in info.value.message  # the mock's {"b64_json": "string"}
    log = prism.log_since(mark)
    _assert_accepted(log)
    assert '> Responding with "200"' in log


def test_sync_client_request_passes_validation(prism: Prism) -> None:
    mark = prism.mark()
    with (
        nb.Client(api_key="contract-test-key", base_url=prism.url, max_retries=0) as client,
        pytest.raises(nb.ResponseError),
    ):
        client.generate(PROMPT, num_images=3, extra_headers={"Prefer": "code=200"})
    _assert_accepted(prism.log_since(mark))


# -- (b) whatever the response schema allows ends in a typed ResponseError ----------------


async def test_static_example_is_a_response_error(prism: Prism) -> None:
    # Static mode: {"data": [{"url": "string", "b64_json": "string"}], "meta": {...}}.
    async with _client(prism) as client:
        with pytest.raises(nb.ResponseError, match="base64 data is invalid") as info:
            await client.generate(PROMPT)
    # Both fields are "string": b64_json is preferred, so nothing is downloaded.
    assert not isinstance(info.value, nb.ImageDownloadError)
    assert b'"b64_json":"string"' in info.value.body.replace(b" ", b"")  # kept for diagnosis


@pytest.mark.parametrize("seed", range(30))
async def test_dynamic_answer_is_a_response_error(prism: Prism, seed: int) -> None:
    # Dynamic mode, seeded so a failure replays: null or empty "data", entries with
    # neither field, lorem-ipsum "URLs" and "base64", unknown keys, negative usage.
    mark = prism.mark()
    prefer = f"code=200, dynamic=true, seed=contract-{seed}"
    async with _client(prism) as client:
        try:
            await client.generate(PROMPT, extra_headers={"Prefer": prefer})
        except nb.ResponseError:
            pass  # ImageDownloadError included: it is a ResponseError
        except Exception as exc:  # pragma: no cover - the failure being tested for
            pytest.fail(f"seed {seed}: {type(exc).__name__}: {exc}", pytrace=False)
        else:  # pragma: no cover
            pytest.fail(f"seed {seed}: generated placeholder data was taken for an image")
    _assert_accepted(prism.log_since(mark))


# -- (c) a request the schema forbids comes back as an APIStatusError ---------------------


@pytest.mark.parametrize("model", ["google/nano-banana-pro", "vendor/model-from-the-future"])
async def test_model_outside_the_enum_is_rejected(prism: Prism, model: str) -> None:
    mark = prism.mark()
    async with _client(prism) as client:
        # Prefer: code=200 does not override validation: an invalid request gets 422.
        with pytest.raises(nb.APIStatusError) as info:
            await client.generate(PROMPT, model=model, extra_headers={"Prefer": "code=200"})
    exc = info.value
    assert type(exc) is nb.UnprocessableEntityError
    assert exc.status == 422
    assert b"must be equal to one of the allowed values" in exc.body
    assert "not valid" in exc.message  # the problem+json "detail"...
    assert "body.model: " in exc.message  # ...and what was wrong, and where
    assert "must be equal to one of the allowed values" in exc.message
    assert b'"location":["body","model"]' in exc.body
    assert _FAILED in prism.log_since(mark)
