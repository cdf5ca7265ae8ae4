"""Shared fixtures: a FakeServer per test and clients pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import settings

import nanobanana as nb
from nanobanana.testing import FakeServer

# In CI the properties run the same examples every build, so a rare counter-case is
# met when a property or the code under it changes, not by chance in an unrelated
# build; elsewhere each run explores new examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def anyio_backend() -> str:
    # aiohttp runs on asyncio only.
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as srv:
        yield srv


@pytest.fixture
async def client(server: FakeServer) -> AsyncIterator[nb.AsyncClient]:
    async with nb.AsyncClient(
        api_key=server.api_key, base_url=server.url, retry=nb.RetryPolicy.no_wait()
    ) as c:
        yield c


@pytest.fixture
def sync_server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


@pytest.fixture
def sync_client(sync_server: FakeServer) -> Iterator[nb.Client]:
    with nb.Client(
        api_key=sync_server.api_key, base_url=sync_server.url, retry=nb.RetryPolicy.no_wait()
    ) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests decide the key and base URL themselves; a developer's shell must not leak in.
    for name in ("AIML_API_KEY", "AIMLAPI_API_KEY", "AIML_API_BASE"):
        monkeypatch.delenv(name, raising=False)
