"""Each step's random draws, the same in both stages: cameras (in ranges or among a prior's memorised
views), jittered head lights, and the shading of the render; and the run's device."""

from __future__ import annotations

import torch

from dreamlift import runtime
from dreamlift.guidance.base import MemorisedViews
from dreamlift.rendering.cameras import OrbitCameras, sample_cameras
from dreamlift.rendering.settings import CameraRanges, ShadingSchedule
from dreamlift.rendering.shading import Lights, ShadingMode, sample_lights


def resolve_device(config) -> torch.device:
    """``config.device`` (a run's ``TrainConfig``) made concrete; a CUDA request without a GPU is a one-line error."""
    return runtime.resolve_device(config.device, prefer_gpu=config.prior.prefers_gpu)


def draw_views(memorised: MemorisedViews | None, ranges: CameraRanges, count: int, generator: torch.Generator) -> tuple[OrbitCameras, Lights | None]:
    """``count`` training cameras: among ``memorised`` views with their lights, or (None) in ``ranges`` with lights None (to draw)."""
    if memorised is None:
        return sample_cameras(ranges, count, generator), None
    views = memorised[torch.randint(len(memorised), (count,), generator=generator)]
    return views.cameras, views.lights


def draw_lights(cameras: OrbitCameras, schedule: ShadingSchedule, generator: torch.Generator) -> Lights:
    """Jittered head lights for ``cameras``, as ``schedule`` says (stage 1's and the refinement's random lights)."""
    return sample_lights(cameras, schedule.light_jitter, schedule.ambient, generator)


def draw_shading(schedule: ShadingSchedule, step: int, generator: torch.Generator) -> ShadingMode:
    """The shading of step ``step``'s render: albedo during warm-up, then Lambertian / textureless / albedo by one draw."""
    if step < schedule.albedo_warmup_steps:
        return ShadingMode.ALBEDO
    draw = float(torch.rand((), generator=generator))
    if draw < schedule.lambertian_probability:
        return ShadingMode.LAMBERTIAN
    share = (draw - schedule.lambertian_probability) / max(1.0 - schedule.lambertian_probability, 1e-8)
    return ShadingMode.TEXTURELESS if share < schedule.textureless_share else ShadingMode.ALBEDO
