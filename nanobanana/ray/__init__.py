"""Image generation as a Ray Data stage, with limits kept across the cluster.

``ds.map_batches(ImageGenerator, fn_constructor_kwargs={"out_dir": ...},
concurrency=4)`` generates the images of every row of a dataset on four actors, each
running the SDK's batch engine over its blocks. The actors share one throttle (a 429
met by any slows all) and one spend cap, kept by one named ``ClusterLimits`` actor;
each writes a manifest of its own into ``out_dir``, so ``nanobanana status`` and the
gallery read them all, and a block retried after an actor died sends only what was
not finished. See "Ray Data" in the scale guide.

Needs Ray: ``pip install 'nanobanana[ray]'``.
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise ImportError(
        "nanobanana.ray needs Ray, which is not installed: pip install 'nanobanana[ray]'"
    ) from exc

from ._book import LimitsBook, Report, SpendBook
from ._generator import (
    NAMESPACE,
    ClusterLimits,
    ImageGenerator,
    actor_pool,
    cluster_limits,
    generate_images,
)

__all__ = [
    "NAMESPACE",
    "ClusterLimits",
    "ImageGenerator",
    "LimitsBook",
    "Report",
    "SpendBook",
    "actor_pool",
    "cluster_limits",
    "generate_images",
]
