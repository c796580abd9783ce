"""Training data of the learned priors: toy-world renders, their captions, view pairs and poses.

The renders are exactly the toy prior's memory (:func:`dreamlift.guidance.toy.load_render_set`:
TOYWORLD.md's camera distribution with stratified azimuths, its jittered head lights,
white background, cached on disk), made at the learned prior's size for every one of the
96 objects. Render ``n`` shows object ``n // per_object`` from camera ``n``.

* Captions (text prior): ``caption(obj) + view_suffix(el, az)``, e.g. "a red cube, side view"
  (the training cameras never reach the overhead view).
* View pairs (view prior): an input and a target render of the same object, and the pose
  of the target relative to the input, :func:`dreamlift.guidance.relative_pose.pose_embedding`
  (Zero-1-to-3's ``(Δpolar, sin Δaz, cos Δaz, Δr)``), as the guidance computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras


@dataclass
class DataConfig:
    """Which renders are made."""

    renders_per_object: int = 64
    """Views of each of the 96 objects (stratified in azimuth)."""
    supersample: int = 2
    """Anti-aliasing subpixels per side."""
    seed: int = 1
    """Seed of the cameras and lights (the toy prior's memory uses 0)."""


@dataclass
class ToyRenders:
    """Every object's renders: ``images (N, 3, S, S)`` in [−1, 1], ``cameras (N,)``, ``objects (K,)``, ``N = K · per_object``."""

    images: Tensor
    cameras: OrbitCameras
    objects: list
    per_object: int

    def __len__(self) -> int:
        return self.images.shape[0]

    def captions(self) -> list[str]:
        """Each render's caption with its view suffix ("a red cube, front view")."""
        from dreamlift.toyworld import caption, view_suffix

        elevation, azimuth = self.cameras.elevation.tolist(), self.cameras.azimuth.tolist()
        return [caption(self.objects[n // self.per_object]) + view_suffix(elevation[n], azimuth[n]) for n in range(len(self))]


def load_renders(config: DataConfig, resolution: int) -> ToyRenders:
    """The renders of all 96 objects at ``resolution`` px (from the toy prior's cache, or made now and cached)."""
    from dreamlift.guidance.toy import load_render_set, memorised_cameras
    from dreamlift.toyworld import all_objects

    objects = all_objects()
    count = config.renders_per_object
    images = []
    for obj in objects:
        flat = load_render_set(obj, count, resolution, config.seed, config.supersample).images
        images.append(flat.reshape(count, resolution, resolution, 3).permute(0, 3, 1, 2))
    cameras = memorised_cameras(count, config.seed)  # the same for every object
    every = OrbitCameras.cat([cameras] * len(objects))
    return ToyRenders(torch.cat(images).contiguous(), every, objects, count)


def caption_ids(texts: list[str], tokenizer, max_length: int) -> Tensor:
    """``(N, max_length)`` token ids, padded as the guidance pads (``padding="max_length"``, truncated)."""
    tokens = tokenizer(texts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
    return tokens.input_ids


def clip_pixels(images: Tensor, size: int, mean, std, chunk: int = 512) -> Tensor:
    """Images ``(N, 3, S, S)`` in [−1, 1] → CLIP inputs ``(N, 3, size, size)``, preprocessed as
    :meth:`dreamlift.guidance.zero123.Zero123Guidance.set_references` does (bicubic antialiased
    resize in [0, 1], clamp, normalise by ``mean``/``std``)."""
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    out = []
    for part in images.split(chunk):
        x = ((part + 1.0) / 2.0).clamp(0.0, 1.0)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(0.0, 1.0)
        out.append((x - mean_t) / std_t)
    return torch.cat(out)


def sample_pairs(renders: ToyRenders, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``(inputs, targets)`` render indices ``(count,)``: the same object, two independent views of it (maybe equal)."""
    per = renders.per_object
    obj = torch.randint(len(renders.objects), (count,), generator=generator)
    first = torch.randint(per, (count,), generator=generator)
    second = torch.randint(per, (count,), generator=generator)
    return obj * per + first, obj * per + second


def pair_poses(renders: ToyRenders, inputs: Tensor, targets: Tensor) -> Tensor:
    """``(B, 4)`` Zero-1-to-3 pose of each target camera relative to its input camera."""
    from dreamlift.guidance.relative_pose import PoseEmbedding, pose_embedding

    return pose_embedding(renders.cameras[inputs], renders.cameras[targets], PoseEmbedding.ZERO123, 1.0)
