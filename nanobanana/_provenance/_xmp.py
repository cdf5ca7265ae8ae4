"""The XMP packet: the record in the form photo tools read (PNG, JPEG and WebP alike).

It says what the IPTC asks an AI image to say: ``Iptc4xmpExt:DigitalSourceType`` is
``trainedAlgorithmicMedia``, the prompt is the ``dc:description``, and (IPTC 2025.1)
the model is ``Iptc4xmpExt:AISystemUsed`` and the prompt ``AIPromptInformation``.
``xmp:CreatorTool`` names the SDK. The whole record rides along as JSON in
``nanobanana:Record``, so that it reads back exactly from a JPEG or a WebP too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from .._version import __version__
from ._record import GenerationRecord, record_from_json, record_json

__all__ = ["DIGITAL_SOURCE_TYPE", "NS_RECORD", "record_from_xmp", "xmp_packet"]

#: The IPTC's term for an image a trained model made from a prompt.
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#: The XML namespace of the ``nanobanana:Record`` property.
NS_RECORD = "urn:nanobanana:record/1.0/"

# Characters XML 1.0 cannot hold at all, not even as a character reference.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    """``value`` as XML element text: escaped, with what XML cannot hold left out."""
    return escape(_NOT_XML.sub("", value)).replace("\r", "&#13;")


def _attribute(value: str) -> str:
    return quoteattr(_NOT_XML.sub("", value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def xmp_packet(record: GenerationRecord) -> bytes:
    """The XMP packet of ``record``, UTF-8.

    Example:
        >>> record = GenerationRecord(prompt="a red kite", model="google/nano-banana")
        >>> packet = xmp_packet(record)
        >>> b"<dc:description>" in packet, b"trainedAlgorithmicMedia" in packet
        (True, True)
    """
    prompt = _text(record.prompt)
    json_text = _NOT_XML.sub(lambda m: f"\\u{ord(m[0]):04x}", record_json(record))
    packet = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:nanobanana="{NS_RECORD}"
    xmp:CreatorTool={_attribute(f"nanobanana {__version__}")}
    Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"
    Iptc4xmpExt:AISystemUsed={_attribute(record.model)}>
   <dc:description>
    <rdf:Alt><rdf:li xml:lang="x-default">{prompt}</rdf:li></rdf:Alt>
   </dc:description>
   <Iptc4xmpExt:AIPromptInformation>{prompt}</Iptc4xmpExt:AIPromptInformation>
   <nanobanana:Record>{escape(json_text)}</nanobanana:Record>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return packet.encode("utf-8")


def record_from_xmp(packet: bytes) -> GenerationRecord | None:
    """The record a packet carries in ``nanobanana:Record``, else ``None``.

    A packet with a document type declaration is refused unread: XMP has none, and
    entity declarations are how hostile XML grows without bound.

    Example:
        >>> record = GenerationRecord(prompt="a red kite", model="google/nano-banana")
        >>> record_from_xmp(xmp_packet(record)) == record
        True
        >>> record_from_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>") is None
        True
    """
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return None
    try:
        root = ET.fromstring(packet)
    except ET.ParseError:
        return None
    tag = f"{{{NS_RECORD}}}Record"
    for element in root.iter():
        text = element.text if element.tag == tag else element.get(tag)
        if text:
            return record_from_json(text)
    return None
