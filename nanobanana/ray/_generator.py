"""The Ray Data stage: :class:`ImageGenerator`, its cluster's limits, and a helper.

Each actor of the stage holds one :class:`~nanobanana.AsyncClient` on an event loop
of its own (a thread, for the actor's lifetime) and one batch of the SDK's engine
running on it, fed with the rows of every block the actor is given. The engine's
throttle and spend cap are the cluster's (:mod:`._lease`): every attempt takes a
permit from the one named ``ClusterLimits`` actor, and every request an admission
when a spend cap is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import os
import secrets
from collections.abc import Mapping
from typing import Any

import ray
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .._batch import BatchOptions
from ._book import LimitsBook
from ._rows import block_rows, output_columns
from ._runner import Runner

__all__ = [
    "NAMESPACE",
    "ClusterLimits",
    "ImageGenerator",
    "actor_pool",
    "cluster_limits",
    "generate_images",
]

#: The Ray namespace the limits actors are named in.
NAMESPACE = "nanobanana"


class ClusterLimits(LimitsBook):
    """The books of one stage, as a named Ray actor (see :class:`LimitsBook`).

    It also keeps a handle of each actor it has heard from (:meth:`workers`), for
    tooling and tests.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._workers: dict[str, Any] = {}

    def enlist(self, holder: str, handle: Any) -> None:
        """Remember the handle of actor ``holder``."""
        self._workers[holder] = handle

    def workers(self) -> dict[str, Any]:
        """The handles of the actors heard from, by name."""
        return dict(self._workers)


def limits_name(out_dir: str | os.PathLike[str]) -> str:
    """The default name of the limits actor of a stage writing to ``out_dir``: one per
    Ray job (a run of the driver script) and folder, so a new run has a fresh budget."""
    digest = hashlib.sha256(os.fspath(out_dir).encode()).hexdigest()[:12]
    return f"limits-{ray.get_runtime_context().get_job_id()}-{digest}"


def cluster_limits(name: str, **settings: Any) -> Any:
    """The handle of the limits actor ``name``, made with ``settings`` if it is not
    there yet (``get_if_exists``: every actor of the stage finds the same one)."""
    remote = ray.remote(ClusterLimits)
    return remote.options(
        name=name,
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=-1,
    ).remote(**settings)


class ImageGenerator:
    """A Ray Data callable class: generates the images of each row of a block.

    Use it with ``ds.map_batches(ImageGenerator, fn_constructor_kwargs={...},
    concurrency=N)`` (or :func:`generate_images`). Each row's request is its
    ``prompt`` column and any column named like an :class:`~nanobanana.ImageRequest`
    field; each output row keeps the input's columns and adds ``image_paths``,
    ``status``, ``skip_reason``, ``error_type``, ``error``, ``attempts``, ``usd``,
    ``credits``, ``request_id``, ``key`` and ``resumed``.

    Args:
        out_dir: Where the images and the manifests go: a folder every actor can
            write to (an absolute path: an actor's working folder is its own), or an
            object storage URL (``s3://bucket/run/``). Each actor
            keeps its own manifest there (``manifest-ray-1a2b3c4d.jsonl``).
        api_key: The API key (default: the one in the actor's environment, as the SDK
            reads it).
        base_url: The API's base URL (default: the client's).
        model: The default model.
        concurrency: Requests each actor works on at once.
        cluster_concurrency: Most attempts in flight across every actor (default:
            64 times ``concurrency``), lowered on 429s.
        requests_per_minute: A ceiling on the send rate of all actors together.
        adaptive: Slow every actor down on 429s (as one batch does).
        max_spend_usd: A cap on the USD spent by the whole dataset.
        max_credits: The same, in credits.
        max_retries: Retries per request (default: the client's).
        timeout: Seconds per request (default: the client's).
        shared: Keep the limits across actors (one ``ClusterLimits`` actor); with
            ``False`` each actor keeps limits of its own, as a shard does.
        limits: The name of the limits actor (default: one made from ``out_dir``,
            so that every actor of the stage finds the same).
        client_options: Further keyword arguments of :class:`~nanobanana.AsyncClient`.
    """

    def __init__(
        self,
        *,
        out_dir: str | os.PathLike[str],
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        concurrency: int = 8,
        cluster_concurrency: int | None = None,
        requests_per_minute: float | None = None,
        adaptive: bool = True,
        max_spend_usd: float | None = None,
        max_credits: float | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        shared: bool = True,
        limits: str | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.writer = f"ray-{secrets.token_hex(4)}"
        self.out_dir = os.fspath(out_dir)
        options = BatchOptions(
            concurrency=concurrency,
            requests_per_minute=None if shared else requests_per_minute,
            adaptive=adaptive,
            out_dir=self.out_dir,
            max_spend_usd=max_spend_usd,
            max_credits=max_credits,
            writer=self.writer,
        )
        client = {**(client_options or {}), "api_key": api_key, "base_url": base_url}
        if model is not None:
            client["model"] = model
        per_request = {
            name: value
            for name, value in (("max_retries", max_retries), ("timeout", timeout))
            if value is not None
        }
        self._limits: Any = None
        if shared:
            settings = {
                "concurrency": cluster_concurrency or 64 * concurrency,
                "requests_per_minute": requests_per_minute,
                "adaptive": adaptive,
                "max_spend_usd": max_spend_usd,
                "max_credits": max_credits,
            }
            self._limits = cluster_limits(limits or limits_name(self.out_dir), **settings)
            self._limits.enlist.remote(self.writer, _own_handle())
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal())
        self._runner = Runner(self._limits, client, per_request, options)
        self._served, _ = self._portal.start_task(self._runner.serve, name="nanobanana-ray")

    def __call__(self, block: Any) -> dict[str, list[Any]]:
        """Generate the images of ``block``'s rows; the block with the outcome columns."""
        columns, count = block_rows(block)
        rows = [{name: values[i] for name, values in columns.items()} for i in range(count)]
        outcomes = self._portal.call(self._runner.run_block, rows)
        return output_columns(columns, outcomes)

    def close(self) -> None:
        """Finish the batch (its manifest closed), report to the limits, close the
        client and stop the actor's event loop. Idempotent."""
        stack, self._stack = self._stack, contextlib.ExitStack()
        if self._served.done():
            stack.close()
            return
        with contextlib.suppress(Exception):
            self._portal.call(self._runner.finish)
            self._served.result(timeout=60)
        stack.close()

    def __del__(self) -> None:
        # Ray Data drops the instance when the stage ends: finish cleanly then.
        with contextlib.suppress(Exception):
            self.close()


def _own_handle() -> Any:
    """The handle of the actor running this code (``None`` outside an actor)."""
    try:
        return ray.get_runtime_context().current_actor
    except Exception:
        return None


def _calls_per_actor(options: Mapping[str, Any], batch_size: int | None) -> int:
    """Blocks an actor works on at once: enough rows to keep its ``concurrency`` busy
    while one block's last requests finish, twice over."""
    concurrency = int(options.get("concurrency", 8))
    return min(16, max(2, math.ceil(2 * concurrency / (batch_size or 1024))))


def actor_pool(actors: int, *, calls: int = 2) -> Any:
    """A pool of ``actors`` actors, each working on up to ``calls`` blocks at once
    where Ray Data can (its ``enable_true_multi_threading``): an actor then never waits
    for a block's last request before it starts on the next block's."""
    strategy = ray.data.ActorPoolStrategy
    parameters = inspect.signature(strategy).parameters
    if "enable_true_multi_threading" not in parameters:  # an older Ray: one block at a time
        return strategy(size=actors)
    return strategy(
        size=actors, max_concurrent_calls_per_actor=calls, enable_true_multi_threading=True
    )


def generate_images(
    ds: Any,
    *,
    out_dir: str | os.PathLike[str],
    actors: int = 4,
    batch_size: int | None = 64,
    num_cpus: float = 0.25,
    **options: Any,
) -> Any:
    """``ds`` with the images of its rows generated: ``ds.map_batches`` with
    :class:`ImageGenerator` on ``actors`` actors sharing one throttle and spend cap.

    Args:
        ds: A Ray Dataset with a ``prompt`` column (and any request columns).
        out_dir: Where the images and manifests go (see :class:`ImageGenerator`); a
            relative folder is taken from the driver's working folder.
        actors: How many actors generate at once.
        batch_size: Rows handed to an actor at a time.
        num_cpus: CPUs reserved for each actor (waiting on the API needs little).
        **options: Further arguments of :class:`ImageGenerator`.

    Returns:
        The mapped dataset (lazy, as every Ray Dataset).
    """
    folder = os.fspath(out_dir)
    if "://" not in folder:
        folder = os.path.abspath(folder)  # the actors' working folder is not the driver's
    kwargs = {"out_dir": folder, **options}
    kwargs.setdefault("limits", f"limits-{secrets.token_hex(6)}")  # a fresh budget per call
    return ds.map_batches(
        ImageGenerator,
        fn_constructor_kwargs=kwargs,
        compute=actor_pool(actors, calls=_calls_per_actor(options, batch_size)),
        batch_size=batch_size,
        num_cpus=num_cpus,
    )
