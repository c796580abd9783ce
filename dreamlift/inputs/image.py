"""Load one reference image: decode it safely, separate the object, recentre and resize it.

What comes out (:class:`ReferenceImage`) follows TOYWORLD.md's image conventions:
square ``(size, size, C)`` float32 tensors in [0, 1], row 0 at the top, *straight*
(not premultiplied) alpha, composited over white where a background is needed.

The steps, in order:

1. **Decode** (:func:`decode_image`): PNG, JPEG and WebP (anything Pillow reads, in
   fact). The size is checked from the header *before* the pixels are decoded, so an
   enormous image or a decompression bomb is refused without being expanded.
   Grayscale, palette, LA, 16-bit (``I;16``) and 16-bit RGB images all become
   float RGB (+ alpha when the file has one); EXIF orientation is applied. Images
   larger than :data:`WORK_MAX_SIDE` are box-reduced first (the output is small).
2. **Matte** (:mod:`dreamlift.inputs.matting`): an alpha channel that has some
   transparency is used as is; otherwise the background is removed by a
   border-colour matte (no download), or by ``rembg`` when asked for.
3. **Frame** (:mod:`dreamlift.inputs.framing`): the object's bounding box is
   centred and scaled so its larger side fills ``1 - border_ratio`` of the image,
   with area (antialiased) resampling to ``size``.

Every failure is a one-line :class:`~dreamlift.errors.DreamliftError`; no Pillow
exception escapes.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.inputs.framing import frame_object, frame_windows, whole_windows
from dreamlift.inputs.matting import alpha_is_informative, border_matte, rembg_matte

MAX_PIXELS = 8192 * 8192
"""Largest accepted image, in pixels (67 Mpx), checked from the header before decoding."""
MIN_SIDE = 8
"""Smallest accepted width or height, in pixels."""
WORK_MAX_SIDE = 2048
"""Larger images are box-reduced by an integer factor to at most this side before matting."""
FORMATS = "PNG, JPEG or WebP"


class Matting(str, Enum):
    """How the object is separated from its background."""

    AUTO = "auto"
    """The alpha channel if it has any transparency, else the border-colour matte."""
    ALPHA = "alpha"
    """The alpha channel; an error if the image has none (or it is fully opaque)."""
    BORDER = "border"
    """The border-colour matte, even when the image has an alpha channel."""
    REMBG = "rembg"
    """The ``rembg`` package (only when it is installed)."""


@dataclass(frozen=True, eq=False)
class ReferenceImage:
    """A matted, recentred, square reference image."""

    rgba: Tensor
    """``(size, size, 4)`` float32 in [0, 1], straight alpha, row 0 at the top."""
    source_size: tuple[int, int]
    """``(width, height)`` of the file as decoded (after EXIF orientation)."""
    matting: str
    """How the mask was obtained: ``"alpha"``, ``"border"`` or ``"rembg"``."""
    path: Path | None = None
    """The file it came from, if any."""

    @property
    def size(self) -> int:
        return int(self.rgba.shape[0])

    @property
    def mask(self) -> Tensor:
        """``(size, size)`` float alpha in [0, 1]."""
        return self.rgba[..., 3]

    @property
    def rgb_on_white(self) -> Tensor:
        """``(size, size, 3)``: the image composited over white, ``rgb·a + (1 − a)``."""
        alpha = self.rgba[..., 3:]
        return self.rgba[..., :3] * alpha + (1.0 - alpha)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Float pixels of a decoded file, before matting (possibly box-reduced)."""

    rgb: np.ndarray
    """``(H, W, 3)`` float32 in [0, 1]."""
    alpha: np.ndarray | None
    """``(H, W)`` float32 in [0, 1], or None when the file has no alpha."""
    source_size: tuple[int, int]
    """``(width, height)`` before any reduction."""


@dataclass(frozen=True, eq=False)
class MattedImage:
    """A decoded, matted image before framing (at its own size, possibly box-reduced)."""

    rgba: Tensor
    """``(H, W, 4)`` float32 in [0, 1], straight alpha."""
    source_size: tuple[int, int]
    """``(width, height)`` of the file as decoded (after EXIF orientation)."""
    matting: str
    """How the mask was obtained."""
    path: Path


def check_load_options(size: int, border_ratio: float, matting) -> Matting:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 4096:
        raise DreamliftError(f"image size must be an integer in [1, 4096], got {size!r}")
    if not (isinstance(border_ratio, (int, float)) and 0.0 <= border_ratio < 0.9):
        raise DreamliftError(f"border ratio must lie in [0, 0.9), got {border_ratio!r}")
    try:
        return Matting(matting)
    except ValueError:
        choices = ", ".join(m.value for m in Matting)
        raise DreamliftError(f"unknown matting {matting!r}: choose one of {choices}") from None


def load_matted(path: str | os.PathLike, matting: str | Matting = "auto") -> MattedImage:
    """Decode ``path`` and separate the object (steps 1 and 2 of the module doc)."""
    method = Matting(matting)
    path = Path(path).expanduser()
    decoded = decode_image(path)
    rgba, used = _matte(decoded, method, path)
    if float(rgba[..., 3].max()) < 0.5 / 255.0:
        raise DreamliftError(f"image {path} is empty after matting ({used}): give an image with a visible object")
    return MattedImage(torch.from_numpy(rgba), decoded.source_size, used, path)


def framed_images(matted: list[MattedImage], windows, size: int) -> list[ReferenceImage]:
    """The matted images (all of one size) framed by ``windows`` (:mod:`dreamlift.inputs.framing`) at ``size``."""
    framed = frame_windows(torch.stack([m.rgba for m in matted]), windows, size)
    return [ReferenceImage(rgba=f, source_size=m.source_size, matting=m.matting, path=m.path) for f, m in zip(framed, matted)]


def load_reference_image(
    path: str | os.PathLike,
    size: int = 32,
    border_ratio: float = 0.2,
    matting: str | Matting = "auto",
    recentre: bool = True,
) -> ReferenceImage:
    """Read ``path`` and return the object matted, centred and scaled to ``size × size``.

    ``border_ratio`` is the fraction of the image left empty around the object's
    larger side (0.2: the object spans 80% of the width or height). ``recentre=False``
    keeps the image's own framing (the whole image, padded to a square, resized).
    """
    method = check_load_options(size, border_ratio, matting)
    matted = load_matted(path, method)
    if recentre:
        framed = frame_object(matted.rgba, size, float(border_ratio))
        return ReferenceImage(rgba=framed, source_size=matted.source_size, matting=matted.matting, path=matted.path)
    height, width = matted.rgba.shape[:2]
    return framed_images([matted], whole_windows(1, height, width), size)[0]


def decode_image(path: Path) -> DecodedImage:
    """Decode ``path`` to float RGB (+ alpha), refusing bad, tiny and enormous files."""
    path = Path(path)
    if not path.exists():
        raise DreamliftError(f"image {path} does not exist: check the path")
    if path.is_dir():
        raise DreamliftError(f"{path} is a folder, not an image: give the path of a {FORMATS} file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DreamliftError(
            f"image {path} is enormous (a decompression bomb?) and was not decoded: downscale it to at most {_limit_text()}"
        ) from None
    except PermissionError:
        raise DreamliftError(f"image {path} cannot be read (permission denied): check its permissions") from None
    except Exception:  # UnidentifiedImageError, OSError, SyntaxError, ... from any plug-in
        raise DreamliftError(f"{path} is not an image that can be read: give a {FORMATS} file") from None
    with image:
        width, height = image.size
        _check_dimensions(path, width, height)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # e.g. Pillow's "Invalid APNG": the first frame still decodes
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.seek(0)  # the first frame of an animation
                image.load()
                image = _apply_orientation(image)
                oriented_size = image.size
                image = _reduce(_canonical_mode(image))
                return _to_arrays(image, oriented_size)
        except DreamliftError:
            raise
        except Exception:  # truncated data, corrupt chunks, odd modes, out of memory
            raise DreamliftError(
                f"image {path} could not be decoded: the file is truncated or corrupt; re-export it as PNG"
            ) from None


def _limit_text() -> str:
    side = int(math.isqrt(MAX_PIXELS))
    return f"{side}x{side} ({MAX_PIXELS / 1e6:.0f} Mpx)"


def _check_dimensions(path: Path, width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise DreamliftError(
            f"image {path} is only {width}x{height} pixels: give an image of at least {MIN_SIDE}x{MIN_SIDE}"
        )
    if width * height > MAX_PIXELS:
        raise DreamliftError(
            f"image {path} is {width}x{height} pixels, over the limit of {_limit_text()}: downscale it first"
        )


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says (a corrupt tag is ignored)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _canonical_mode(image: Image.Image) -> Image.Image:
    """One of ``RGBA`` (any alpha or transparency), ``RGB``, ``L``, ``I`` (16-bit) or ``F``."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        return image if mode == "I" else image.convert("I")
    if mode == "F":
        return image
    if mode in ("RGBA", "LA", "La", "RGBa", "PA", "P") or "transparency" in image.info:
        return image.convert("RGBA")
    if mode in ("L", "1"):
        return image.convert("L")
    return image.convert("RGB")  # RGB, CMYK, YCbCr, LAB, HSV


def _reduce(image: Image.Image) -> Image.Image:
    """Box-reduce by an integer factor so the larger side is at most :data:`WORK_MAX_SIDE`."""
    factor = math.ceil(max(image.size) / WORK_MAX_SIDE)
    if factor <= 1:
        return image
    if image.mode == "RGBA":  # average premultiplied colour, so no background colour bleeds in
        return image.convert("RGBa").reduce(factor).convert("RGBA")
    return image.reduce(factor)


def _to_arrays(image: Image.Image, source_size: tuple[int, int]) -> DecodedImage:
    values = np.asarray(image)
    if image.mode == "I":
        gray = np.clip(values.astype(np.float32) / 65535.0, 0.0, 1.0)
    elif image.mode == "F":
        gray = np.clip(np.nan_to_num(values.astype(np.float32)), 0.0, 1.0)
    elif image.mode == "L":
        gray = values.astype(np.float32) / 255.0
    else:
        gray = None
    if gray is not None:
        return DecodedImage(np.repeat(gray[..., None], 3, axis=-1), None, source_size)
    values = values.astype(np.float32) / 255.0
    alpha = values[..., 3].copy() if image.mode == "RGBA" else None
    return DecodedImage(np.ascontiguousarray(values[..., :3]), alpha, source_size)


def _matte(decoded: DecodedImage, method: Matting, path: Path) -> tuple[np.ndarray, str]:
    """``(H, W, 4)`` straight-alpha float32 and the name of the method used."""
    if method is Matting.ALPHA or (method is Matting.AUTO and decoded.alpha is not None):
        if decoded.alpha is not None and float(decoded.alpha.max()) < 0.5 / 255.0:
            raise DreamliftError(f"image {path} is empty: it is fully transparent; give an image with a visible object")
        if alpha_is_informative(decoded.alpha):
            return np.concatenate([decoded.rgb, decoded.alpha[..., None]], axis=-1), "alpha"
        if method is Matting.ALPHA:
            raise DreamliftError(
                f"image {path} has no transparency to use as a mask: use matting auto or border, "
                "or save the image with a transparent background"
            )
    rgb = decoded.rgb
    if decoded.alpha is not None:  # forced matting of an RGBA image: see it over white, as a viewer would
        rgb = rgb * decoded.alpha[..., None] + (1.0 - decoded.alpha[..., None])
    if method is Matting.REMBG:
        rgb, alpha = rembg_matte(rgb)
        used = "rembg"
    else:
        rgb, alpha = border_matte(rgb, path)
        used = "border"
    return np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.float32), used
