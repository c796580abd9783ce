"""The distillation loop shared by both stages: steps, checkpoints, logs, faults and signals.

A stage (:class:`~dreamlift.training.trainer.Trainer` for the NeRF,
:class:`~dreamlift.refine.stage.Refiner` for the mesh) subclasses :class:`DistillationLoop`
and supplies its modules' tensors, ``train_step`` and previews; the loop around them is
this one. The stage keeps its files in ``stage_folder``: ``checkpoints/``, ``log.jsonl``
and ``previews/``. All randomness comes from one ``torch.Generator`` saved in the
checkpoints, so a CPU run, interrupted and resumed, ends exactly as an uninterrupted one.

Faults: a non-finite loss or gradient skips the step (counted in the log); after
``max_bad_steps`` in a row the stage rolls back to its last checkpoint with half the
learning rate. SIGINT/SIGTERM save a checkpoint after the current step and stop with a
message that says how to resume.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import Tensor

from dreamlift._atomic import WriteFailed, append_line, write_text
from dreamlift.errors import DreamliftError
from dreamlift.distillation.checkpoint import load_latest_checkpoint, optimizer_from_tensors, optimizer_to_tensors, prefixed, save_checkpoint


def adam(groups: list[dict]) -> torch.optim.Adam:
    """Both stages' optimizer: Adam with betas (0.9, 0.99) and eps 1e-15 (as instant-ngp and torch-ngp, which
    stable-dreamfusion trains with), fused (one kernel for all parameters: 3x faster a step on CPU) where the
    parameters are on the CPU or CUDA."""
    devices = {p.device.type for group in groups for p in group["params"]}
    return torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15, fused=devices <= {"cpu", "cuda"})


def guidance_extras(guidance) -> dict[str, float]:
    """What a step logs of its guidance besides its SDS: the text prior's SDS of an image run with a prompt (``text_sds``)."""
    text = getattr(guidance, "last_text_loss", None)
    return {} if text is None else {"text_sds": float(text)}


class RunInterrupted(DreamliftError):
    """The run was stopped by a signal after saving a checkpoint: exit status 128 + the signal's number, as a shell
    reports a process killed by it (130 for SIGINT / Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.exit_status = 128 + int(signum)


class LoopSchedule(Protocol):
    """How long a stage runs and how often it writes: both stages' configs have these fields."""

    steps: int
    checkpoint_every: int
    preview_every: int
    log_every: int
    max_bad_steps: int


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


class DistillationLoop:
    """The loop (see the module docstring); subclasses set ``optimizer`` and ``generator`` and fill in the hooks."""

    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    progress_label = "distilling"
    resume_hint = "Resume with the same command and --resume"

    def __init__(self, stage_folder: Path, schedule: LoopSchedule, show_progress: bool = True):
        self.stage_folder = Path(stage_folder)
        self.schedule = schedule
        self.show_progress = show_progress
        self.step = 0
        self.skipped_steps = 0
        self.rollbacks = 0
        self._stop_signal: str | None = None
        self.on_step: Callable[[int, int], None] | None = None
        """Called after every step with ``(step, steps)`` (the pipeline's progress report)."""
        self.should_stop: Callable[[], bool] | None = None
        """Asked before every step: True saves a checkpoint and stops as a signal does (the pipeline's cancel hook)."""

    # ------------------------------------------------------------ the stage's part
    def checkpointed(self) -> dict[str, object]:
        """The stage's state by checkpoint prefix: objects with ``state_dict`` / ``load_state_dict`` (modules, grids)."""
        raise NotImplementedError

    def model_tensors(self) -> dict[str, Tensor]:
        """The stage's module tensors as ``prefix.key`` (the optimizer and generator are added by :meth:`state_tensors`)."""
        return {f"{prefix}.{k}": v for prefix, part in self.checkpointed().items() for k, v in part.state_dict().items()}

    def load_model_tensors(self, tensors: dict[str, Tensor]) -> None:
        for prefix, part in self.checkpointed().items():
            part.load_state_dict(prefixed(tensors, prefix))

    def train_step(self) -> StepRecord | None:
        """One optimisation step; ``None`` when it was skipped as non-finite."""
        raise NotImplementedError

    def write_previews(self):
        raise NotImplementedError

    def start_fresh(self) -> None:
        """Called when the stage starts from step 0: write the stage's records (an empty log at least)."""
        write_text(self.stage_folder / "log.jsonl", "")

    def finish(self, previews) -> dict[str, float]:
        return {"step": self.step, "skipped_steps": self.skipped_steps, "rollbacks": self.rollbacks}

    # ------------------------------------------------------------ state
    def state_tensors(self) -> dict[str, Tensor]:
        tensors = dict(self.model_tensors())
        optimizer_tensors, _ = optimizer_to_tensors(self.optimizer)
        tensors.update(optimizer_tensors)
        tensors["generator"] = self.generator.get_state()
        return tensors

    def save(self) -> None:
        _, optimizer_meta = optimizer_to_tensors(self.optimizer)
        meta = {"optimizer": optimizer_meta, "skipped_steps": self.skipped_steps, "rollbacks": self.rollbacks}
        save_checkpoint(self.stage_folder / "checkpoints", self.step, self.state_tensors(), meta)  # a full disk: see run()

    def restore(self) -> bool:
        """Load the newest good checkpoint; False when there is none."""
        checkpoint, skipped = load_latest_checkpoint(self.stage_folder / "checkpoints")
        for note in skipped:
            self._say(f"skipping damaged checkpoint {note}")
        if checkpoint is None:
            return False
        t = checkpoint.tensors
        try:
            self.load_model_tensors(t)
            optimizer_from_tensors(self.optimizer, t, checkpoint.meta["optimizer"])
            self.generator.set_state(t["generator"])
        except (RuntimeError, KeyError, ValueError, TypeError) as error:
            raise DreamliftError(
                f"checkpoint {checkpoint.name} in {self.stage_folder} does not match the run's config.json ({error.__class__.__name__}): "
                "the folder is damaged or mixes two runs; start a new run"
            ) from None
        self.step = checkpoint.step
        self.skipped_steps = int(checkpoint.meta.get("skipped_steps", 0))
        self.rollbacks = int(checkpoint.meta.get("rollbacks", 0))
        return True

    # ------------------------------------------------------------ run
    def run(self, resume: bool = False) -> dict[str, float]:
        """Train to ``schedule.steps``; returns the stage's summary."""
        if resume and self.restore():
            self._truncate_log(self.step)
            self._say(f"resuming {self.stage_folder} at step {self.step}")
        else:
            self.start_fresh()
        in_main_thread = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if in_main_thread else {}
        for sig in previous:
            signal.signal(sig, self._on_signal)
        try:
            try:
                self._loop()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            self.save()
            return self.finish(self.write_previews())
        except WriteFailed as failure:  # a log line or preview on a full disk: the last checkpoint is whole
            if failure.disk_full:
                raise DreamliftError(f"no space left on device writing {failure.path}: free space and run again with --resume") from None
            raise

    def _loop(self) -> None:
        schedule = self.schedule
        bad_in_a_row = 0
        progress = None
        if self.show_progress:
            from tqdm import tqdm

            progress = tqdm(total=schedule.steps, initial=self.step, desc=self.progress_label, unit="step", dynamic_ncols=True, leave=False)
        try:
            while self.step < schedule.steps:
                if self._stop_signal is None and self.should_stop is not None and self.should_stop():
                    self._stop_signal = "a cancel"
                if self._stop_signal is not None:
                    self.save()
                    by_signal = self._stop_signal.startswith("SIG")
                    raise RunInterrupted(  # a cancel (the pipeline's hook) asks to stop as SIGTERM does: 143
                        f"stopped by {self._stop_signal} at step {self.step}; checkpoint saved. {self.resume_hint}",
                        signal.Signals[self._stop_signal] if by_signal else signal.SIGTERM,
                    )
                started = time.perf_counter()
                record = self.train_step()
                if record is None:  # the step is skipped: no update, but it counts as done
                    bad_in_a_row += 1
                    self.skipped_steps += 1
                    self.step += 1
                    self._log({"step": self.step, "event": "skipped non-finite step", "skipped_steps": self.skipped_steps})
                    if bad_in_a_row >= schedule.max_bad_steps:
                        self._roll_back()
                        bad_in_a_row = 0
                    continue
                bad_in_a_row = 0
                record.seconds = time.perf_counter() - started
                self.step += 1
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{record.loss:.3g}", t=f"{record.t:.2f}")
                if self.on_step is not None:
                    self.on_step(self.step, schedule.steps)
                if self.step % schedule.log_every == 0 or self.step == schedule.steps:
                    self._log(
                        dict(
                            step=self.step, loss=record.loss, sds=record.sds, t=record.t, opacity=record.opacity,
                            evaluated=record.evaluated, seconds=record.seconds, **record.extras,
                        )
                    )
                if self.step % schedule.checkpoint_every == 0 and self.step < schedule.steps:
                    self.save()
                if schedule.preview_every and self.step % schedule.preview_every == 0 and self.step < schedule.steps:
                    self.write_previews()
        finally:
            if progress is not None:
                progress.close()

    def backward_and_step(self, terms: dict[str, Tensor]) -> Tensor | None:
        """Sum ``terms``, back-propagate and step; ``None`` (and no update) when the loss or a gradient is not finite."""
        loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss) or not getattr(loss, "requires_grad", False):  # no ray met the scene: nothing to learn
            return None
        loss.backward()
        grads = [p.grad for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads and not torch.isfinite(torch.nn.utils.get_total_norm(grads)):  # one norm over all: inf or nan if any is
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        return loss

    def _roll_back(self) -> None:
        scale = 0.5
        rollbacks, skipped = self.rollbacks, self.skipped_steps
        if not self.restore():
            raise DreamliftError(
                f"training diverged (non-finite loss or gradient {self.schedule.max_bad_steps} steps in a row) before the first checkpoint: "
                "lower the learning rate or change --seed"
            )
        self.rollbacks = max(rollbacks, self.rollbacks) + 1
        self.skipped_steps = max(skipped, self.skipped_steps)
        for group, base in zip(self.optimizer.param_groups, self.base_learning_rates):
            group["lr"] = base * scale**self.rollbacks
            group["lr_scale"] = scale**self.rollbacks  # for stages whose schedule sets a group's rate every step
        self._log({"step": self.step, "event": "rolled back after non-finite steps", "learning_rate_scale": scale**self.rollbacks})
        self._say(f"non-finite steps: rolled back to step {self.step} with learning rate x{scale ** self.rollbacks:g}")

    @property
    def base_learning_rates(self) -> list[float]:
        return self._base_learning_rates

    def remember_learning_rates(self) -> None:
        """Record the optimizer's learning rates as the ones a roll-back scales down from."""
        self._base_learning_rates = [group["lr"] for group in self.optimizer.param_groups]

    # ------------------------------------------------------------ records
    def _log(self, row: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        append_line(self.stage_folder / "log.jsonl", json.dumps(clean))

    def _truncate_log(self, step: int) -> None:
        """Keep the log's rows up to ``step`` (the checkpoint resumed from). A line that is not a JSON object (a torn
        last line from a crash, bytes that are not UTF-8, garbage) is dropped, and said so; a log over
        :data:`~dreamlift._limits.MAX_LOG_BYTES` is a one-line error."""
        from dreamlift._limits import MAX_LOG_BYTES, json_or_none, read_text

        path = self.stage_folder / "log.jsonl"
        if not path.exists():
            return
        try:
            raw = read_text(path, str(path), MAX_LOG_BYTES, encoding="latin-1")  # bytes as they are; lines decoded one by one
        except OSError as error:
            raise DreamliftError(f"{path} cannot be read ({error.strerror or error.__class__.__name__}): the run folder is damaged") from None
        kept, damaged = [], 0
        for line in raw.encode("latin-1").split(b"\n"):
            if not line.strip():
                continue
            try:
                row = json_or_none(line.decode("utf-8"))
            except UnicodeDecodeError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("step", 0), (int, float)):
                damaged += 1
                continue
            if row.get("step", 0) <= step:
                kept.append(line.decode("utf-8"))
        if damaged:
            self._say(f"{path}: dropped {damaged} damaged line{'s' if damaged != 1 else ''} (not JSON rows)")
        write_text(path, "".join(line + "\n" for line in kept))

    def _on_signal(self, signum, _frame) -> None:
        self._stop_signal = signal.Signals(signum).name

    def _say(self, message: str) -> None:
        sys.stderr.write(message + "\n")
