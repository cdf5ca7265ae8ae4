"""The gallery page: one self-contained HTML file, written beside the images.

The page is ``page.html`` (beside this module: inline CSS and JavaScript, no network)
with the data embedded as JSON in a ``<script type="application/json">``. Every
``<``, ``>`` and ``&`` of the JSON is written as a ``\\u003c``-style escape, so no
string of a manifest (a prompt of ``</script><img onerror=...>``) can end the script
element or start markup; the page builds its DOM with ``textContent`` only.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from nanobanana._batch import manifest_paths
from nanobanana._files import atomic_write

from ._records import gallery_data, latest_records

__all__ = ["GALLERY_NAME", "embed_json", "render_page", "write_gallery"]

#: The gallery's file name, in the batch's folder.
GALLERY_NAME = "index.html"
_PLACEHOLDER = "__NANOBANANA_GALLERY_DATA__"
_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def embed_json(document: Any) -> str:
    """``document`` as JSON that is safe inside a ``<script>`` element.

    Example:
        >>> print(embed_json({"prompt": "</script><b>fish & chips</b>"}))
        {"prompt":"\\u003c/script\\u003e\\u003cb\\u003efish \\u0026 chips\\u003c/b\\u003e"}
        >>> json.loads(embed_json({"prompt": "<b>"}))
        {'prompt': '<b>'}
    """
    # allow_nan=False: NaN and Infinity are not JSON, and the browser's parser refuses them.
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate in a prompt: JSON escapes it
        text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return text.translate(_ESCAPES)


def render_page(document: dict[str, Any]) -> str:
    """The whole HTML page showing ``document`` (see :func:`gallery_data`)."""
    template = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    head, tail = template.split(_PLACEHOLDER)
    return head + embed_json(document) + tail


def write_gallery(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``index.html`` into a batch's folder: a gallery of every item of its
    manifests; return its path.

    The page is one self-contained file (inline CSS and JavaScript, nothing fetched
    from the network) that works opened straight from the disk (``file://``). It shows
    one card per item, failed and skipped ones included: the thumbnail (loaded from the
    image files beside it, only when on screen), the prompt, the model, the request's
    parameters, the status, the error, the cost and the time, and the item's ``id``,
    ``tag`` and template ``vars`` when the manifest records them. A bar at the top
    sums up the items, the images, the spend and the time; the cards can be filtered
    by status and searched as you type; a click on an image shows it full size (the
    arrow keys go to the next and previous one, Escape closes).

    Every ``manifest*.jsonl`` of the folder is read (a sharded run leaves several), the
    latest line of an item winning. The file is replaced atomically, so a browser never
    reads half a page; run it again after a resumed batch to bring it up to date.

    Args:
        out_dir: The batch's output folder, the one holding ``manifest.jsonl``.

    Returns:
        The path of the page written, ``out_dir/index.html``.

    Raises:
        FileNotFoundError: ``out_dir`` holds no manifest (it is not a batch's folder).
        OSError: The page could not be written.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> with FakeServer() as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client:
        ...     for item in client.batch(["a red kite", "a paper boat"], out_dir=out):
        ...         pass
        >>> page = nb.write_gallery(out)
        >>> page.name, "a paper boat" in page.read_text()
        ('index.html', True)
    """
    folder = Path(out_dir)
    paths = manifest_paths(folder)
    if not paths:
        raise FileNotFoundError(
            f"no manifest.jsonl in {folder}: not the output folder of a batch "
            "(the folder given as out_dir, or nanobanana batch -o)"
        )
    title = folder.resolve().name or str(folder)
    page = render_page(gallery_data(title, latest_records(paths)))
    target = folder / GALLERY_NAME
    atomic_write(target, page.encode())
    return target
