"""The distillation loop: a plain loop, its state as data, its hooks explicit.

One step: sample cameras and lights → render (skipping empty space) → the guidance's
SDS loss + regularisers (+ any :class:`TrainingHook` losses, e.g. the reference view
of image runs) → Adam step. Every ``occupancy.update_every`` steps the occupancy grid
is refreshed. All randomness comes from one ``torch.Generator`` seeded by
``config.seed`` and saved in checkpoints, so a CPU run, interrupted and resumed,
ends exactly as an uninterrupted one.

Faults: a non-finite loss or gradient skips the step (counted in the log); after
``max_bad_steps`` in a row the run rolls back to its last checkpoint with half the
learning rate. SIGINT/SIGTERM save a checkpoint after the current step and stop with
a message that says how to resume.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from dreamlift import __version__, runtime
from dreamlift._atomic import append_line, write_json, write_png, write_text
from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance
from dreamlift.rendering.cameras import OrbitCameras, sample_cameras
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.renderer import RenderOutput, VolumeRenderer
from dreamlift.rendering.views import PREVIEW_VIEWS
from dreamlift.rendering.shading import ShadingMode, head_lights, sample_lights
from dreamlift.scene.background import Background
from dreamlift.scene.field import NeRFField
from dreamlift.training.checkpoint import load_latest_checkpoint, optimizer_from_tensors, optimizer_to_tensors, prefixed, save_checkpoint
from dreamlift.config_tree import to_dict
from dreamlift.training.config import TrainConfig
from dreamlift.training.run_folder import RUN_FORMAT


def resolve_device(config: TrainConfig) -> torch.device:
    """``config.device`` made concrete; a CUDA request without a GPU is a one-line error."""
    return runtime.resolve_device(config.device, prefer_gpu=config.prior.prefers_gpu)


class RunInterrupted(DreamliftError):
    """The run was stopped by a signal after saving a checkpoint (exit status 130)."""


class EmptyScene(DreamliftError):
    """Training ended with nothing in the scene."""


class TrainingHook(Protocol):
    """Extra loss terms for a step (e.g. the reference-view losses of image runs)."""

    def losses(self, step: int, trainer: "Trainer") -> dict[str, Tensor]: ...


@dataclass
class StepRecord:
    step: int
    loss: float
    sds: float
    t: float
    opacity: float
    evaluated: float
    seconds: float
    extras: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Trains a :class:`NeRFField` in a run folder against a :class:`Guidance`."""

    def __init__(self, config: TrainConfig, folder: Path, guidance: Guidance, kind: str = "text", hooks: list[TrainingHook] | None = None, show_progress: bool = True):
        self.config = config
        self.folder = Path(folder)
        self.guidance = guidance
        self.kind = kind
        self.hooks = list(hooks or [])
        self.show_progress = show_progress
        self.device = resolve_device(config)
        torch.manual_seed(config.seed)
        self.field = NeRFField(config.nerf).to(self.device)
        self.background = Background(config.background).to(self.device)
        self.occupancy = OccupancyGrid(config.occupancy, config.nerf.bound, self.device)
        self.renderer = VolumeRenderer(config.render, self.occupancy)
        encoding_params = list(self.field.encoding.parameters())
        other_params = list(self.field.mlp.parameters()) + list(self.background.parameters())
        self.optimizer = torch.optim.Adam(
            [
                {"params": encoding_params, "lr": config.learning_rate},
                {"params": other_params, "lr": config.mlp_learning_rate},
            ],
            betas=(0.9, 0.99),
            eps=1e-15,
        )
        self.base_learning_rates = [group["lr"] for group in self.optimizer.param_groups]
        self.generator = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.skipped_steps = 0
        self.rollbacks = 0
        self._stop_signal: str | None = None

    # ----------------------------------------------------------------- state
    def state_tensors(self) -> dict[str, Tensor]:
        tensors = {f"field.{k}": v for k, v in self.field.state_dict().items()}
        tensors.update({f"background.{k}": v for k, v in self.background.state_dict().items()})
        tensors.update({f"occupancy.{k}": v for k, v in self.occupancy.state_dict().items()})
        optimizer_tensors, _ = optimizer_to_tensors(self.optimizer)
        tensors.update(optimizer_tensors)
        tensors["generator"] = self.generator.get_state()
        return tensors

    def save(self) -> None:
        _, optimizer_meta = optimizer_to_tensors(self.optimizer)
        meta = {"optimizer": optimizer_meta, "skipped_steps": self.skipped_steps, "rollbacks": self.rollbacks}
        save_checkpoint(self.folder / "checkpoints", self.step, self.state_tensors(), meta)

    def restore(self) -> bool:
        """Load the newest good checkpoint; False when there is none."""
        checkpoint, skipped = load_latest_checkpoint(self.folder / "checkpoints")
        for note in skipped:
            self._say(f"skipping damaged checkpoint {note}")
        if checkpoint is None:
            return False
        t = checkpoint.tensors
        try:
            self.field.load_state_dict(prefixed(t, "field"))
            self.background.load_state_dict(prefixed(t, "background"))
            self.occupancy.load_state_dict(prefixed(t, "occupancy"))
            optimizer_from_tensors(self.optimizer, t, checkpoint.meta["optimizer"])
            self.generator.set_state(t["generator"])
        except (RuntimeError, KeyError, ValueError, TypeError) as error:
            raise DreamliftError(
                f"checkpoint {checkpoint.name} in {self.folder} does not match the run's config.json ({error.__class__.__name__}): "
                "the folder is damaged or mixes two runs; start a new run"
            ) from None
        self.step = checkpoint.step
        self.skipped_steps = int(checkpoint.meta.get("skipped_steps", 0))
        self.rollbacks = int(checkpoint.meta.get("rollbacks", 0))
        return True

    # ----------------------------------------------------------------- run
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

    def run(self, resume: bool = False) -> dict[str, float]:
        """Train to ``config.steps``; returns the last logged values."""
        if resume and self.restore():
            self._truncate_log(self.step)
            self._say(f"resuming {self.folder} at step {self.step}")
        else:
            self.write_config()
            write_text(self.folder / "log.jsonl", "")
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._on_signal)
        try:
            self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.save()
        return self._finish(self.write_previews())

    def _loop(self) -> None:
        config = self.config
        bad_in_a_row = 0
        progress = None
        if self.show_progress:
            from tqdm import tqdm

            progress = tqdm(total=config.steps, initial=self.step, desc="distilling", unit="step", dynamic_ncols=True, leave=False)
        try:
            while self.step < config.steps:
                if self._stop_signal is not None:
                    self.save()
                    raise RunInterrupted(
                        f"stopped by {self._stop_signal} at step {self.step}; checkpoint saved. Resume with the same command and --resume"
                    )
                started = time.perf_counter()
                record = self.train_step()
                if record is None:  # the step is skipped: no update, but it counts as done
                    bad_in_a_row += 1
                    self.skipped_steps += 1
                    self.step += 1
                    self._log({"step": self.step, "event": "skipped non-finite step", "skipped_steps": self.skipped_steps})
                    if bad_in_a_row >= config.max_bad_steps:
                        self._roll_back()
                        bad_in_a_row = 0
                    continue
                bad_in_a_row = 0
                record.seconds = time.perf_counter() - started
                self.step += 1
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{record.loss:.3g}", t=f"{record.t:.2f}")
                if self.step % config.log_every == 0 or self.step == config.steps:
                    self._log(
                        dict(
                            step=self.step, loss=record.loss, sds=record.sds, t=record.t, opacity=record.opacity,
                            evaluated=record.evaluated, seconds=record.seconds, **record.extras,
                        )
                    )
                if self.step % config.checkpoint_every == 0 and self.step < config.steps:
                    self.save()
                if config.preview_every and self.step % config.preview_every == 0 and self.step < config.steps:
                    self.write_previews()
        finally:
            if progress is not None:
                progress.close()

    def shading_for_step(self) -> ShadingMode:
        s = self.config.shading
        if self.step < s.albedo_warmup_steps:
            return ShadingMode.ALBEDO
        draw = float(torch.rand((), generator=self.generator))
        if draw < s.lambertian_probability:
            return ShadingMode.LAMBERTIAN
        share = (draw - s.lambertian_probability) / max(1.0 - s.lambertian_probability, 1e-8)
        return ShadingMode.TEXTURELESS if share < s.textureless_share else ShadingMode.ALBEDO

    def render_training_view(self, cameras: OrbitCameras, shading: ShadingMode) -> RenderOutput:
        s = self.config.shading
        lights = sample_lights(cameras, s.light_jitter, s.ambient, self.generator)
        return self.renderer.render(
            self.field, cameras, self.config.training_view_at(self.step)[0], shading=shading, lights=lights, background=self.background, generator=self.generator
        )

    def train_step(self) -> StepRecord | None:
        """One optimisation step; ``None`` when it was skipped as non-finite."""
        config = self.config
        if self.step % config.occupancy.update_every == 0:
            self.occupancy.update(self.field.density, self.generator)
        cameras = sample_cameras(config.cameras, config.training_view_at(self.step)[1], self.generator)  # drawn on the CPU
        shading = self.shading_for_step()
        out = self.render_training_view(cameras.to(self.device), shading)
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
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not all(torch.isfinite(p.grad).all() for p in params):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        extras = {f"loss_{k}": float(v.detach()) for k, v in terms.items() if k != "sds"}
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

    def _roll_back(self) -> None:
        scale = 0.5
        rollbacks, skipped = self.rollbacks, self.skipped_steps
        if not self.restore():
            raise DreamliftError(
                f"training diverged (non-finite loss or gradient {self.config.max_bad_steps} steps in a row) before the first checkpoint: "
                "lower the learning rate or change --seed"
            )
        self.rollbacks = max(rollbacks, self.rollbacks) + 1
        self.skipped_steps = max(skipped, self.skipped_steps)
        for group, base in zip(self.optimizer.param_groups, self.base_learning_rates):
            group["lr"] = base * scale**self.rollbacks
        self._log({"step": self.step, "event": "rolled back after non-finite steps", "learning_rate_scale": scale**self.rollbacks})
        self._say(f"non-finite steps: rolled back to step {self.step} with learning rate x{scale ** self.rollbacks:g}")

    # ----------------------------------------------------------------- output
    @torch.no_grad()
    def render_previews(self, size: int | None = None) -> RenderOutput:
        size = size or self.config.size
        views = PREVIEW_VIEWS.to(self.device)
        return self.renderer.render(self.field, views, size, shading=ShadingMode.LAMBERTIAN, lights=head_lights(views), stratified=False)

    def write_previews(self) -> RenderOutput:
        """Write the preview strip of the current step; returns the render (reused at the end of a run)."""
        out = self.render_previews()
        strip = torch.cat(list(out.image), dim=1)  # (H, 4W, 3)
        write_png(self.folder / "previews" / f"step-{self.step:06d}.png", strip)
        return out

    def _finish(self, out: RenderOutput) -> dict[str, float]:
        """Refuse an empty scene (from the final previews ``out``); otherwise summarise the run."""
        coverage = float((out.opacity > 0.5).float().mean())
        if coverage < 0.002:
            raise EmptyScene(
                f"the scene is empty after {self.step} steps (opacity below 0.5 everywhere); nothing exported. "
                "Try another --seed, more --steps, or a lower sparsity weight"
            )
        return {"step": self.step, "coverage": coverage, "skipped_steps": self.skipped_steps, "rollbacks": self.rollbacks}

    def _log(self, row: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        append_line(self.folder / "log.jsonl", json.dumps(clean))

    def _truncate_log(self, step: int) -> None:
        path = self.folder / "log.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except ValueError:
                continue  # a torn last line from a crash
        write_text(path, "".join(line + "\n" for line in kept))

    def _on_signal(self, signum, _frame) -> None:
        self._stop_signal = signal.Signals(signum).name

    def _say(self, message: str) -> None:
        sys.stderr.write(message + "\n")
