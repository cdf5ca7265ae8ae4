"""The Nano Banana models the SDK knows, with the parameters each one accepts.

The catalog is what client-side validation checks against. A model id that is not
in it is still sent as given (the API grows faster than releases), validated only
against the parameters every model shares.
"""

from __future__ import annotations

import enum

import attrs

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_MODEL",
    "EDIT_OPTIONS",
    "PROVIDERS",
    "RESOLUTIONS",
    "Model",
    "ModelInfo",
    "known_models",
    "model_info",
    "option_problem",
]

#: Every aspect ratio the API documents, in the order its docs list them.
ASPECT_RATIOS: tuple[str, ...] = (
    "21:9",
    "1:1",
    "4:3",
    "3:2",
    "2:3",
    "5:4",
    "4:5",
    "3:4",
    "16:9",
    "9:16",
)
#: The five ratios the Nano Banana 2 family documents.
NB2_ASPECT_RATIOS: tuple[str, ...] = ("1:1", "9:16", "16:9", "3:4", "4:3")
#: Output resolutions of the models that take ``resolution``.
RESOLUTIONS: tuple[str, ...] = ("1K", "2K", "4K")
#: The values of ``provider``: Google, its fal.ai mirror, or Google then fal.ai.
PROVIDERS: tuple[str, ...] = ("google", "fal", "auto")
#: The options ``google/nano-banana-edit`` documents beyond the shared parameters.
EDIT_OPTIONS: tuple[str, ...] = (
    "seed",
    "enhance_prompt",
    "person_generation",
    "safety_setting",
    "add_watermark",
    "convert_base64_to_url",
)
_CHOICES: dict[str, tuple[str, ...]] = {
    "person_generation": ("dont_allow", "allow_adult"),
    "safety_setting": ("block_low_and_above", "block_medium_and_above", "block_only_high"),
}
_MAX_SEED = 4294967295


class Model(enum.StrEnum):
    """Named constants for every documented model id.

    Each member *is* its id string, so ``Model.NANO_BANANA_PRO == "google/nano-banana-pro"``
    and either form can be passed wherever a model is expected. Aliased models have a
    member for each of their ids.

    Example:
        >>> from nanobanana import Model
        >>> Model.NANO_BANANA.value
        'google/gemini-2.5-flash-image'
    """

    NANO_BANANA = "google/gemini-2.5-flash-image"
    NANO_BANANA_EDIT = "google/gemini-2.5-flash-image-edit"
    NANO_BANANA_PRO = "google/nano-banana-pro"
    GEMINI_3_PRO_IMAGE_PREVIEW = "google/gemini-3-pro-image-preview"
    NANO_BANANA_PRO_EDIT = "google/nano-banana-pro-edit"
    GEMINI_3_PRO_IMAGE_PREVIEW_EDIT = "google/gemini-3-pro-image-preview-edit"
    NANO_BANANA_2 = "google/nano-banana-2"
    GEMINI_3_1_FLASH_IMAGE_PREVIEW = "google/gemini-3-1-flash-image-preview"
    NANO_BANANA_2_LITE = "google/gemini-3-1-flash-lite-image"
    GOOGLE_NANO_BANANA_EDIT = "google/nano-banana-edit"
    GEMINI_3_PRO_IMAGE_EDIT = "google/gemini-3-pro-image-edit"

    # Descriptive aliases of the same ids.
    GEMINI_2_5_FLASH_IMAGE = "google/gemini-2.5-flash-image"
    GEMINI_2_5_FLASH_IMAGE_EDIT = "google/gemini-2.5-flash-image-edit"


DEFAULT_MODEL: str = Model.NANO_BANANA.value


@attrs.frozen(kw_only=True)
class ModelInfo:
    """What the SDK knows about one model.

    Attributes:
        id: The canonical model id.
        name: The marketing name.
        aliases: Other ids the API accepts for the same model.
        edits: ``"no"`` (text to image only), ``"required"`` (an edit model: input
            images are mandatory) or ``"optional"`` (generates and edits).
        edit_model: The model :meth:`AsyncClient.edit` switches to from this one.
        aspect_ratios: The ``aspect_ratio`` values it accepts.
        resolutions: The ``resolution`` values it accepts (empty: not supported).
        num_images: Whether it takes ``num_images``.
        max_input_images: Most input images an edit takes, when documented.
        provider: Whether it takes the ``provider`` switch (google, fal, auto).
        web_search: Whether it takes ``enable_web_search``.
        options: Further documented parameters (passed in ``extra_body``), whose
            values are checked before sending: see :data:`EDIT_OPTIONS`.

    Example:
        >>> from nanobanana import model_info
        >>> model_info("google/gemini-3-pro-image-preview").id
        'google/nano-banana-pro'
    """

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    edits: str = "no"
    edit_model: str | None = None
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    resolutions: tuple[str, ...] = ()
    num_images: bool = True
    max_input_images: int | None = None
    provider: bool = True
    web_search: bool = False
    options: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """The canonical id followed by its aliases.

        Example:
            >>> from nanobanana import model_info
            >>> model_info("google/nano-banana-pro").ids
            ('google/nano-banana-pro', 'google/gemini-3-pro-image-preview')
        """
        return (self.id, *self.aliases)


_CATALOG: tuple[ModelInfo, ...] = (
    ModelInfo(
        id=Model.NANO_BANANA.value,
        name="Nano Banana (Gemini 2.5 Flash Image)",
        edit_model=Model.NANO_BANANA_EDIT.value,
    ),
    ModelInfo(
        id=Model.NANO_BANANA_EDIT.value,
        name="Nano Banana edit (Gemini 2.5 Flash Image)",
        edits="required",
        edit_model=Model.NANO_BANANA_EDIT.value,
    ),
    ModelInfo(
        id=Model.NANO_BANANA_PRO.value,
        name="Nano Banana Pro (Gemini 3 Pro Image)",
        aliases=(Model.GEMINI_3_PRO_IMAGE_PREVIEW.value,),
        edit_model=Model.NANO_BANANA_PRO_EDIT.value,
        resolutions=RESOLUTIONS,
    ),
    ModelInfo(
        id=Model.NANO_BANANA_PRO_EDIT.value,
        name="Nano Banana Pro edit (Gemini 3 Pro Image)",
        aliases=(Model.GEMINI_3_PRO_IMAGE_PREVIEW_EDIT.value,),
        edits="required",
        edit_model=Model.NANO_BANANA_PRO_EDIT.value,
        resolutions=RESOLUTIONS,
        max_input_images=14,
    ),
    ModelInfo(
        id=Model.NANO_BANANA_2.value,
        name="Nano Banana 2 (Gemini 3.1 Flash Image)",
        aliases=(Model.GEMINI_3_1_FLASH_IMAGE_PREVIEW.value,),
        edits="optional",
        edit_model=Model.NANO_BANANA_2.value,
        aspect_ratios=NB2_ASPECT_RATIOS,
        resolutions=RESOLUTIONS,
        num_images=False,
        max_input_images=5,
        provider=False,
        web_search=True,
    ),
    ModelInfo(
        id=Model.NANO_BANANA_2_LITE.value,
        name="Nano Banana 2 Lite (Gemini 3.1 Flash Lite Image)",
        edits="optional",
        edit_model=Model.NANO_BANANA_2_LITE.value,
        aspect_ratios=NB2_ASPECT_RATIOS,
        resolutions=RESOLUTIONS,
        num_images=False,
        max_input_images=5,
        provider=False,
        web_search=True,
    ),
    ModelInfo(
        id=Model.GOOGLE_NANO_BANANA_EDIT.value,
        name="Nano Banana edit, with seed and safety settings",
        edits="optional",
        edit_model=Model.GOOGLE_NANO_BANANA_EDIT.value,
        aspect_ratios=NB2_ASPECT_RATIOS,
        max_input_images=3,
        options=EDIT_OPTIONS,
    ),
    ModelInfo(
        id=Model.GEMINI_3_PRO_IMAGE_EDIT.value,
        name="Nano Banana Pro edit, up to 5 images",
        edits="required",
        edit_model=Model.GEMINI_3_PRO_IMAGE_EDIT.value,
        aspect_ratios=NB2_ASPECT_RATIOS,
        resolutions=RESOLUTIONS,
        max_input_images=5,
    ),
)

_BY_ID: dict[str, ModelInfo] = {mid: info for info in _CATALOG for mid in info.ids}


def model_info(model: str) -> ModelInfo | None:
    """Return what the SDK knows about ``model`` (any of its ids), or ``None``.

    Example:
        >>> from nanobanana import model_info
        >>> model_info("google/nano-banana-2").num_images
        False
        >>> model_info("acme/some-future-model") is None
        True
    """
    return _BY_ID.get(str(model))


def known_models() -> tuple[ModelInfo, ...]:
    """Every model in the catalog, generate models before their edit siblings.

    Example:
        >>> from nanobanana import known_models
        >>> len(known_models())
        8
    """
    return _CATALOG


def option_problem(name: str, value: object) -> str | None:
    """What is wrong with ``value`` for the option ``name`` of :data:`EDIT_OPTIONS`.

    ``None`` when the value is allowed (or ``name`` is not one of those options).

    Example:
        >>> option_problem("seed", 42) is None
        True
        >>> option_problem("seed", -1)
        'must be an int from 0 to 4294967295, got -1'
        >>> option_problem("safety_setting", "none")
        "must be one of block_low_and_above, block_medium_and_above, block_only_high; got 'none'"
    """
    if name == "seed":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SEED:
            return f"must be an int from 0 to {_MAX_SEED}, got {value!r}"
    elif name in _CHOICES:
        if value not in _CHOICES[name]:
            return f"must be one of {', '.join(_CHOICES[name])}; got {value!r}"
    elif name in EDIT_OPTIONS and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    return None
