"""The ``models`` command: the models the SDK knows, as text blocks or ``--json``."""

from __future__ import annotations

from typing import Any

import attrs

from nanobanana._catalog import PROVIDERS, ModelInfo, known_models

from ._common import print_json
from ._exit import EXIT_OK

__all__ = ["cmd_models"]

_FAN_OUT = "1-4, sent as that many requests of one image each"
_EDITS = {"no": "no (text to image)", "required": "yes (input images required)"}


def cmd_models(args: Any) -> int:
    """``models``: the catalog, as text blocks or ``--json``."""
    models = known_models()
    if args.json:
        print_json([{**attrs.asdict(m), "ids": list(m.ids)} for m in models])
        return EXIT_OK
    print("\n\n".join(_model_block(m) for m in models))
    print("\nOther model ids are sent as given (-m acme/new-model).")
    return EXIT_OK


def _model_block(m: ModelInfo) -> str:
    """One model, as the lines of text ``nanobanana models`` prints for it."""
    edits = _EDITS.get(m.edits, "optional (generates and edits)")
    if m.edit_model and m.edit_model != m.id:
        edits += f"; edit model: {m.edit_model}"
    lines = [
        f"{m.id}  {m.name}",
        f"  aliases        {', '.join(m.aliases) or '-'}",
        f"  edits          {edits}",
        f"  aspect_ratio   {' '.join(m.aspect_ratios)}",
        f"  resolution     {' '.join(m.resolutions) or '- (not taken)'}",
        f"  num_images     {'1-4' if m.num_images else _FAN_OUT}",
    ]
    if m.max_input_images is not None:
        lines.append(f"  input images   up to {m.max_input_images}")
    lines.append(f"  provider       {' '.join(PROVIDERS) if m.provider else '- (not taken)'}")
    lines.append(f"  web search     {'yes (enable_web_search)' if m.web_search else 'no'}")
    if m.options:
        lines.append(f"  extra_body     {' '.join(m.options)}")
    return "\n".join(lines)
