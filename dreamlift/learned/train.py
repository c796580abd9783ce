"""The training loop of the learned priors: the VAE first, then the UNet on its latents.

Phase ``vae``: ``AutoencoderKL`` on the renders, L1 reconstruction of a posterior sample
plus ``kl_weight`` times the KL per latent element. At its end the latent means of every
render are computed once and the VAE's ``scaling_factor`` is set to ``1 / std`` of them.

Phase ``unet``: ε-prediction on the scaled latents, ``x_t = √ᾱ x₀ + √(1−ᾱ) ε``, t uniform in
[0, 1000), MSE with min-SNR weighting (``snr_gamma``, diffusers' ``compute_snr``), the
conditioning encoder trained with the UNet (there is no pretrained CLIP here):

* ``text``: the caption with its view suffix through the ``CLIPTextModel``; with
  probability ``condition_dropout`` the empty caption (the guidance's unconditional branch).
* ``view``: ``proj([CLIP(input view), pose])`` as one token and the input view's unscaled
  latent as 4 more UNet channels; with probability ``condition_dropout`` both are zeros
  (exactly Zero-1-to-3's unconditional branch in :mod:`dreamlift.guidance.zero123`).

Determinism: every random draw (batches, noise, timesteps, dropout) comes from one CPU
``torch.Generator`` seeded with the run's seed, whose state is checkpointed, so a resumed
CPU run reaches the same weights, bit for bit, as one that was never stopped. Ctrl-C
(SIGINT) finishes the current step, checkpoints and raises :class:`TrainingInterrupted`.

The learning rate warms up linearly over ``warmup_steps``, then follows a cosine to 10 %
at the phase's last step (``--steps`` on a resumed run reshapes the rest of that curve).

Moving average (``ema_decay``, as diffusers' training scripts' ``--use_ema``): the UNet
phase keeps diffusers' ``EMAModel`` of its weights (UNet and conditioning encoder), updated
after every step with decay ``min(ema_decay, (1 + n) / (10 + n))`` at its n-th update
(0 at the first). It is checkpointed with the rest, and ``model/`` holds the average, not
the last step's weights. A checkpoint written before this existed resumes with the average
starting at its step.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import tempfile
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.learned.checkpoint import Checkpoint, load_checkpoint, restore, save_checkpoint
from dreamlift.learned.data import DataConfig, ToyRenders, caption_ids, clip_pixels, load_renders, pair_poses, sample_pairs
from dreamlift.learned.models import SIZES, Components, ModelSizes, build_components, noise_scheduler

KINDS = ("text", "view")
PHASES = ("vae", "unet")
EMA_PREFIX = "ema."
"""Checkpoint names of the moving average's tensors: ``ema.<index>`` in :meth:`Trainer._unet_parameters` order."""


@dataclass
class TrainingConfig:
    """Everything that decides a training run (saved as ``DIR/config.json``)."""

    kind: str = "text"
    """``text`` (Stable Diffusion layout) or ``view`` (Zero-1-to-3 layout)."""
    seed: int = 0
    steps: int = 12000
    """UNet steps."""
    vae_steps: int = 1500
    """VAE steps (0 with ``vae_from``)."""
    vae_from: str = ""
    """A VAE trained before (a model folder with ``vae/``, or an ``AutoencoderKL`` folder) used as it is, with its
    scaling factor: the VAE phase is skipped (a view prior on the text prior's VAE). Read when the training starts."""
    batch_size: int = 32
    vae_batch_size: int = 16
    learning_rate: float = 3e-4
    vae_learning_rate: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    kl_weight: float = 1e-4
    condition_dropout: float = 0.1
    snr_gamma: float = 5.0
    """Min-SNR weighting (0: plain MSE)."""
    ema_decay: float = 0.999
    """Decay of the moving average of the UNet phase's weights that ``model/`` holds (0: the last step's weights)."""
    checkpoint_every: int = 100
    size: str = "default"
    """Name of :data:`~dreamlift.learned.models.SIZES` the components were built from."""
    data: DataConfig = field(default_factory=DataConfig)
    sizes: ModelSizes = field(default_factory=ModelSizes)

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise DreamliftError(f"unknown prior kind {self.kind!r}: choose text or view")
        for name in ("steps", "batch_size", "vae_batch_size", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise DreamliftError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.vae_steps < (0 if self.vae_from else 1):
            raise DreamliftError(f"vae_steps must be at least 1, got {self.vae_steps}")
        if self.vae_from and self.vae_steps:
            raise DreamliftError("a VAE given with --vae is not trained further: drop --vae-steps")
        if not 0.0 <= self.ema_decay < 1.0:
            raise DreamliftError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise DreamliftError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        if self.data.renders_per_object < 1:
            raise DreamliftError(f"renders per object must be at least 1, got {self.data.renders_per_object}")


def config_for(kind: str, size: str = "default", **changes) -> TrainingConfig:
    """A :class:`TrainingConfig` for ``kind`` with the named component ``size`` and ``changes``."""
    if size not in SIZES:
        raise DreamliftError(f"unknown size {size!r}: choose {' or '.join(SIZES)}")
    return TrainingConfig(kind=kind, size=size, sizes=SIZES[size](), **changes)


def _from_dict(cls, data: dict):
    """Rebuild a (nested) dataclass from :func:`dataclasses.asdict` output (lists back to tuples where the default is one)."""
    values = {}
    for item in fields(cls):
        if item.name not in data:
            continue
        value = data[item.name]
        sample = item.default_factory() if item.default_factory is not MISSING else item.default
        if is_dataclass(sample):
            value = _from_dict(type(sample), value)
        elif isinstance(sample, tuple):
            value = tuple(value)
        elif not _fits(value, sample):
            raise ValueError(f"{item.name} is {str(value)[:40]!r}, not a {type(sample).__name__}")
        values[item.name] = value
    return cls(**values)


def _fits(value, sample) -> bool:
    """Whether a JSON value has the type of a field's default (a whole number is also a float)."""
    if isinstance(sample, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(sample, bool)
    if isinstance(sample, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(sample))


def read_config(out: Path) -> TrainingConfig:
    """The :class:`TrainingConfig` saved in ``out/config.json``; a one-line error if it is missing or unreadable."""
    path = Path(out) / "config.json"
    if not path.is_file():
        raise DreamliftError(f"{out} holds no training to resume (no config.json): start without --resume")
    try:
        config = _from_dict(TrainingConfig, json.loads(path.read_text(encoding="utf-8")))
    except (TypeError, ValueError, AttributeError) as error:
        raise DreamliftError(f"{path} cannot be read ({error}): start again in a new --out folder") from None
    config.validate()
    return config


def vae_folder(path: Path) -> Path:
    """The ``AutoencoderKL`` folder of ``path``: a model folder's ``vae/``, a training folder's ``model/vae``, or itself."""
    for candidate in (path / "vae", path / "model" / "vae", path):
        if (candidate / "config.json").is_file():
            return candidate
    raise DreamliftError(f"--vae {path} holds no VAE: give a model folder with vae/ (e.g. a text prior's DIR/model) or an AutoencoderKL folder")


def load_vae(path: Path):
    """The ``AutoencoderKL`` at ``path`` (see :func:`vae_folder`), loaded offline; one-line errors."""
    from diffusers import AutoencoderKL

    from dreamlift.guidance._loading import loading_errors

    folder = vae_folder(path)
    with loading_errors(str(path), "VAE"):
        return AutoencoderKL.from_pretrained(folder, local_files_only=True)


def adopt_vae_sizes(config: TrainingConfig, path: Path) -> None:
    """Use the VAE at ``path`` in ``config``: its architecture in ``config.sizes.vae``, ``vae_from``, no VAE steps.
    Its downsampling must give the UNet's latent size at the training's image size."""
    from dataclasses import replace

    vae = load_vae(path).config
    sizes = replace(config.sizes.vae, block_out_channels=tuple(vae.block_out_channels), layers_per_block=int(vae.layers_per_block),
                    latent_channels=int(vae.latent_channels), norm_num_groups=int(vae.norm_num_groups))
    if config.sizes.image_size // sizes.factor != config.sizes.latent_size or int(vae.latent_channels) != 4:
        raise DreamliftError(
            f"--vae {path} turns {config.sizes.image_size} px into {config.sizes.image_size // sizes.factor}x{config.sizes.image_size // sizes.factor}"
            f"x{vae.latent_channels} latents, this training needs {config.sizes.latent_size}x{config.sizes.latent_size}x4: give a VAE of the same --size"
        )
    config.sizes.vae = sizes
    config.vae_from = str(path.resolve())
    config.vae_steps = 0


def start_folder(out: Path, config: TrainingConfig) -> None:
    """Check that ``out`` can take a new training and write its ``config.json`` (atomically)."""
    from dreamlift._atomic import write_json

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DreamliftError(f"--out {out} is a file: give a folder for the training")
    if (out / "config.json").exists() or (out / "checkpoints").exists():
        raise DreamliftError(f"{out} already holds a training: continue it with --resume, or choose another --out")
    config.validate()
    write_json(out / "config.json", asdict(config))


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped early (Ctrl-C or ``stop_after``) after writing a checkpoint; ``--resume`` continues it."""


@dataclass
class TrainResult:
    """What a finished (or stopped) call did: the losses of the steps it ran and where things are."""

    losses: dict[str, list[float]]
    model: Path | None
    components: Components


def learning_rate(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then a cosine from ``peak`` to ``peak / 10`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


class _StopFlag:
    """Set by SIGINT (in the main thread) or after ``stop_after`` steps of this call.

    While ``armed`` (inside a phase's loop) SIGINT only sets the flag, so the step in
    progress finishes and is checkpointed; outside (rendering, encoding the latents) or
    at a second SIGINT it raises KeyboardInterrupt at once: the last checkpoint holds.
    """

    def __init__(self, stop_after: int | None):
        self.stop_after = stop_after
        self.steps = 0
        self.requested = False
        self.armed = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_signal)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _on_signal(self, signum, frame):
        if self.requested or not self.armed:
            raise KeyboardInterrupt
        self.requested = True

    def after_step(self) -> bool:
        self.steps += 1
        return self.requested or (self.stop_after is not None and self.steps >= self.stop_after)


class Trainer:
    """One training folder: ``config.json``, ``log.jsonl``, ``checkpoints/``, and at the end ``model/``."""

    def __init__(self, config: TrainingConfig, out: Path, device: str = "cpu", progress: Callable[[str], None] | None = None):
        config.validate()
        self.config = config
        self.out = Path(out)
        self.device = torch.device(device)
        self.progress = progress or (lambda message: None)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.sizes = config.sizes
        self.scheduler = noise_scheduler()
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(torch.float32)
        with tempfile.TemporaryDirectory() as tokenizer_files:
            self.components = build_components(config.kind, self.sizes, config.seed, Path(tokenizer_files))
        for module in self.components.trainable().values():
            module.to(self.device)
        self.renders: ToyRenders | None = None
        self.latents: Tensor | None = None
        """``(N, 4, s, s)`` unscaled latent means of every render (the UNet phase)."""
        self.seconds = 0.0
        self.losses: dict[str, list[float]] = {phase: [] for phase in PHASES}
        self.ema = None
        """diffusers' ``EMAModel`` of :meth:`_unet_parameters` during the UNet phase (None when ``ema_decay`` is 0)."""

    # -- folders

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"

    @property
    def log_path(self) -> Path:
        return self.out / "log.jsonl"

    @property
    def model_path(self) -> Path:
        return self.out / "model"

    # -- data

    def _renders(self) -> ToyRenders:
        if self.renders is None:
            self.progress(f"rendering {self.config.data.renders_per_object} views of each toy object at {self.sizes.image_size} px (cached)")
            self.renders = load_renders(self.config.data, self.sizes.image_size)
        return self.renders

    def _unet_parameters(self) -> list[torch.nn.Parameter]:
        """What the UNet phase trains: the UNet and its conditioning (text encoder, or image encoder and projection)."""
        return [p for name, m in self.components.trainable().items() if name != "vae" for p in m.parameters()]

    def _module_optimizer(self, phase: str) -> torch.optim.Optimizer:
        c = self.config
        if phase == "vae":
            params = list(self.components.vae.parameters())
            lr = c.vae_learning_rate
        else:
            params = self._unet_parameters()
            lr = c.learning_rate
        return torch.optim.AdamW(params, lr=lr, weight_decay=c.weight_decay)

    def _moving_average(self, checkpoint: Checkpoint | None):
        """The UNet phase's ``EMAModel`` (None when off): from ``checkpoint``'s ``ema.<index>`` tensors, else from the weights now."""
        if not self.config.ema_decay:
            return None
        from diffusers.training_utils import EMAModel

        parameters = self._unet_parameters()
        ema = EMAModel(parameters, decay=self.config.ema_decay, foreach=True)
        if checkpoint is None:
            return ema
        shadow = [checkpoint.tensors.get(f"{EMA_PREFIX}{index}") for index in range(len(parameters))]
        if all(tensor is None for tensor in shadow):
            self.progress(f"the checkpoint at step {checkpoint.step} holds no moving average (an older version wrote it): it starts here")
            return ema
        if any(t is None or t.shape != p.shape for t, p in zip(shadow, parameters)) or f"{EMA_PREFIX}{len(parameters)}" in checkpoint.tensors:
            raise DreamliftError("the checkpoint's moving average does not fit the model: it was written by another version; start again in a new --out folder")
        updates = checkpoint.position.get("ema_step")
        if not isinstance(updates, int) or updates < 0:
            raise DreamliftError(f"the checkpoint in {self.checkpoints} has no valid ema_step: start again in a new --out folder")
        ema.load_state_dict({"shadow_params": [t.to(self.device) for t in shadow], "optimization_step": updates})
        return ema

    # -- the phases

    def _vae_step(self, step: int, optimizer) -> float:
        c, renders, vae = self.config, self._renders(), self.components.vae
        index = torch.randint(len(renders), (c.vae_batch_size,), generator=self.generator)
        x = renders.images[index].to(self.device)
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=self.generator).to(self.device)
        reconstruction = vae.decode(z).sample
        kl = posterior.kl().sum() / posterior.mean.numel()
        loss = F.l1_loss(reconstruction, x) + c.kl_weight * kl
        return self._apply(loss, optimizer, vae.parameters())

    def _apply(self, loss: Tensor, optimizer, parameters) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(parameters), self.config.max_grad_norm)
        optimizer.step()
        return float(loss.detach())

    def _encode_all(self) -> None:
        """Latent means of every render (no gradient) and, for a VAE trained here, its scaling factor ``1 / std``."""
        vae = self.components.vae.eval()
        renders = self._renders()
        with torch.no_grad():
            means = [vae.encode(part.to(self.device)).latent_dist.mean.cpu() for part in renders.images.split(64)]
        vae.train()
        self.latents = torch.cat(means)
        if not self.config.vae_from:
            vae.register_to_config(scaling_factor=float(1.0 / self.latents.std()))

    def _noised(self, x0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        t = torch.randint(0, len(self.alphas_cumprod), (x0.shape[0],), generator=self.generator)
        noise = torch.randn(x0.shape, generator=self.generator)
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1.0 - a).sqrt() * noise
        return x_t.to(self.device), t.to(self.device), noise.to(self.device)

    def _diffusion_loss(self, prediction: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        per_sample = F.mse_loss(prediction.float(), noise, reduction="none").mean(dim=(1, 2, 3))
        if self.config.snr_gamma > 0:
            from diffusers.training_utils import compute_snr

            snr = compute_snr(self.scheduler, t.cpu()).to(per_sample.device)
            per_sample = per_sample * torch.clamp(snr, max=self.config.snr_gamma) / snr
        return per_sample.mean()

    def _text_step(self, step: int, optimizer) -> float:
        c, comps = self.config, self.components
        index = torch.randint(len(self.latents), (c.batch_size,), generator=self.generator)
        drop = torch.rand(c.batch_size, generator=self.generator) < c.condition_dropout
        ids = torch.where(drop[:, None], self.empty_ids, self.caption_ids[index])
        x_t, t, noise = self._noised(self.latents[index] * comps.vae.config.scaling_factor)
        hidden = comps.text_encoder(ids.to(self.device))[0]
        prediction = comps.unet(x_t, t, encoder_hidden_states=hidden).sample
        loss = self._diffusion_loss(prediction, noise, t)
        return self._apply(loss, optimizer, [p for g in optimizer.param_groups for p in g["params"]])

    def _view_step(self, step: int, optimizer) -> float:
        c, comps = self.config, self.components
        inputs, targets = sample_pairs(self.renders, c.batch_size, self.generator)
        drop = torch.rand(c.batch_size, generator=self.generator) < c.condition_dropout
        x_t, t, noise = self._noised(self.latents[targets] * comps.vae.config.scaling_factor)
        keep = (~drop).float().to(self.device)
        embedding = comps.image_encoder(pixel_values=self.clip_inputs[inputs].to(self.device)).image_embeds[:, None, :]
        pose = pair_poses(self.renders, inputs, targets).to(self.device)
        tokens = comps.projection(torch.cat([embedding, pose[:, None, :]], dim=-1)) * keep[:, None, None]
        concat = self.latents[inputs].to(self.device) * keep[:, None, None, None]
        prediction = comps.unet(torch.cat([x_t, concat], dim=1), t, encoder_hidden_states=tokens).sample
        loss = self._diffusion_loss(prediction, noise, t)
        return self._apply(loss, optimizer, [p for g in optimizer.param_groups for p in g["params"]])

    def _prepare_unet_phase(self) -> None:
        """The UNet phase's fixed inputs: latents, and caption ids (text) or CLIP inputs (view)."""
        if self.latents is None:
            self._encode_all()
        renders = self._renders()
        if self.config.kind == "text":
            comps, length = self.components, self.sizes.text_encoder.max_length
            self.caption_ids = caption_ids(renders.captions(), comps.tokenizer, length)
            self.empty_ids = caption_ids([""], comps.tokenizer, length)[0]
        else:
            from dreamlift.guidance.zero123 import CLIP_MEAN, CLIP_STD

            self.clip_inputs = clip_pixels(renders.images, self.sizes.image_encoder.image_size, CLIP_MEAN, CLIP_STD)

    def _publish_vae(self) -> None:
        """``DIR/vae``: the VAE trained here, final once its phase has ended, so a view prior can start on it
        (``--vae DIR``) while this UNet trains. Written once; the finished ``model/vae`` holds the same weights."""
        if self.config.vae_from or (self.out / "vae").exists():
            return
        from dreamlift.learned.export import write_vae

        write_vae(self.components.vae, self.out / "vae")
        self.progress(f"wrote {self.out / 'vae'} (the trained VAE: --vae {self.out} uses it)")

    def _adopt_vae(self) -> None:
        """Copy the weights and scaling factor of ``config.vae_from`` into the VAE (built to its config by :func:`adopt_vae_sizes`)."""
        loaded = load_vae(Path(self.config.vae_from))
        vae = self.components.vae
        vae.load_state_dict(loaded.state_dict())
        vae.register_to_config(scaling_factor=float(loaded.config.scaling_factor))

    # -- checkpoints and log

    def _save(self, phase: str, step: int, optimizer) -> None:
        position = {"phase": phase, "step": step, "seconds": self.seconds,
                    "scaling_factor": float(self.components.vae.config.scaling_factor)}
        extra = {}
        if phase == "unet" and self.ema is not None:
            position["ema_step"] = self.ema.optimization_step
            extra = {f"{EMA_PREFIX}{index}": tensor for index, tensor in enumerate(self.ema.shadow_params)}
        save_checkpoint(self.checkpoints, position, self.components.trainable(), optimizer, self.generator, extra)

    def _log(self, phase: str, step: int, loss: float) -> None:
        from dreamlift._atomic import append_line

        append_line(self.log_path, json.dumps({"phase": phase, "step": step, "loss": loss, "seconds": round(self.seconds, 3)}))

    def _trim_log(self, phase: str, step: int) -> None:
        """Drop log lines after the checkpoint (steps that will run again)."""
        from dreamlift._atomic import write_text

        if not self.log_path.is_file():
            return
        order = PHASES.index(phase)
        kept = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                before = (PHASES.index(entry["phase"]), int(entry["step"])) <= (order, step)
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line
            if before:
                kept.append(line)
        write_text(self.log_path, "".join(line + "\n" for line in kept))

    # -- the run

    def run(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train (from the latest checkpoint with ``resume``) and write ``model/``; see the module docstring.

        One writer per folder: the folder's lock (as a run folder's) is held throughout, so a second
        process on it is a one-line error naming the first."""
        from dreamlift.pipeline.lock import RunLock

        self.out.mkdir(parents=True, exist_ok=True)
        with RunLock(self.out):
            return self._run(resume, stop_after)

    def _run(self, resume: bool, stop_after: int | None) -> TrainResult:
        phase, start, checkpoint = "vae", 0, None
        if resume:
            checkpoint = load_checkpoint(self.checkpoints)  # None: stopped before its first checkpoint, so start afresh
            if checkpoint is not None:
                phase, start = checkpoint.phase, checkpoint.step
                self.seconds = float(checkpoint.position.get("seconds", 0.0))
            self._trim_log(phase, start)
        with _StopFlag(stop_after) as stop:
            if phase == "vae":
                optimizer = self._module_optimizer("vae")
                if checkpoint is not None:
                    restore(checkpoint, self.components.trainable(), optimizer, self.generator)
                elif self.config.vae_from:
                    self._adopt_vae()
                self._renders()
                if self._loop("vae", start, self.config.vae_steps, optimizer, self._vae_step, stop):
                    self._encode_all()
                    self._save("unet", 0, None)
                phase, start, checkpoint = "unet", 0, None
            optimizer = self._module_optimizer("unet")
            if checkpoint is not None:
                restore(checkpoint, self.components.trainable(), optimizer if start > 0 else None, self.generator)
                self.components.vae.register_to_config(scaling_factor=float(checkpoint.position["scaling_factor"]))
            self._prepare_unet_phase()
            self._publish_vae()
            self.ema = self._moving_average(checkpoint if start > 0 else None)
            step_fn = self._text_step if self.config.kind == "text" else self._view_step
            self._loop("unet", start, self.config.steps, optimizer, step_fn, stop)
        if self.ema is not None:
            self.ema.copy_to(self._unet_parameters())
        from dreamlift.learned.export import write_half_copy, write_model

        for module in self.components.trainable().values():
            module.eval()
        model = write_model(self.config.kind, self.components, self.model_path)
        half = write_half_copy(model, self.model_path.with_name(self.model_path.name + "-fp16"))
        self.progress(f"wrote {model} (float32) and {half} (float16, the copy to ship)")
        return TrainResult(self.losses, model, self.components)

    def _loop(self, phase: str, start: int, total: int, optimizer, step_fn, stop: _StopFlag) -> bool:
        """Steps ``start + 1 .. total`` of ``phase``; True when it reached ``total``. Raises
        :class:`TrainingInterrupted` after checkpointing when ``stop`` says so."""
        peak = self.config.vae_learning_rate if phase == "vae" else self.config.learning_rate
        for module in self.components.trainable().values():
            module.train()
        stop.armed = True
        try:
            return self._steps(phase, start, total, optimizer, step_fn, stop, peak)
        finally:
            stop.armed = False

    def _steps(self, phase: str, start: int, total: int, optimizer, step_fn, stop: _StopFlag, peak: float) -> bool:
        c = self.config
        last_saved = start
        clock = time.monotonic()
        for step in range(start + 1, total + 1):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step - 1, total, peak, c.warmup_steps)
            loss = step_fn(step, optimizer)
            if not math.isfinite(loss):
                raise DreamliftError(f"the {phase} loss became {loss} at step {step}: lower the learning rate or resume from the last checkpoint")
            if phase == "unet" and self.ema is not None:
                self.ema.step(self._unet_parameters())
            now = time.monotonic()
            self.seconds += now - clock
            clock = now
            self.losses[phase].append(loss)
            self._log(phase, step, loss)
            if step % 50 == 0 or step == total:
                self.progress(f"{phase} step {step}/{total} loss {loss:.4f}")
            stopping = stop.after_step()
            if step % c.checkpoint_every == 0 or step == total or stopping:
                self._save(phase, step, optimizer)
                last_saved = step
            if stopping and step < total:
                raise TrainingInterrupted(f"stopped at {phase} step {step}; resume with --resume")
        return last_saved == total or start == total
