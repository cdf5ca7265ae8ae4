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
    "RESOLUTIONS",
    "Model",
    "ModelInfo",
    "known_models",
    "model_info",
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
        6
    """
    return _CATALOG
