"""Stage 1: a representation distilled from the guidance (the loop itself is :mod:`dreamlift.distillation.loop`).

The scene is the run's :class:`~dreamlift.representation.base.Representation` (``representation.name``:
a NeRF, or 3D Gaussians). One step: the representation's ``before_step`` (the NeRF refreshes its
occupancy grid) → sample cameras and lights → render → the guidance's SDS loss + regularisers
(+ any :class:`TrainingHook` losses, e.g. the reference view of image runs) → Adam step → its
``after_step`` (the Gaussians densify and prune). All randomness comes from one ``torch.Generator`` seeded by
``config.seed`` and saved in checkpoints. The stage's files are the run folder's
``checkpoints/``, ``log.jsonl`` and ``previews/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from dreamlift import __version__
from dreamlift._atomic import write_json, write_png, write_text
from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.renderer import RenderOutput
from dreamlift.rendering.views import PREVIEW_VIEWS
from dreamlift.rendering.shading import Lights, ShadingMode, head_lights
from dreamlift.distillation.loop import DistillationLoop, guidance_extras, RunInterrupted, StepRecord, adam
from dreamlift.config_tree import to_dict
from dreamlift.training.config import TrainConfig
from dreamlift.distillation.sampling import draw_lights, draw_shading, draw_views, resolve_device
from dreamlift.training.run_folder import RUN_FORMAT


class EmptyScene(DreamliftError):
    """Training ended with nothing in the scene."""


class TrainingHook(Protocol):
    """Extra loss terms for a step (e.g. the reference-view losses of image runs)."""

    def losses(self, step: int, trainer: "Trainer") -> dict[str, Tensor]: ...


class Trainer(DistillationLoop):
    """Trains the run's representation in a run folder against a :class:`Guidance`."""

    def __init__(self, config: TrainConfig, folder: Path, guidance: Guidance, kind: str = "text", hooks: list[TrainingHook] | None = None, show_progress: bool = True):
        super().__init__(Path(folder), config, show_progress)
        self.config = config
        self.folder = Path(folder)
        self.guidance = guidance
        self.kind = kind
        self.hooks = list(hooks or [])
        self.device = resolve_device(config)
        torch.manual_seed(config.seed)
        self.representation = config.representation.setup(config, self.device)
        self._memorised = guidance.memorised_views() if config.views == "memorised" else None
        self.optimizer = adam(self.representation.parameter_groups())
        self.remember_learning_rates()
        self.generator = torch.Generator().manual_seed(config.seed)

    # ----------------------------------------------------------------- the representation
    @property
    def field(self):
        """The representation's :class:`~dreamlift.scene.field.Field` view."""
        return self.representation.field

    @property
    def background(self):
        return self.representation.background

    @property
    def occupancy(self):
        """The occupancy grid of volume renders of the field (the NeRF's own; made from the Gaussians' density)."""
        return self.representation.occupancy

    # ----------------------------------------------------------------- state
    def checkpointed(self) -> dict[str, object]:
        return self.representation.checkpointed()

    def load_model_tensors(self, tensors: dict[str, Tensor]) -> None:
        """Load the representation's parts, then hand the optimiser its (possibly resized, so new) parameters."""
        super().load_model_tensors(tensors)
        for group, fresh in zip(self.optimizer.param_groups, self.representation.parameter_groups(), strict=True):
            group["params"] = list(fresh["params"])
        self.optimizer.state.clear()  # the checkpoint's optimiser state is loaded next

    def write_config(self) -> None:
        record = {
            "kind": self.kind,
            "format": RUN_FORMAT,
            "dreamlift_version": __version__,
            "torch_version": torch.__version__,
            "python_version": sys.version.split()[0],
            "config": to_dict(self.config),
        }
        write_json(self.folder / "config.json", record)

    def start_fresh(self) -> None:
        self.write_config()
        write_text(self.folder / "log.jsonl", "")

    def shading_for_step(self) -> ShadingMode:
        return draw_shading(self.config.shading, self.step, self.generator)

    def render_training_view(self, cameras: OrbitCameras, shading: ShadingMode, lights: Lights | None = None) -> RenderOutput:
        """The field from ``cameras`` at this step's size; ``lights`` (None: drawn as ``config.shading`` says)."""
        if lights is None:
            lights = draw_lights(cameras, self.config.shading, self.generator)
        size = self.config.training_view_at(self.step)[0]
        return self.representation.render(cameras, size, shading, lights, self.background, self.generator, purpose="train")

    def render_reference(self, cameras: OrbitCameras, size: int, shading: ShadingMode, lights) -> RenderOutput:
        """The scene from an image run's input cameras, on white (the reference-view losses' render)."""
        return self.representation.render(cameras, size, shading, lights, None, self.generator, purpose="reference")

    def train_step(self) -> StepRecord | None:
        """One optimisation step; ``None`` when it was skipped as non-finite."""
        config = self.config
        self.representation.before_step(self.step, self.optimizer, self.generator)
        cameras, lights = draw_views(self._memorised, config.cameras, config.training_view_at(self.step)[1], self.generator)  # on the CPU
        shading = self.shading_for_step()
        out = self.render_training_view(cameras.to(self.device), shading, None if lights is None else lights.to(self.device))
        guided = self.guidance(out.image, cameras, progress=self.step / config.steps, generator=self.generator)
        opacity = out.opacity.clamp(1e-5, 1.0 - 1e-5)
        terms = {"sds": guided.loss}
        orientation_weight = config.losses.orientation.at(self.step)
        if orientation_weight > 0:
            terms["orientation"] = orientation_weight * out.orientation
        if config.losses.opacity > 0:
            terms["opacity"] = config.losses.opacity * opacity.mean()
        entropy_weight = config.losses.entropy.at(self.step)
        if entropy_weight > 0:
            entropy = -(opacity * opacity.log() + (1 - opacity) * (1 - opacity).log()).sum((1, 2, 3)).mean()
            terms["entropy"] = entropy_weight * entropy
        for hook in self.hooks:
            terms.update(hook.losses(self.step, self))
        loss = self.backward_and_step(terms)
        if loss is None:
            return None
        extras = {f"loss_{k}": float(v.detach()) for k, v in terms.items() if k != "sds"}
        extras.update(guidance_extras(self.guidance))
        extras.update(self.representation.after_step(self.step, self.optimizer, self.generator))
        return StepRecord(
            step=self.step,
            loss=float(loss.detach()),
            sds=float(guided.loss.detach()),
            t=float(guided.timesteps.float().mean()) / self.guidance.num_train_timesteps,
            opacity=float(out.opacity.detach().mean()),
            evaluated=out.evaluated_fraction,
            seconds=0.0,
            extras=extras,
        )

    # ----------------------------------------------------------------- output
    @torch.no_grad()
    def render_previews(self, size: int | None = None) -> RenderOutput:
        size = size or self.config.size
        views = PREVIEW_VIEWS.to(self.device)
        return self.representation.render(views, size, ShadingMode.LAMBERTIAN, head_lights(views), None, None, purpose="preview")

    def write_previews(self) -> RenderOutput:
        """Write the preview strip of the current step; returns the render (reused at the end of a run)."""
        out = self.render_previews()
        strip = torch.cat(list(out.image), dim=1)  # (H, 4W, 3)
        write_png(self.folder / "previews" / f"step-{self.step:06d}.png", strip)
        return out

    def finish(self, out: RenderOutput) -> dict[str, float]:
        """Refuse an empty scene (from the final previews ``out``); otherwise summarise the run."""
        coverage = float((out.opacity > 0.5).float().mean())
        if coverage < 0.002:
            raise EmptyScene(
                f"the scene is empty after {self.step} steps (opacity below 0.5 everywhere); nothing exported. "
                "Try another --seed, more --steps, or a lower sparsity weight"
            )
        files = self.representation.write_files(self.folder)
        return {"step": self.step, "coverage": coverage, "skipped_steps": self.skipped_steps, "rollbacks": self.rollbacks, "files": files}
