"""The bundled image prior: the *exact* view-conditioned denoiser of the toy world.

What it is, honestly: a memory of the toy world, like the text prior
(:mod:`dreamlift.guidance.toy`), not a learned model. Given input views (images with
their cameras) it works in two steps.

**1. Which toy object, turned how far, is this?** Every candidate ``(object, turn)``
is weighed by a Gaussian likelihood of the input pixels. A turned object is the
object rotated by ``turn`` degrees about +Y (right-handed: +Z goes toward +X), so its
render from azimuth ``a`` is the unturned object's render from ``a − turn``; an input
photographed from azimuth ``az_in`` of the true object is therefore, in the run's
frame (input camera at azimuth 0), the object turned by ``−az_in``. Each candidate is
rendered at every input camera (head light at the camera, ambient 0.4), framed
exactly as :func:`~dreamlift.inputs.load_reference_image` frames the input (object
box centred, larger side ``1 − border_ratio`` of the image), and compared with the
input over RGB composited on white and alpha::

    log p(views | object, turn) = −Σ_views weight · ‖framed_input − framed_render‖² / 2σ²

Candidates are restricted cheaply first: the image's dominant colour(s) among the
eight (a vote of each object pixel's chromaticity), then the 12 shapes × turns every
``coarse_turn_step`` degrees; the best cells are refined ``refine_factor`` times more
finely. The prior over turns is uniform (each grid point weighs its cell width) and
over shapes uniform. The result is a short list of :class:`ViewCandidate`.

**2. Denoising at a novel camera.** The prediction is the posterior-mean denoiser
of the mixture ``Σ_k w_k · (memorised renders of candidate k near that camera)``:
the memorised renders of each candidate object (``load_render_set``) whose camera,
turned by the candidate's turn, lies within ``azimuth_window`` of the training
camera, each weighted ``w_k / (their number)``; the weights enter the softmax of
the exact denoiser as log-priors. The input views themselves (in the toy world's
framing, see below) join the mixture near their own cameras, weighted as Zero-1-to-3's
views are (:mod:`dreamlift.guidance.view_weights`: angular closeness to the camera
times the table's weight, stable-dreamfusion's scheme), the leading view as heavy
as the heaviest memorised render there, so at the input camera and ``t → 0`` the
denoiser returns the input image. Every input view also constrains which memorised
renders take part: the candidates' posterior is the product of all views' likelihoods.

**Framing.** The loader recentres and rescales the input; the toy world's renders
are not. :func:`native_views` puts each input view back into the framing of the
best candidate's render at its camera (the inverse of the loader's framing), so the
reference-view loss and the prior agree on the object's size and place.

**Outside the toy world** (a photo, a real mesh) the best-matching toy objects
dominate the posterior: the unseen sides come out as those of the nearest toy
object, framed to the input. It is a memory of twelve shapes, not a model of the
world; ``--prior zero123`` is the real one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import MemorisedViews
from dreamlift.guidance.priors import ToyViewPriorConfig
from dreamlift.guidance.toy import RenderSet, ToyPrior, load_render_set, view_window
from dreamlift.guidance.view_weights import conditioning_weights
from dreamlift.inputs.depth import unframe_depth
from dreamlift.inputs.framing import Windows, frame_view_sets, unframe, view_windows
from dreamlift.inputs.image import ReferenceImage
from dreamlift.inputs.views import ViewInput
from dreamlift.rendering.cameras import OrbitCameras, wrap_degrees
from dreamlift.rendering.shading import head_lights

CANDIDATE_AMBIENT = 0.4
"""Ambient term of the head light the candidates are rendered with (the middle of TOYWORLD's range)."""


@dataclass(frozen=True)
class ViewCandidate:
    """One toy object turned about +Y, with its posterior weight."""

    object: object
    """A :class:`~dreamlift.toyworld.ToyObject`."""
    turn: float
    """Degrees about +Y (right-handed); the input azimuth of the true object is ``−turn``."""
    weight: float
    """Posterior weight (the kept candidates sum to 1)."""

    def as_dict(self) -> dict:
        return {"shape": self.object.shape, "color": self.object.color, "turn": self.turn, "weight": self.weight}


def candidates_to_json(candidates: list[ViewCandidate]) -> str:
    return json.dumps({"candidates": [c.as_dict() for c in candidates]}, indent=2) + "\n"


MAX_SAVED_CANDIDATES = 1024
"""Most candidates a saved file holds (``prior.max_candidates`` is at most this)."""


def candidates_from_json(text: str) -> list[ViewCandidate]:
    """Inverse of :func:`candidates_to_json` (a damaged file is a one-line error)."""
    from dreamlift._limits import parse_json
    from dreamlift.toyworld import ToyObject

    damaged = DreamliftError("the toy view prior's candidates file is damaged: start a new run")
    try:
        rows = parse_json(text, "the toy view prior's candidates file")["candidates"]  # 64 levels, 100,000 values at most
        if len(rows) > MAX_SAVED_CANDIDATES:
            raise damaged
        result = [ViewCandidate(ToyObject(r["shape"], r["color"]), float(r["turn"]), float(r["weight"])) for r in rows]
    except (ValueError, KeyError, TypeError, DreamliftError):
        raise damaged from None
    if not all(math.isfinite(c.turn) and math.isfinite(c.weight) and c.weight >= 0 for c in result):
        raise damaged
    if not result:
        raise DreamliftError("the toy view prior's candidates file is empty: start a new run")
    return result


# ----------------------------------------------------------------------------- identification


def dominant_colours(views: list[ViewInput], share: float, limit: int) -> list[str]:
    """Names of the toy colours the object pixels vote for, most voted first.

    Each pixel with alpha > 0.5 votes for the palette colour (the eight, plus the fixed
    part colours, whose votes are not counted) nearest in chromaticity (angle between
    RGB vectors): Lambertian shading under a white light scales a colour, it does not
    turn it.
    """
    from dreamlift.toyworld.colors import BEIGE, BROWN, COLORS, DARK_GRAY

    names = list(COLORS)
    palette = torch.tensor([*COLORS.values(), DARK_GRAY, BROWN, BEIGE])
    palette = palette / palette.norm(dim=-1, keepdim=True)
    votes = torch.zeros(len(palette))
    for view in views:
        rgba = view.image.rgba
        colours = rgba[..., :3][rgba[..., 3] > 0.5]
        if colours.numel() == 0:
            continue
        direction = colours / colours.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        nearest = (direction @ palette.t()).argmax(dim=1)
        votes += torch.bincount(nearest, minlength=len(palette)).float() * float(view.weight)
    named = votes[: len(names)]
    total = float(votes.sum())
    order = torch.argsort(named, descending=True).tolist()
    chosen = [names[i] for i in order[:limit] if total > 0 and float(named[i]) >= share * total]
    return chosen or [names[order[0]]]


def render_candidates(obj, turns: Tensor, cameras: OrbitCameras, size: int) -> Tensor:
    """RGBA ``(T, V, size, size, 4)``: ``obj`` turned by each of ``turns (T,)``, seen from each camera ``(V,)``."""
    from dreamlift.toyworld import render

    count, views = turns.numel(), len(cameras)
    azimuth = (cameras.azimuth[None, :] - turns[:, None]).reshape(-1)
    tiled = OrbitCameras(
        cameras.elevation.repeat(count), azimuth, cameras.radius.repeat(count), cameras.fovy.repeat(count)
    )
    rgba = render(obj, tiled, size=size, lights=head_lights(tiled, CANDIDATE_AMBIENT), supersample=2)
    return rgba.reshape(count, views, size, size, 4)


def _comparable(rgba: Tensor) -> Tensor:
    """``(..., 4)`` straight RGBA → RGB on white and alpha, the values the likelihood compares."""
    alpha = rgba[..., 3:]
    return torch.cat((rgba[..., :3] * alpha + (1.0 - alpha), alpha), dim=-1)


@dataclass
class Identification:
    """The posterior over toy candidates and the best candidate's native renders."""

    candidates: list[ViewCandidate]
    """Kept candidates, heaviest first, weights summing to 1."""
    best_renders: Tensor
    """``(V, H, W, 4)``: the heaviest candidate seen from each input camera, unframed."""


def identify(views: list[ViewInput], config: ToyViewPriorConfig, border_ratio: float, recentre: bool = True) -> Identification:
    """Weigh toy candidates by how well they explain ``views`` (framed as the loader frames them: each set of
    renders of a candidate at the input cameras shares one framing, as a view table's images do)."""
    from dreamlift.toyworld import SHAPE_NAMES, ToyObject

    config.validate()
    if not views:
        raise DreamliftError("the toy view prior needs at least one input view")
    size = views[0].image.size
    cameras = OrbitCameras.cat([v.camera for v in views])
    weights = torch.tensor([float(v.weight) for v in views])
    inputs = _comparable(torch.stack([v.image.rgba for v in views]))  # (V, H, W, 4)
    scale = 1.0 / (2.0 * config.pixel_sigma**2)

    def score(obj, turns: Tensor) -> tuple[Tensor, Tensor]:
        rgba = render_candidates(obj, turns, cameras, size)
        framed = frame_view_sets(rgba, cameras, size, border_ratio, recentre)
        error = ((_comparable(framed) - inputs[None]) ** 2).sum(dim=(2, 3, 4))  # (T, V)
        return -(error * weights[None]).sum(1) * scale, rgba

    coarse = config.coarse_turn_step
    turns = torch.arange(-180.0, 180.0, coarse)
    objects = [ToyObject(shape, colour) for colour in dominant_colours(views, config.colour_share, config.max_colours) for shape in SHAPE_NAMES]
    rows: list[tuple[int, float, float, float]] = []  # (object index, turn, log posterior, cell width)
    for index, obj in enumerate(objects):
        log_lik, _ = score(obj, turns)
        rows += [(index, float(t), float(l) + math.log(coarse), coarse) for t, l in zip(turns, log_lik)]
    if config.refine_factor > 1:
        fine = coarse / config.refine_factor
        half = config.refine_factor // 2
        best = sorted(rows, key=lambda r: -r[2])[: config.refine_count]
        for index, centre, _, _ in best:
            rows = [r for r in rows if not (r[0] == index and r[1] == centre and r[3] == coarse)]
            fine_turns = centre + fine * torch.arange(-half, half + 1, dtype=torch.float32)
            log_lik, _ = score(objects[index], fine_turns)
            rows += [(index, float(wrap_degrees(t)), float(l) + math.log(fine), fine) for t, l in zip(fine_turns, log_lik)]
    log_post = torch.tensor([r[2] for r in rows], dtype=torch.float64)
    posterior = torch.softmax(log_post, dim=0)
    order = torch.argsort(posterior, descending=True).tolist()
    kept, kept_objects = [], []
    for i in order:
        obj_index = rows[i][0]
        if float(posterior[i]) < config.min_weight or len(kept) >= config.max_candidates:
            break
        if obj_index not in kept_objects:
            if len(kept_objects) >= config.max_objects:
                continue
            kept_objects.append(obj_index)
        kept.append((objects[obj_index], rows[i][1], float(posterior[i])))
    total = sum(w for _, _, w in kept)
    candidates = [ViewCandidate(obj, turn, w / total) for obj, turn, w in kept]
    _, best_renders = score(candidates[0].object, torch.tensor([candidates[0].turn]))
    return Identification(candidates, best_renders[0])


def place_in_box(framed: Tensor, box: tuple[float, float, float, float], border_ratio: float) -> Tensor:
    """Undo the loader's framing: ``(S, S, 4)`` framed RGBA → ``(S, S, 4)`` with its object filling ``box``.

    ``box`` is ``(x0, y0, x1, y1)`` in output pixels (:func:`~dreamlift.inputs.framing.object_box`).
    The framed square of side ``max(box)/(1 − border_ratio)`` centred on the box is
    resampled (premultiplied, area-averaged) into place; the rest is transparent.
    """
    size = framed.shape[0]
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) / (1.0 - border_ratio)
    as_tensor = lambda v: torch.tensor([float(v)], dtype=torch.float64)  # noqa: E731
    window = Windows(as_tensor(0.5 * (x0 + x1) - 0.5 * side), as_tensor(0.5 * (y0 + y1) - 0.5 * side), as_tensor(side))
    return unframe(framed[None], window, size, size)[0]


def native_views(views: list[ViewInput], best_renders: Tensor, border_ratio: float, recentre: bool = True) -> list[ViewInput]:
    """The input views in the toy world's framing: the framing the loader gave them, undone as it frames the
    best candidate's renders ``(V, H, W, 4)`` at the input cameras."""
    cameras = OrbitCameras.cat([v.camera for v in views])
    windows = view_windows(best_renders[..., 3], cameras, border_ratio, recentre)
    height, width = best_renders.shape[1], best_renders.shape[2]
    native = unframe(torch.stack([v.image.rgba for v in views]), windows, height, width)
    result = []
    for index, (view, placed) in enumerate(zip(views, native)):
        image = ReferenceImage(rgba=placed, source_size=view.image.source_size, matting=view.image.matting, path=view.image.path)
        depth = None
        if view.depth is not None:
            depth = unframe_depth(view.depth[None], view.image.mask[None], windows[index], height, width)[0]
        result.append(ViewInput(image=image, camera=view.camera, weight=view.weight, depth=depth))
    return result


# ----------------------------------------------------------------------------- the prior


def at_resolution(image: Tensor, size: int) -> Tensor:
    """``image (H, H, 3)`` in the toy framing resampled to ``(size, size, 3)`` (area-weighted: antialiased bilinear).

    The framing does not depend on the size, so a 32-pixel input view is the same picture as a
    64-pixel one, only coarser: the refinement stage's prior (64 px) takes the 32-px inputs of stage 1.
    """
    if image.shape[0] == size:
        return image
    moved = torch.nn.functional.interpolate(image.permute(2, 0, 1)[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return moved[0].permute(1, 2, 0).clamp(0.0, 1.0)


def weighted_posterior_mean(x_t: Tensor, alpha_bar: Tensor, renders: Tensor, log_prior: Tensor) -> Tensor:
    """Exact ``x̂0`` of the mixture ``Σ_i π_i δ(x − x_i)`` for ``x_t (B, D)``; ``log_prior (B, N)`` is ``log π``.

    The same closed form as :func:`~dreamlift.guidance.toy.posterior_mean`, with
    weights; ``−inf`` entries take no part.
    """
    a = alpha_bar[:, None]
    logits = (2.0 * a.sqrt() * (x_t @ renders.t()) - a * (renders * renders).sum(1)[None]) / (2.0 * (1.0 - a))
    return torch.softmax(logits + log_prior, dim=1) @ renders


class ToyViewPrior(ToyPrior):
    """The exact view-conditioned denoiser of the toy world (see the module docstring).

    ``candidates`` come from :func:`identify` (or a saved run); ``references`` are the
    input views in the toy world's framing (:func:`native_views`). Classifier-free
    guidance, when ``config.guidance_scale != 1``, uses the text prior's unconditional
    set of all toy objects.
    """

    def __init__(
        self,
        candidates: list[ViewCandidate],
        references: list[ViewInput],
        config: ToyViewPriorConfig | None = None,
    ):
        if not candidates:
            raise DreamliftError("the toy view prior needs at least one candidate object")
        super().__init__(candidates[0].object, config or ToyViewPriorConfig())  # memory of the best object (+ CFG set)
        self.candidates = list(candidates)
        c = self.config
        objects = list(dict.fromkeys(cand.object for cand in candidates))
        sets = [self.renders] + [load_render_set(o, c.renders_per_object, c.resolution, c.seed, c.supersample) for o in objects[1:]]
        self.memory = RenderSet(torch.cat([s.images for s in sets]), torch.cat([s.elevation for s in sets]), torch.cat([s.azimuth for s in sets]))
        self.memory_object = torch.cat([torch.full((s.images.shape[0],), i) for i, s in enumerate(sets)])
        self.candidate_object = torch.tensor([objects.index(cand.object) for cand in candidates])
        self.candidate_turn = torch.tensor([cand.turn for cand in candidates], dtype=torch.float32)
        self.candidate_weight = torch.tensor([cand.weight for cand in candidates], dtype=torch.float32)
        images = [at_resolution(v.image.rgb_on_white, self.resolution) for v in references]  # stage 2 renders at 64 px from 32-px inputs
        self.reference_images = torch.stack([i.reshape(-1) * 2.0 - 1.0 for i in images]) if references else torch.zeros(0, self.memory.images.shape[1])
        self.reference_elevation = torch.tensor([float(v.camera.elevation[0]) for v in references])
        self.reference_azimuth = torch.tensor([float(v.camera.azimuth[0]) for v in references])
        self.reference_weight = torch.tensor([float(v.weight) for v in references])
        self.reference_cameras = OrbitCameras.cat([v.camera for v in references]) if references else OrbitCameras(*(torch.zeros(0) for _ in range(4)))

    def memorised_views(self) -> MemorisedViews:
        """The best candidate's memorised cameras and lights, turned as that candidate is (its renders' place in the scene)."""
        return super().memorised_views().turned(float(self.candidates[0].turn))

    def log_prior(self, cameras: OrbitCameras) -> Tensor:
        """``(B, N + R)`` log weights of the memorised renders and the input views for each camera."""
        weight = torch.zeros(len(cameras), self.memory.images.shape[0])
        for obj, turn, w in zip(self.candidate_object.tolist(), self.candidate_turn, self.candidate_weight):
            near = view_window(self.memory.elevation, self.memory.azimuth + turn, cameras, self.config) & (self.memory_object == obj)[None]
            weight += w * near / near.sum(1, keepdim=True).clamp_min(1)
        heaviest = weight.max(dim=1, keepdim=True).values
        near_input = view_window(self.reference_elevation, self.reference_azimuth, cameras, self.config, nearest=False)
        if len(self.reference_cameras) == 0:
            return weight.log()
        closeness = conditioning_weights(cameras, self.reference_cameras, self.reference_weight)  # (B, R), rows sum to 1
        leading = closeness / closeness.amax(dim=1, keepdim=True).clamp_min(1e-12)
        reference = self.config.reference_weight * leading * heaviest * near_input
        return torch.cat((weight, reference), dim=1).log()

    def denoise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras, renders: RenderSet | None = None) -> Tensor:
        """``x̂0`` for ``x_t (B, D)``: the weighted mixture near each camera (``renders``: the CFG set)."""
        if renders is not None:
            return super().denoise(x_t, timesteps, cameras, renders)
        alpha_bar = self.alphas_cumprod[timesteps]
        memory = torch.cat((self.memory.images, self.reference_images))
        return weighted_posterior_mean(x_t, alpha_bar, memory, self.log_prior(cameras))
