"""Galleries: one self-contained HTML page of a batch's items, from its manifests.

* :mod:`._records`: reading the manifests, the latest line of each item winning;
* :mod:`._page`: the page (``page.html`` beside it, with the data embedded) and
  :func:`write_gallery`.
"""

from ._page import GALLERY_NAME, write_gallery

__all__ = ["GALLERY_NAME", "write_gallery"]
