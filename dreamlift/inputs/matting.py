"""Separate an object from its background: a border-colour matte (no download) or rembg.

The border-colour matte assumes a plain background, as in product shots and
renders:

1. the background colour ``b`` is the per-channel median of a thin ring of border
   pixels (robust to an object that touches the border);
2. every pixel's distance to it, ``d = ‖rgb − b‖`` (RGB in [0, 1]), is thresholded at
   ``max(0.08, 3·p90)`` where ``p90`` is the 90th percentile of ``d`` on the border
   (the background's own noise, e.g. JPEG artefacts); a border that varies more
   than :data:`PLAIN_BACKGROUND_LIMIT` is not a plain background and is an error;
3. the largest 8-connected component is kept and its holes are filled;
4. the edge is made soft: a pixel on the silhouette gets ``α = d / d_obj``, where
   ``d_obj`` is the largest distance among interior object pixels within 2 pixels
   (for an antialiased edge ``rgb = α·f + (1 − α)·b``, so ``d = α·‖f − b‖``), and its
   colour is un-mixed, ``f = b + (rgb − b)/α``, so compositing back over ``b`` gives
   the input.

Colours close to the background that touch the silhouette are lost; for such
images give an alpha channel, or use ``rembg``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from dreamlift.errors import DreamliftError

PLAIN_BACKGROUND_LIMIT = 0.15
"""Largest 90th-percentile colour distance of border pixels to their median for a 'plain' background."""
MIN_THRESHOLD = 0.08
"""Smallest colour distance (RGB in [0, 1]) that counts as object."""
BORDER_FRACTION = 0.02
"""Width of the border ring used to estimate the background, as a fraction of the shorter side."""

_EIGHT = np.ones((3, 3), dtype=bool)


def alpha_is_informative(alpha: np.ndarray | None) -> bool:
    """True when ``alpha`` has at least one pixel that is not fully opaque."""
    return alpha is not None and float(alpha.min()) < 254.5 / 255.0


def background_colour(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The median colour of the border ring ``(3,)`` and the border pixels' distances to it."""
    height, width = rgb.shape[:2]
    ring = max(1, round(BORDER_FRACTION * min(height, width)))
    border = np.concatenate(
        [
            rgb[:ring].reshape(-1, 3),
            rgb[-ring:].reshape(-1, 3),
            rgb[ring:-ring, :ring].reshape(-1, 3),
            rgb[ring:-ring, -ring:].reshape(-1, 3),
        ]
    )
    colour = np.median(border, axis=0)
    return colour, np.linalg.norm(border - colour, axis=-1)


def border_matte(rgb: np.ndarray, path: Path | str = "the image") -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3)`` float RGB → (un-mixed foreground ``(H, W, 3)``, alpha ``(H, W)``), both float32."""
    rgb = rgb.astype(np.float32)
    background, border_distance = background_colour(rgb)
    spread = float(np.percentile(border_distance, 90))
    if spread > PLAIN_BACKGROUND_LIMIT:
        raise DreamliftError(
            f"the background of {path} is not a plain colour (its border varies by {spread:.2f}): "
            "give an RGBA image with a transparent background, or pip install rembg and use matting rembg"
        )
    distance = np.linalg.norm(rgb - background, axis=-1)
    core = distance > max(MIN_THRESHOLD, 3.0 * spread)
    labels, count = ndimage.label(core, structure=_EIGHT)
    if count == 0:
        raise DreamliftError(
            f"no object found in {path}: every pixel matches the border colour; "
            "give an image of an object on a plain background, or an RGBA image"
        )
    sizes = np.bincount(labels.ravel())[1:]
    solid = ndimage.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))
    alpha = _soft_edge(solid, distance)
    foreground = _unmix(rgb, alpha, background)
    return foreground, alpha


def _soft_edge(solid: np.ndarray, distance: np.ndarray) -> np.ndarray:
    interior = ndimage.binary_erosion(solid, structure=_EIGHT, border_value=0)
    band = ndimage.binary_dilation(solid, structure=_EIGHT) & ~interior
    source = interior if interior.any() else solid  # a thin object has no interior
    reference = ndimage.maximum_filter(np.where(source, distance, 0.0), size=5)
    alpha = interior.astype(np.float32)
    soft = np.clip(distance / np.maximum(reference, 1e-6), 0.0, 1.0)
    soft = np.where(reference > 0.0, soft, solid.astype(np.float32))
    alpha[band] = soft[band]
    return alpha.astype(np.float32)


def _unmix(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Foreground colour ``f`` from ``rgb = α·f + (1 − α)·b`` (0 where ``α = 0``)."""
    a = alpha[..., None]
    safe = np.maximum(a, 1e-6)
    foreground = np.where(a > 0.0, background + (rgb - background) / safe, 0.0)
    return np.clip(foreground, 0.0, 1.0).astype(np.float32)


def rembg_matte(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove the background with ``rembg`` (its model is fetched by rembg itself on first use)."""
    try:
        import rembg  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise DreamliftError("matting rembg needs the rembg package: pip install rembg") from None
    from PIL import Image  # noqa: PLC0415

    image = Image.fromarray(np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))
    try:
        result = rembg.remove(image)
    except Exception as exc:  # rembg failures (model download, onnxruntime) become one line
        raise DreamliftError(f"rembg could not remove the background ({type(exc).__name__}): use matting border") from None
    values = np.asarray(result.convert("RGBA"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(values[..., :3]), np.ascontiguousarray(values[..., 3])
