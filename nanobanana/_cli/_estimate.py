"""What a ``batch --dry-run`` would cost: an estimate, and where its price comes from.

The API publishes no price list, so a price per image is either given
(``--price-per-image``) or learnt from what earlier runs spent: the ``ok`` lines of
the manifest in the same ``out_dir`` record the model, the resolution sent, the USD
the API reported and the images written, which give a price per image for each
model and resolution. The plan is priced only when every model and resolution in it
has a price; otherwise the cost is ``unknown``. It stays an estimate: prices change,
and a manifest's figures are those of the requests that ran.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from nanobanana._batch import BatchItem, read_manifest

from ._text import count

__all__ = ["Estimate", "manifest_prices", "with_estimate"]

#: A model id and a resolution (``None``: the request set none).
PriceKey = tuple[str | None, str | None]


def manifest_prices(docs: Iterable[dict[str, Any]]) -> dict[PriceKey, float]:
    """USD per image of each model and resolution, from manifest lines that ran ok.

    Example:
        >>> line = {"status": "ok", "model": "google/x", "paths": ["a.png", "b.png"],
        ...         "usage": {"usd_spent": 0.1}, "parameters": {"resolution": "2K"}}
        >>> manifest_prices([line, {**line, "usage": {"usd_spent": 0.3}}])
        {('google/x', '2K'): 0.1}
    """
    spent: dict[PriceKey, float] = collections.defaultdict(float)
    images: collections.Counter[PriceKey] = collections.Counter()
    for doc in docs:
        usage, paths, model = doc.get("usage"), doc.get("paths"), doc.get("model")
        parameters = doc.get("parameters")
        if doc.get("status") != "ok" or not isinstance(model, str) or not isinstance(usage, dict):
            continue
        usd = usage.get("usd_spent")
        if not isinstance(usd, (int, float)) or not isinstance(paths, list) or not paths:
            continue
        resolution = parameters.get("resolution") if isinstance(parameters, dict) else None
        key = (model, resolution if isinstance(resolution, str) else None)
        spent[key] += usd
        images[key] += len(paths)
    return {key: spent[key] / images[key] for key in images}


@attrs.define
class Estimate:
    """The images a dry run plans, by model and resolution, and what they would cost.

    Attributes:
        price_per_image: The ``--price-per-image`` given, if one was.
        manifest: The manifest whose recorded prices are used otherwise.
        prices: USD per image, by model and resolution, from that manifest.
        planned: Images planned, by model and resolution.
    """

    price_per_image: float | None
    manifest: Path | None
    prices: dict[PriceKey, float] = attrs.Factory(dict)
    planned: collections.Counter[PriceKey] = attrs.Factory(collections.Counter)

    @classmethod
    def open(cls, price_per_image: float | None, manifest: Path | None) -> Estimate:
        """An estimate priced by ``price_per_image``, else by ``manifest``'s records."""
        if price_per_image is not None or manifest is None or not manifest.is_file():
            return cls(price_per_image, None)
        return cls(None, manifest, manifest_prices(read_manifest(manifest)))

    def add(self, item: BatchItem) -> None:
        """Count the images of an item the dry run would send."""
        if item.skip_reason == "dry_run" and item.request is not None:
            key = (item.model, item.request.resolution)
            self.planned[key] += item.request.num_images or 1

    def figure(self) -> tuple[float | None, str | None]:
        """The estimated USD and where its price came from; ``(None, None)`` if unknown."""
        images = sum(self.planned.values())
        if images == 0:
            return 0.0, "nothing to send"
        if self.price_per_image is not None:
            return images * self.price_per_image, "--price-per-image"
        if self.manifest is None or not all(key in self.prices for key in self.planned):
            return None, None
        usd = sum(n * self.prices[key] for key, n in self.planned.items())
        return usd, f"prices per image recorded in {self.manifest}"

    def text(self) -> str:
        """The ``Estimated cost`` row of the summary."""
        usd, source = self.figure()
        if usd is None:
            return "unknown (the API publishes no prices: pass --price-per-image)"
        images = count(sum(self.planned.values()), "image")
        return f"${usd:,.4f} (an estimate for {images}, from {source})"

    def record(self) -> dict[str, Any]:
        """``estimated_usd`` and ``estimate_source`` of the ``--json`` summary."""
        usd, source = self.figure()
        return {
            "estimated_usd": round(usd, 6) if usd is not None else None,
            "estimate_source": source,
        }


def with_estimate(rows: list[tuple[str, str]], estimate: Estimate) -> list[tuple[str, str]]:
    """The summary's rows with ``Estimated cost`` after ``Would send`` (or at the end)."""
    labels = [label for label, _ in rows]
    at = labels.index("Would send") + 1 if "Would send" in labels else len(rows)
    return [*rows[:at], ("Estimated cost", estimate.text()), *rows[at:]]
