"""What the user sees when something is wrong: on their side, the API's, or the wire's."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _raw_api import ENDPOINT, b64, png, serve
from aiohttp import web

import nanobanana as nb
from nanobanana.testing import MALFORMED_KINDS, FakeServer


@pytest.fixture
async def once(server: FakeServer) -> AsyncIterator[nb.AsyncClient]:
    """A client that does not retry, so one error status is what the user sees."""
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.disabled()
    ) as c:
        yield c


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- validation, before any I/O --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "allowed"),
    [
        ({"prompt": ""}, "prompt", "blank"),
        ({"prompt": "   \n"}, "prompt", "blank"),
        ({"num_images": 0}, "num_images", "1 to 4"),
        ({"num_images": 5}, "num_images", "1 to 4"),
        ({"num_images": 2.0}, "num_images", "1 to 4"),
        ({"num_images": True}, "num_images", "1 to 4"),
        ({"num_images": "2"}, "num_images", "1 to 4"),
        ({"aspect_ratio": "7:3"}, "aspect_ratio", "21:9, 1:1, 4:3, 3:2, 2:3, 5:4, 4:5, 3:4, 16:9"),
        ({"aspect_ratio": "16x9"}, "aspect_ratio", "16:9, 9:16"),
        ({"resolution": "8K"}, "resolution", "1K, 2K, 4K"),
        ({"resolution": "1k"}, "resolution", "1K, 2K, 4K"),
        ({"extra_body": {"prompt": "sneaky"}}, "extra_body", "prompt"),
    ],
)
async def test_invalid_argument_is_refused_before_anything_is_sent(
    client: nb.AsyncClient, server: FakeServer, kwargs: dict[str, Any], field: str, allowed: str
) -> None:
    args = {"prompt": "a red kite", "model": nb.Model.NANO_BANANA_PRO, **kwargs}

    with pytest.raises(nb.ValidationError) as info:
        await client.generate(**args)

    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert allowed in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": None}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"model": ""}, "model"),
        ({"model": 3}, "model"),
        ({"extra_body": ["seed", 1]}, "extra_body"),
        ({"extra_body": {1: "a"}}, "extra_body"),
        ({"timeout": "soon"}, "timeout"),
        ({"client_request_id": 7}, "client_request_id"),
    ],
)
async def test_arguments_of_the_wrong_type_are_refused_before_sending(
    client: nb.AsyncClient, server: FakeServer, kwargs: dict[str, Any], field: str
) -> None:
    args = {"prompt": "a red kite", **kwargs}

    with pytest.raises(nb.ValidationError) as info:
        await client.generate(**args)

    assert info.value.field == field
    assert server.requests == []


async def test_a_request_that_is_not_an_image_request_is_refused(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    with pytest.raises(nb.ValidationError, match="ImageRequest"):
        await client.send({"prompt": "a red kite"})  # type: ignore[arg-type]

    assert server.requests == []


@pytest.mark.parametrize("images", [5, [None], [png(), 3.5], ""])
async def test_images_that_are_not_paths_bytes_or_urls_are_refused(
    client: nb.AsyncClient, server: FakeServer, images: Any
) -> None:
    with pytest.raises(nb.ValidationError, match="images"):
        await client.edit("make it night", images=images)

    assert server.requests == []


async def test_edit_without_images_is_refused(client: nb.AsyncClient, server: FakeServer) -> None:
    with pytest.raises(nb.ValidationError, match="images") as info:
        await client.edit("make it night", images=[])

    assert isinstance(info.value, ValueError)
    assert server.requests == []


async def test_edit_of_a_missing_file_is_refused(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.png"

    with pytest.raises(nb.ValidationError, match="no such file") as info:
        await client.edit("make it night", images=[png(), missing])

    assert info.value.field == "images[1]"
    assert str(missing) in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("content", [b"just some text\n", b"", b"%PDF-1.7 not a picture"])
async def test_edit_of_a_file_that_is_not_an_image_is_refused(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path, content: bytes
) -> None:
    notes = tmp_path / "notes.png"
    notes.write_bytes(content)

    with pytest.raises(nb.ValidationError, match="PNG, JPEG, WEBP or GIF") as info:
        await client.edit("make it night", images=[notes])

    assert info.value.field == "images[0]"
    assert isinstance(info.value, ValueError)
    assert server.requests == []


@pytest.mark.parametrize(
    "bad",
    [b"not an image", "data:text/plain;base64,aGk=", 42, b""],
)
async def test_edit_of_input_that_is_not_an_image_is_refused(
    client: nb.AsyncClient, server: FakeServer, bad: Any
) -> None:
    with pytest.raises(nb.ValidationError, match=r"images\[0\]"):
        await client.edit("make it night", images=[bad])

    assert server.requests == []


async def test_edit_of_a_directory_is_refused(
    client: nb.AsyncClient, server: FakeServer, tmp_path: Path
) -> None:
    with pytest.raises(nb.ValidationError, match="directory"):
        await client.edit("make it night", images=[tmp_path])

    assert server.requests == []


# -- HTTP statuses -----------------------------------------------------------------------

STATUS_CLASSES = [
    (400, nb.BadRequestError, "Body validation error!"),
    (401, nb.AuthenticationError, "A valid API key is required"),
    (403, nb.OutOfCreditsError, "You have run out of credits"),
    (404, nb.NotFoundError, "Not Found"),
    (408, nb.RequestTimeoutError, "Request Timeout"),
    (409, nb.ConflictError, "Conflict"),
    (413, nb.PayloadTooLargeError, "Payload Too Large"),
    (422, nb.UnprocessableEntityError, "Unprocessable"),
    (429, nb.RateLimitError, "Too Many Requests"),
    (500, nb.ServerError, "Internal server error"),
    (502, nb.ServerError, "Bad Gateway"),
    (503, nb.ServerError, "Service Unavailable"),
    (504, nb.ServerError, "Gateway Timeout"),
]


@pytest.mark.parametrize(("status", "cls", "message"), STATUS_CLASSES)
async def test_each_error_status_raises_its_own_class(
    once: nb.AsyncClient, server: FakeServer, status: int, cls: type, message: str
) -> None:
    server.fail_next(status=status)

    with pytest.raises(nb.APIStatusError) as info:
        await once.generate("a red kite")

    error = info.value
    assert type(error) is cls
    assert error.status == status
    assert error.message.startswith(message)
    vendor_body = json.loads(error.body)
    assert error.request_id == vendor_body["requestId"]  # the x-inference-id header
    assert error.request_id
    assert str(error) == f"HTTP {status}: {error.message} (request id {error.request_id})"


async def test_an_undocumented_status_is_a_plain_status_error(
    once: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(status=418)

    with pytest.raises(nb.APIStatusError) as info:
        await once.generate("a red kite")

    assert type(info.value) is nb.APIStatusError
    assert info.value.status == 418
    assert info.value.status_code == 418


@pytest.mark.parametrize(("status", "cls", "message"), STATUS_CLASSES)
async def test_status_code_is_the_status_of_the_error_received(
    once: nb.AsyncClient, server: FakeServer, status: int, cls: type, message: str
) -> None:
    # Code written for openai-python reads ``exc.status_code``.
    server.fail_next(status=status)

    with pytest.raises(nb.APIStatusError) as info:
        await once.generate("a red kite")

    assert info.value.status_code == info.value.status == status


def test_status_code_on_a_class_is_the_status_it_stands_for() -> None:
    assert nb.RateLimitError.status_code == 429
    assert nb.BadRequestError.status_code == 400
    assert nb.ServerError.status_code is None  # a range: 500 and up
    assert nb.APIStatusError.status_code is None
    assert nb.ServerError("Bad Gateway", status=502).status_code == 502


async def test_a_wrong_key_is_an_authentication_error(server: FakeServer) -> None:
    async with nb.AsyncClient(api_key="wrong", base_url=server.url) as client:
        with pytest.raises(nb.AuthenticationError):
            await client.generate("a red kite")

    assert len(server.generation_requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message": "Body validation error! Invalid enum value"}, "Body validation error!"),
        ({"error": {"message": "quota exceeded", "code": 7}}, "quota exceeded"),
        ({"error": "model overloaded"}, "model overloaded"),
        ({"detail": ["field a", "field b"]}, "field a; field b"),
        (
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "502 Bad Gateway",
        ),
        ("<html><body><h1>Gateway   down</h1></body></html>", "Gateway down"),
        ("upstream connect error", "upstream connect error"),
        (b"", "Bad Gateway"),  # empty body: the reason phrase
        ("<html><body>  </body></html>", "Bad Gateway"),
        ({"unexpected": True}, "Bad Gateway"),
        ("[1, 2]", "Bad Gateway"),
        ('"upstream overloaded"', "upstream overloaded"),
    ],
)
async def test_error_message_is_extracted_from_any_body(
    once: nb.AsyncClient, server: FakeServer, body: Any, message: str
) -> None:
    server.fail_next(status=502, body=body)

    with pytest.raises(nb.ServerError) as info:
        await once.generate("a red kite")

    assert info.value.message.startswith(message)
    expected_raw = json.dumps(body).encode() if isinstance(body, dict) else body
    if isinstance(expected_raw, str):
        expected_raw = expected_raw.encode()
    assert info.value.body == expected_raw


async def test_a_gateway_html_page_on_5xx_is_a_server_error() -> None:
    async def gateway(request: web.Request) -> web.Response:
        html = "<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title>"
        return web.Response(
            status=503, text=html + "</head><body></body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_post(ENDPOINT, gateway)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url, max_retries=0) as c:
        with pytest.raises(nb.ServerError) as info:
            await c.generate("a red kite")

    assert info.value.status == 503
    assert info.value.message == "503 Service Temporarily Unavailable"
    assert info.value.request_id is None


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"error": ' * 5_000 + b'"deep"' + b"}" * 5_000],
    ids=["array", "error-objects"],
)
async def test_an_error_body_nested_past_the_recursion_limit_is_still_a_status_error(
    body: bytes,
) -> None:
    async def gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post(ENDPOINT, gateway)
    async with serve(app) as url, nb.AsyncClient(api_key="k", base_url=url, max_retries=0) as c:
        with pytest.raises(nb.ServerError) as info:
            await c.generate("a red kite")

    assert info.value.status == 502
    assert info.value.message
    assert info.value.body == body[:65_536]


async def test_status_error_keeps_the_headers_and_retry_after(
    once: nb.AsyncClient, server: FakeServer
) -> None:
    server.fail_next(status=429, retry_after=7, headers={"X-Extra": "yes"})

    with pytest.raises(nb.RateLimitError) as info:
        await once.generate("a red kite")

    assert info.value.retry_after == 7
    assert info.value.headers["x-extra"] == "yes"
    assert "RateLimitError(status=429" in repr(info.value)


# -- connection failures ------------------------------------------------------------------


async def test_a_closed_port_is_a_connection_error() -> None:
    async with nb.AsyncClient(api_key="k", base_url=closed_port_url(), max_retries=0) as client:
        with pytest.raises(nb.APIConnectionError) as info:
            await client.generate("a red kite")

    assert not isinstance(info.value, nb.APITimeoutError)


@pytest.mark.parametrize("reset", [False, True])
async def test_a_dropped_connection_is_a_connection_error(
    once: nb.AsyncClient, server: FakeServer, reset: bool
) -> None:
    server.drop_next(reset=reset)

    with pytest.raises(nb.APIConnectionError) as info:
        await once.generate("a red kite", client_request_id="job-1")

    assert not isinstance(info.value, nb.APITimeoutError)
    assert info.value.client_request_id == "job-1"


async def test_a_hung_request_is_a_timeout_error(once: nb.AsyncClient, server: FakeServer) -> None:
    server.hang_next()

    with pytest.raises(nb.APITimeoutError) as info:
        await once.generate("a red kite", timeout=0.2)

    assert isinstance(info.value, nb.APIConnectionError)
    assert "0.2" in str(info.value)


# -- success responses the SDK cannot use --------------------------------------------------


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
async def test_a_malformed_success_response_is_a_response_error(
    once: nb.AsyncClient, server: FakeServer, kind: str
) -> None:
    server.malformed_next(kind=kind)

    with pytest.raises(nb.ResponseError) as info:
        await once.generate("a red kite")

    assert info.value.request_id  # the x-inference-id of the bad response


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"b64_json": b64(b"plain text, not a picture")}]},
        {"data": [{"b64_json": "data:image/png;base64"}]},
        {"data": [{"b64_json": "data:image/png;base64,"}]},
        {"data": [{"b64_json": "caf\u00e9"}]},
        {"data": [{"url": None, "b64_json": None}]},
        {"data": [None]},
        {"data": {"b64_json": "x"}},
        {"images": []},
        [],
        "just a string",
    ],
)
async def test_a_success_response_without_a_usable_image_is_a_response_error(
    once: nb.AsyncClient, server: FakeServer, body: Any
) -> None:
    server.fail_next(status=200, body=json.dumps(body), content_type="application/json")

    with pytest.raises(nb.ResponseError):
        await once.generate("a red kite")


async def test_a_data_url_image_in_the_response_is_decoded(
    once: nb.AsyncClient, server: FakeServer
) -> None:
    picture = png("kite")
    body = {"data": [{"b64_json": f"data:image/png;base64,{b64(picture)}"}]}
    server.fail_next(status=200, body=body)

    result = await once.generate("a red kite")

    assert result.image.data == picture


async def test_a_response_bigger_than_max_response_bytes_is_a_response_error(
    server: FakeServer,
) -> None:
    server.image_bytes = 100_000
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, max_response_bytes=10_000
    ) as client:
        with pytest.raises(nb.ResponseError, match="10000"):
            await client.generate("a red kite")


# -- the key stays secret -----------------------------------------------------------------

SECRET = "sk-TOPSECRET-0123456789abcdef"


async def test_the_api_key_never_shows_in_reprs_errors_or_logs(
    server: FakeServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("nanobanana"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="nanobanana")
    server.api_key = SECRET
    errors: list[BaseException] = []
    async with nb.AsyncClient(
        api_key=SECRET, base_url=server.url, retry=nb.RetryPolicy.no_wait(max_retries=1)
    ) as client:
        server.fail_next(status=503)
        await client.generate("a red kite")  # retried after the 503
        server.drop_next()
        server.fail_next(status=401)
        for call in (
            lambda: client.generate("a red kite"),  # dropped, then 401
            lambda: client.generate(" "),
            lambda: client.generate("a red kite", client_request_id="bad id"),
        ):
            try:
                await call()
            except nb.NanoBananaError as exc:
                errors.append(exc)
        texts = [repr(client), str(client), repr(nb.Client(api_key=SECRET))]
    async with nb.AsyncClient(api_key=SECRET, base_url=closed_port_url(), max_retries=0) as c:
        try:
            await c.generate("a red kite")
        except nb.NanoBananaError as exc:
            errors.append(exc)

    assert [type(e) for e in errors] == [
        nb.AuthenticationError,
        nb.ValidationError,
        nb.ValidationError,
        nb.APIConnectionError,
    ]
    assert len(server.generation_requests) == 4  # the key was really sent
    texts += [repr(e) for e in errors] + [str(e) for e in errors]
    texts += [str(getattr(e, "body", "")) + str(getattr(e, "headers", "")) for e in errors]
    texts.append(caplog.text)
    texts += [repr(vars(record)) for record in caplog.records]
    assert caplog.records  # the retry was logged
    assert not [t for t in texts if SECRET in t]
