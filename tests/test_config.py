"""Client settings: key, base URL, timeouts, pool size, headers, request ids."""

from __future__ import annotations

import socket
import time

import anyio
import pytest

import nanobanana as nb
from nanobanana.testing import FakeServer

NO_WAIT = nb.RetryPolicy.no_wait()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def bearer(server: FakeServer) -> str:
    return server.generation_requests[-1].headers["Authorization"]


async def test_api_key_argument_wins_over_both_environment_variables(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.api_key = None  # accept any key; look at which one arrives
    monkeypatch.setenv("AIML_API_KEY", "from-aiml-api-key")
    monkeypatch.setenv("AIMLAPI_API_KEY", "from-aimlapi-api-key")
    async with nb.AsyncClient(api_key="from-argument", base_url=server.url) as client:
        await client.generate("a red kite")

    assert bearer(server) == "Bearer from-argument"


async def test_aiml_api_key_wins_over_aimlapi_api_key(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.api_key = None
    monkeypatch.setenv("AIML_API_KEY", "from-aiml-api-key")
    monkeypatch.setenv("AIMLAPI_API_KEY", "from-aimlapi-api-key")
    async with nb.AsyncClient(base_url=server.url) as client:
        await client.generate("a red kite")

    assert bearer(server) == "Bearer from-aiml-api-key"


async def test_aimlapi_api_key_is_used_when_it_is_the_only_one(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.api_key = None
    monkeypatch.setenv("AIMLAPI_API_KEY", "from-aimlapi-api-key")
    async with nb.AsyncClient(base_url=server.url) as client:
        await client.generate("a red kite")

    assert bearer(server) == "Bearer from-aimlapi-api-key"


async def test_missing_key_is_reported_by_the_first_request_naming_the_variables(
    server: FakeServer,
) -> None:
    client = nb.AsyncClient(base_url=server.url)  # constructing it is fine

    async with client:
        with pytest.raises(nb.ConfigurationError) as info:
            await client.generate("a red kite")

    assert "AIML_API_KEY" in str(info.value)
    assert "AIMLAPI_API_KEY" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "//"])
async def test_base_url_may_end_with_v1_or_a_slash(server: FakeServer, suffix: str) -> None:
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url + suffix) as client:
        await client.generate("a red kite")

    assert client.base_url == server.url
    assert server.generation_requests[0].path == "/v1/images/generations"
    assert server.generation_requests[0].outcome == "ok"


async def test_base_url_comes_from_aiml_api_base(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIML_API_BASE", server.url + "/v1")
    async with nb.AsyncClient(api_key=server.api_key) as client:
        await client.generate("a red kite")

    assert len(server.generation_requests) == 1


async def test_base_url_argument_wins_over_aiml_api_base(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIML_API_BASE", closed_port_url())
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url) as client:
        await client.generate("a red kite")

    assert len(server.generation_requests) == 1


def test_base_url_defaults_to_the_aiml_api() -> None:
    assert nb.AsyncClient(api_key="k").base_url == "https://api.aimlapi.com"


@pytest.mark.parametrize("url", ["api.aimlapi.com", "ftp://api.aimlapi.com", "  "])
def test_base_url_that_is_not_http_is_a_configuration_error(url: str) -> None:
    with pytest.raises(nb.ConfigurationError, match="base_url"):
        nb.AsyncClient(api_key="k", base_url=url)


async def test_the_scheme_of_the_base_url_may_be_in_capitals(server: FakeServer) -> None:
    url = server.url.replace("http://", "HTTP://")
    async with nb.AsyncClient(api_key=server.api_key, base_url=f"{url}/v1/") as client:
        result = await client.generate("a red kite")

    assert client.base_url == url
    assert result.image.mime_type == "image/png"


async def test_client_timeout_ends_a_hung_request(server: FakeServer) -> None:
    server.hang_next()
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, timeout=0.3, max_retries=0
    ) as client:
        started = time.monotonic()
        with pytest.raises(nb.APITimeoutError):
            await client.generate("a red kite")
        elapsed = time.monotonic() - started

    assert 0.25 <= elapsed < 0.3 + 0.5


async def test_call_timeout_overrides_the_clients(server: FakeServer) -> None:
    server.hang_next()
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, timeout=60, max_retries=0
    ) as client:
        started = time.monotonic()
        with pytest.raises(nb.APITimeoutError):
            await client.generate("a red kite", timeout=nb.Timeout(total=0.3))
        elapsed = time.monotonic() - started

    assert elapsed < 0.3 + 0.5


async def test_call_timeout_may_lengthen_the_clients(server: FakeServer) -> None:
    server.slow_next(seconds=0.4)
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, timeout=0.2, max_retries=0
    ) as client:
        result = await client.generate("a red kite", timeout=5)

    assert result.image.mime_type == "image/png"


async def test_the_clients_timeout_applies_again_after_a_call_with_its_own(
    server: FakeServer,
) -> None:
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, timeout=0.2, max_retries=0
    ) as client:
        server.slow_next(seconds=0.4)
        await client.generate("a red kite", timeout=5)
        server.slow_next(seconds=0.4)
        with pytest.raises(nb.APITimeoutError):
            await client.generate("a blue boat")


async def test_max_connections_caps_the_connections_opened(server: FakeServer) -> None:
    server.latency = 0.1

    async def four_at_once(client: nb.AsyncClient) -> None:
        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(client.generate, f"kite {i}")

    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, max_connections=1
    ) as client:
        await four_at_once(client)
    capped = server.distinct_connections()
    server.reset()
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, max_connections=4
    ) as client:
        await four_at_once(client)

    assert capped == 1
    assert server.distinct_connections() == 4


async def test_default_and_extra_headers_reach_the_server(server: FakeServer) -> None:
    async with nb.AsyncClient(
        api_key=server.api_key,
        base_url=server.url,
        default_headers={"X-Team": "pictures", "X-Env": "test"},
    ) as client:
        await client.generate("a red kite", extra_headers={"X-Env": "override", "X-Call": "1"})
        await client.generate("a blue boat")

    first, second = (r.headers for r in server.generation_requests)
    assert (first["X-Team"], first["X-Env"], first["X-Call"]) == ("pictures", "override", "1")
    assert (second["X-Team"], second["X-Env"]) == ("pictures", "test")
    assert "X-Call" not in second


async def test_client_request_id_is_sent(client: nb.AsyncClient, server: FakeServer) -> None:
    await client.generate("a red kite", client_request_id="job-42.a:b_c")

    assert server.generation_requests[0].headers["X-Client-Request-Id"] == "job-42.a:b_c"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "caf\u00e9", "a/b"])
async def test_invalid_client_request_id_is_refused_before_sending(
    client: nb.AsyncClient, server: FakeServer, bad: str
) -> None:
    with pytest.raises(nb.ValidationError, match="client_request_id"):
        await client.generate("a red kite", client_request_id=bad)

    assert server.requests == []


async def test_user_agent_names_the_sdk_and_its_version(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate("a red kite")

    assert f"nanobanana/{nb.__version__}" in server.generation_requests[0].headers["User-Agent"]


async def test_requests_carry_the_bearer_key_and_json(
    client: nb.AsyncClient, server: FakeServer
) -> None:
    await client.generate("a red kite")

    headers = server.generation_requests[0].headers
    assert headers["Authorization"] == "Bearer test-key"
    assert headers["Content-Type"] == "application/json"


def test_client_exposes_its_settings() -> None:
    policy = nb.RetryPolicy(max_retries=7)
    client = nb.AsyncClient(
        api_key="k", base_url="http://h:1/v1", model=nb.Model.NANO_BANANA_PRO, retry=policy
    )

    assert (client.base_url, client.model, client.retry) == (
        "http://h:1",
        "google/nano-banana-pro",
        policy,
    )
    assert nb.AsyncClient(api_key="k", retry=policy, max_retries=1).retry.max_retries == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": "  "},
        {"api_key": "k", "model": ""},
    ],
)
def test_invalid_client_settings_are_configuration_errors(kwargs: dict[str, str]) -> None:
    with pytest.raises(nb.ConfigurationError):
        nb.AsyncClient(**kwargs)  # type: ignore[arg-type]


def test_invalid_timeout_or_pool_size_is_refused() -> None:
    with pytest.raises(nb.ConfigurationError, match="max_connections"):
        nb.AsyncClient(api_key="k", max_connections=0)
    with pytest.raises(nb.ConfigurationError, match="timeout"):
        nb.AsyncClient(api_key="k", timeout="soon")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total": 0}, "total must be a number > 0 or None, got 0"),
        ({"total": -5}, "total must be a number > 0 or None, got -5"),
        ({"total": "x"}, "total must be a number > 0 or None, got 'x'"),
        ({"total": "60"}, "total must be a number > 0 or None, got '60'"),
        ({"total": True}, "total must be a number > 0 or None, got True"),
        ({"total": float("nan")}, "total must be a number > 0 or None, got nan"),
        ({"total": float("inf")}, "total must be a number > 0 or None, got inf"),
        ({"connect": 0}, "connect must be a number > 0 or None, got 0"),
        ({"connect": "10"}, "connect must be a number > 0 or None, got '10'"),
        ({"total": 60, "connect": [1]}, "connect must be a number > 0 or None, got [1]"),
    ],
)
def test_a_bad_timeout_is_a_configuration_error_naming_the_limit(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(nb.ConfigurationError) as info:
        nb.Timeout(**kwargs)  # type: ignore[arg-type]

    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "limits"),
    [
        ({}, (300.0, 10.0)),
        ({"total": 60}, (60.0, 10.0)),
        ({"total": 0.5, "connect": 2}, (0.5, 2.0)),
        ({"total": None, "connect": None}, (None, None)),
    ],
)
def test_timeout_limits_are_seconds_or_none(
    kwargs: dict[str, float | None], limits: tuple[float | None, float | None]
) -> None:
    timeout = nb.Timeout(**kwargs)  # type: ignore[arg-type]

    assert (timeout.total, timeout.connect) == limits


async def test_no_timeout_means_no_limit(server: FakeServer) -> None:
    server.slow_next(seconds=0.2)
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, timeout=None) as c:
        result = await c.generate("a red kite", timeout=None)

    assert result.image.mime_type == "image/png"


def test_timeout_none_means_no_limit_on_the_client_as_on_a_call() -> None:
    assert nb.AsyncClient(api_key="k").timeout == nb.Timeout(total=300, connect=10)
    assert nb.AsyncClient(api_key="k", timeout=None).timeout == nb.Timeout(total=None, connect=None)
    assert nb.AsyncClient(api_key="k", timeout=42).timeout == nb.Timeout(total=42)


def test_a_key_with_a_newline_inside_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIML_API_KEY", "sk-abc\ndef")
    with pytest.raises(nb.ConfigurationError, match="AIML_API_KEY contains") as caught:
        nb.AsyncClient()
    assert "sk-abc" not in str(caught.value)


async def test_proxies_from_the_environment_are_used(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake server stands in for the proxy: a request for a host that does not
    # exist can only reach it through the proxy setting.
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    async with nb.AsyncClient(api_key=server.api_key, base_url="http://api.example.invalid") as c:
        result = await c.generate("a red kite")
    assert result.image.mime_type == "image/png"
    assert server.generation_requests[-1].headers["Host"] == "api.example.invalid"


async def test_no_proxy_and_trust_env_false_bypass_the_proxy(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "localhost,.example.org,127.0.0.1")
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url) as c:
        assert (await c.generate("a red kite")).image.mime_type == "image/png"
    monkeypatch.setenv("NO_PROXY", "")
    async with nb.AsyncClient(api_key=server.api_key, base_url=server.url, trust_env=False) as c:
        assert (await c.generate("a red kite")).image.mime_type == "image/png"
