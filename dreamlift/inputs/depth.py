"""Depth maps of input views: read from a file (``--depth``) or estimated by a DPT model (``--depth-model``).

A depth map supervises the input view's geometry up to scale and offset
(:mod:`dreamlift.distillation.reference`: ``1 − Pearson`` of depths, and the normals of the
depth map once its scale and offset are fitted to the render), so any monocular
estimate works. Conventions: **larger = farther** (depth, not disparity), row 0 on
top, the same pixels as the image it belongs to.

* :func:`read_depth_map`: ``.npy`` (a 2-D float array) or a one-channel image (8- or
  16-bit PNG, TIFF, float ``F``); ``disparity=True`` reads larger = nearer and negates it.
* :func:`estimate_depth`: a ``DPTForDepthEstimation`` folder or hub id through
  transformers (Ranftl et al., arXiv 2103.13413; stable-dreamfusion's preprocessing
  estimates depth with DPT too). The image over white is resized to the model's
  ``image_size``, normalised with the folder's ``preprocessor_config.json`` (DPT's 0.5/0.5
  when absent), and the prediction is resized back. MiDaS-trained DPTs (``Intel/dpt-large``,
  ``Intel/dpt-hybrid-midas``) predict *relative inverse* depth, so by default the output is
  read as disparity and negated (over one object's range of distances, ``−1/z`` is nearly
  affine in ``z``, which is all the scale-and-offset-free losses need).
* :func:`frame_depth`: the framing of its image (:mod:`dreamlift.inputs.framing`) applied to
  the depth, normalised to [0, 1] over the object and averaged with the alpha as weight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.inputs.framing import Windows, frame_windows, unframe

DPT_INSTALL = "pip install 'dreamlift[diffusers]' (transformers)"


def _check_depth_size(path: Path, values: int) -> None:
    """A depth map holds at most as many values as an input image may have pixels (8192x8192)."""
    from dreamlift.inputs.image import MAX_PIXELS, _limit_text

    if values > MAX_PIXELS:
        raise DreamliftError(f"depth map {path} holds {values} values, over the limit of {_limit_text()}: downscale it first")


def read_depth_map(path: str | Path, disparity: bool = False) -> Tensor:
    """``(H, W)`` float32 depth (larger = farther) from ``path`` (module doc); bad files are one-line errors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DreamliftError(f"depth map {path} does not exist: give a .npy array or a one-channel PNG of the image's size")
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False, mmap_mode="r")  # the header only: the size is checked before reading
        except (ValueError, OSError):
            raise DreamliftError(f"depth map {path} is not a readable .npy array (object arrays are refused)") from None
        _check_depth_size(path, values.size)
        if values.dtype.kind not in "fiu":
            raise DreamliftError(f"depth map {path} holds {values.dtype} values, not numbers")
        values = np.squeeze(values)
    else:
        from PIL import Image

        try:
            with Image.open(path) as image:
                _check_depth_size(path, image.size[0] * image.size[1])  # from the header, before any pixel is decoded
                image.load()
                if image.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F"):
                    raise DreamliftError(f"depth map {path} is a {image.mode} image: give one channel (8- or 16-bit grayscale PNG, or .npy)")
                values = np.asarray(image.convert("F") if image.mode != "F" else image, dtype=np.float32)
        except DreamliftError:
            raise
        except Exception:
            raise DreamliftError(f"depth map {path} cannot be read: give a one-channel PNG or a .npy array") from None
    if values.ndim != 2:
        raise DreamliftError(f"depth map {path} has shape {tuple(values.shape)}: give one value per pixel, (height, width)")
    depth = torch.from_numpy(np.array(values, dtype=np.float32))
    if not torch.isfinite(depth).all():
        raise DreamliftError(f"depth map {path} has non-finite values (NaN or inf): fill them in first")
    if float(depth.max() - depth.min()) <= 0:
        raise DreamliftError(f"depth map {path} is flat (one value everywhere): it says nothing about shape")
    return -depth if disparity else depth


def fit_to_image(depth: Tensor, height: int, width: int, source_size: tuple[int, int], where: str) -> Tensor:
    """``depth`` at the image's working size: it must have the file's own size ``source_size (W, H)``."""
    if tuple(depth.shape) != (source_size[1], source_size[0]):
        raise DreamliftError(
            f"{where} is {depth.shape[1]}x{depth.shape[0]} pixels but the image is {source_size[0]}x{source_size[1]}: "
            "give a depth map of the image's own size"
        )
    if tuple(depth.shape) == (height, width):
        return depth
    return F.interpolate(depth[None, None], size=(height, width), mode="area")[0, 0]


def estimate_depth(rgba: Tensor, model: str, disparity: bool = True, allow_network: bool = False) -> Tensor:
    """``(H, W)`` depth (larger = farther) of the straight-alpha image ``rgba (H, W, 4)`` from a DPT model."""
    try:
        from transformers import DPTForDepthEstimation
    except ImportError:
        raise DreamliftError(f"--depth-model needs transformers: {DPT_INSTALL}") from None
    from dreamlift.hub import hub_offline, loading_errors

    with hub_offline(not allow_network), loading_errors(model, "DPT depth model"):
        network = DPTForDepthEstimation.from_pretrained(model, local_files_only=not allow_network).eval()
    mean, std = _dpt_normalisation(Path(model).expanduser())
    height, width = rgba.shape[:2]
    alpha = rgba[..., 3:]
    on_white = (rgba[..., :3] * alpha + (1.0 - alpha)).permute(2, 0, 1)[None]
    side = int(network.config.image_size) if isinstance(network.config.image_size, int) else int(network.config.image_size[0])
    pixels = F.interpolate(on_white, size=(side, side), mode="bicubic", align_corners=False).clamp(0.0, 1.0)
    pixels = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        predicted = network(pixel_values=pixels).predicted_depth
    depth = F.interpolate(predicted[:, None].float(), size=(height, width), mode="bicubic", align_corners=False)[0, 0]
    return -depth if disparity else depth


def _dpt_normalisation(folder: Path) -> tuple[tuple, tuple]:
    config = folder / "preprocessor_config.json"
    if config.is_file():
        try:
            from dreamlift._limits import read_json

            data = read_json(config)
            return tuple(float(v) for v in data["image_mean"]), tuple(float(v) for v in data["image_std"])
        except (ValueError, KeyError, TypeError):
            raise DreamliftError(f"{config} is not a valid image processor config: re-download the model") from None
    return (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def normalised(depth: Tensor, alpha: Tensor) -> Tensor:
    """``depth`` mapped to [0, 1] by its range over the object (``alpha > 0.5``; the whole image if that is empty)."""
    inside = depth[alpha > 0.5] if bool((alpha > 0.5).any()) else depth.flatten()
    low, high = inside.min(), inside.max()
    return ((depth - low) / (high - low).clamp_min(1e-8)).clamp(0.0, 1.0)


def frame_depth(depths: Tensor, alpha: Tensor, windows: Windows, size: int) -> Tensor:
    """``(N, H, W)`` depths framed like their images (``alpha (N, H, W)``, ``windows``) → ``(N, size, size)`` in [0, 1]."""
    values = torch.stack([normalised(d, a) for d, a in zip(depths, alpha)])
    stacked = torch.stack((values, values, values, alpha.float()), dim=-1)
    return frame_windows(stacked, windows, size)[..., 0]


def unframe_depth(depths: Tensor, alpha: Tensor, windows: Windows, height: int, width: int) -> Tensor:
    """Inverse of :func:`frame_depth` for framed ``depths (N, S, S)`` with their framed ``alpha``."""
    stacked = torch.stack((depths, depths, depths, alpha.float()), dim=-1)
    return unframe(stacked, windows, height, width)[..., 0]
