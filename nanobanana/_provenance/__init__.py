"""Provenance: the generation record every saved image carries, written byte by byte.

Nothing is decoded or re-encoded: metadata chunks or segments are inserted into the
file as the API sent it, every other byte kept. ``_record`` holds the record and its
JSON and A1111 forms, ``_xmp`` the XMP packet, ``_png`` the PNG chunks, and
``_stamp`` puts a record into image bytes and reads it back.
"""

from ._record import GenerationRecord, input_digests, record_json
from ._stamp import read_embedded, read_metadata, read_record, sidecar_path, stamp

__all__ = [
    "GenerationRecord",
    "input_digests",
    "read_embedded",
    "read_metadata",
    "read_record",
    "record_json",
    "sidecar_path",
    "stamp",
]
