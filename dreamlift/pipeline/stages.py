"""A resolved config (and inputs) to a finished run folder, stage by stage: the one path every front end takes.

:func:`make_run` checks everything it can before it writes (the folder, the settings, the prior and
its model, the inputs), prints nothing unless asked, then, holding the run folder's lock:

1. stage 1, the NeRF (:class:`~dreamlift.training.trainer.Trainer`);
2. stage 2 when ``refine.enabled``, the DMTet surface (:class:`~dreamlift.refine.stage.Refiner`),
   judged by the *same* prior: the model loaded for stage 1 serves stage 2 when only the timestep
   schedule differs (:func:`stage2_guidance`); an image run keeps its reference-view losses and its
   text prior (``--prompt``) in stage 2;
3. the assets: ``mesh.glb`` (the final stage's), ``mesh-stage1.glb`` after a refinement, ``turntable.mp4``.

``progress`` is called after every step with a :class:`Progress` (stage, step, the stage's total);
``cancel`` is asked before every step, and True stops the run as Ctrl-C does (a checkpoint is
saved; :class:`~dreamlift.distillation.loop.RunInterrupted` is raised and ``resume=True`` continues).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable



@dataclass(frozen=True)
class Progress:
    """Where a running pipeline is: stage 1 or 2, its step and its total."""

    stage: int
    step: int
    steps: int

    def __str__(self) -> str:
        what = "stage 1" if self.stage == 1 else "refining"
        return f"{what}, step {self.step} of {self.steps}"


ProgressCallback = Callable[[Progress], None]
CancelHook = Callable[[], bool]


@dataclass
class RunResult:
    """What :func:`make_run` did."""

    folder: Path
    steps: dict[int, int]
    """Steps each stage ended at, by stage number."""
    written: list[str]
    """What the run wrote, as names inside ``folder``."""
    seconds: float
    summary: dict = field(default_factory=dict)


def plan(config, device) -> str:
    """One line: what the run will do (each stage's steps and render size) and where."""
    sizes = sorted({config.size, *(int(row[1]) for row in config.size_milestones)})
    at = f"{sizes[0]} px" if len(sizes) == 1 else f"{'/'.join(map(str, sizes))} px"
    text = f"stage 1: {config.steps} steps at {at} ({config.prior.name} prior)"
    if config.refine.enabled:
        text += f"; stage 2: {config.refine.steps} refinement steps at {config.refine.size} px"
    return f"{text}; device {device}"


def cpu_warning(config, device) -> str | None:
    """A warning for a real (diffusers) prior on the CPU, with the plan's step count and a projected time, else None."""
    from dreamlift.hub import FULL_SIZE_PARAMETERS, folder_unet_parameters
    from dreamlift.models import BUNDLED_MODELS

    if getattr(device, "type", str(device)) != "cpu" or not config.prior.prefers_gpu:
        return None
    model = getattr(config.prior, "model", None)
    if model in BUNDLED_MODELS:  # the learned toy priors are made for the CPU
        return None
    parameters = folder_unet_parameters(model)
    if parameters is not None and parameters <= FULL_SIZE_PARAMETERS:  # a small model in a local folder
        return None
    steps = config.steps + (config.refine.steps if config.refine.enabled else 0)
    per_step = getattr(config.prior, "cpu_seconds_per_step", None)
    projected = f"about {steps * per_step / 3600:.1f} h at {per_step:g} s a step (measured, full-size model)" if per_step else "many hours"
    return (
        f"a {config.prior.name} prior on the CPU: {steps} steps in all would take {projected}; use a GPU, "
        "or set fewer steps for a try (--steps for stage 1, --refine-steps for stage 2, --refine off)"
    )


def make_run(
    config,
    folder: str | Path,
    kind: str = "text",
    *,
    views: list | None = None,
    candidates: list | None = None,
    resume: bool = False,
    quiet: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelHook | None = None,
    say: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> RunResult:
    """Make (or with ``resume`` continue) the ``kind`` run of ``config`` in ``folder``; see the module docstring.

    Image runs take their processed input ``views`` (:func:`dreamlift.pipeline.image_inputs.prepare_views`)
    and, for the toy view prior, its ``candidates``. ``quiet`` hides the progress bars; ``say`` gets the
    plan and notes (None: nothing is printed). ``threads``: torch's CPU threads (None: ``DREAMLIFT_THREADS``,
    else ``OMP_NUM_THREADS``, else a fair share of the CPUs this process is given among the dreamlift runs
    on the machine, looked at again between steps: :class:`dreamlift.threads.CpuShare`).
    """
    from dreamlift.training.run_folder import check_run_folder

    started = time.perf_counter()
    folder = Path(folder)
    check_run_folder(folder, kind, resume=resume)
    config.validate()  # bad settings fail here, before torch is imported
    from dreamlift.distillation.sampling import resolve_device
    from dreamlift.threads import CpuShare

    device = resolve_device(config)
    with CpuShare(threads) as cpus:
        return _make_run(config, folder, kind, device, cpus, views, candidates, resume, quiet, progress, cancel, say, started)


def _make_run(config, folder, kind, device, cpus, views, candidates, resume, quiet, progress, cancel, say, started) -> RunResult:
    from dreamlift.guidance.base import GuidanceInputs
    from dreamlift.pipeline.lock import RunLock
    from dreamlift.training.run_folder import prepare_run_folder, remove_stale_temporaries

    count = cpus.count
    if say is not None:
        shared = " (fewer while other dreamlift runs share them)" if cpus.fixed is None else ""
        say(f"{folder}: {plan(config, device)}" + (f", {count} CPU threads{shared}" if device.type == "cpu" else ""))
        warning = cpu_warning(config, device)
        if warning:
            say(f"warning: {warning}")
    if kind == "image":
        inputs = GuidanceInputs(device=device, views=views, candidates=candidates)
    else:
        inputs = GuidanceInputs(prompt=config.prompt, device=device)
    with quiet_loading(config, quiet):
        guidance = stage1_guidance(config, inputs)  # bad prompts and models fail here, before any file is written
    if say is not None and config.prior.name == "zero123":
        image_guidance = getattr(guidance, "image", guidance)  # inside a CombinedGuidance with --prompt
        how = "from the model name; --variant chooses" if config.prior.variant == "auto" else "--variant"
        say(f"Zero-1-to-3 pose vector: {image_guidance.model.variant.value} ({how})")
    folder = prepare_run_folder(folder, kind, resume=resume)
    with RunLock(folder):
        if resume:
            remove_stale_temporaries(folder)  # the lock is ours: no other process writes them
        if kind == "image" and not resume:
            from dreamlift.pipeline.image_inputs import write_inputs

            write_inputs(folder, config, views, candidates)
        return _train_stages(config, folder, kind, inputs, guidance, resume, quiet, progress, cancel, started, cpus)


def quiet_loading(config, quiet: bool):
    """A context in which a ``quiet`` run's priors load without the libraries' progress bars; the libraries are
    imported only when a prior loads diffusers or transformers models (every prior but the toy ones)."""
    from dreamlift.guidance.priors import ToyPriorConfig, ToyViewPriorConfig
    from dreamlift.hub import progress_bars_off

    priors = [config.prior]
    if config.image is not None and config.prompt.strip():  # an image run's prompt adds its text prior
        priors.append(config.image.text.prior)
    return progress_bars_off(quiet and any(not isinstance(prior, (ToyPriorConfig, ToyViewPriorConfig)) for prior in priors))


def stage1_guidance(config, inputs):
    """The run's prior for stage 1; an image run with a prompt adds its text prior (Magic123)."""
    guidance = config.prior.setup(inputs)
    if config.image is None:
        return guidance
    from dreamlift.guidance.combined import with_text_prior

    return with_text_prior(guidance, config.image.text, _text_inputs(config, inputs), _recognised_turn(inputs))


def _text_inputs(config, inputs):
    """What an image run's text prior (``--prompt``) is set up with."""
    from dreamlift.guidance.base import GuidanceInputs

    return GuidanceInputs(prompt=config.prompt, device=inputs.device)


def _recognised_turn(inputs) -> float | None:
    """The toy view prior's recognised turn (where the text prior's front is), or None."""
    return inputs.candidates[0].turn if inputs.candidates else None


def stage2_guidance(config, inputs, loaded=None):
    """The run's prior for stage 2 (its render size and ``refine.timesteps``).

    ``loaded`` is stage 1's guidance in the same process, or None. When the refinement's prior settings
    differ from stage 1's only in the timestep schedule (the diffusers priors, Zero-1-to-3), its loaded
    model is reused with the new schedule: one load per run. The toy priors, whose memory is made at the
    render size, are set up again. An image run keeps its text prior (``--prompt``), with the same rule.
    """
    from dreamlift.guidance.combined import CombinedGuidance, with_text_prior

    combined = isinstance(loaded, CombinedGuidance)
    guidance = _retargeted(config.prior, config.refine, inputs, loaded.image if combined else loaded)
    if config.image is None or not (config.prompt or "").strip():
        return guidance
    text_inputs = _text_inputs(config, inputs)
    text = _retargeted(config.image.text.prior, config.refine, text_inputs, loaded.text if combined else None)
    return with_text_prior(guidance, config.image.text, text_inputs, _recognised_turn(inputs), text=text)


def _retargeted(prior, refine, inputs, loaded):
    refined = prior.for_refinement(refine.size, refine.timesteps)
    if loaded is not None and dataclasses.replace(refined, timesteps=prior.timesteps) == prior:
        guidance = copy.copy(loaded)  # the same model, another schedule
        guidance.schedule = refined.timesteps
        return guidance
    return refined.setup(inputs)


def _stage_hooks(config, inputs) -> list:
    """An image run's reference-view losses (both stages match the input views)."""
    if config.image is None or not inputs.views:
        return []
    from dreamlift.distillation.reference import ReferenceTargets, ReferenceViewHook

    return [ReferenceViewHook(config.image.loss, ReferenceTargets.from_views(inputs.views))]


def _observe(loop, stage: int, progress: ProgressCallback | None, cancel: CancelHook | None, cpus) -> None:
    """Between ``loop``'s steps: the CPU share (:class:`~dreamlift.threads.CpuShare`), then ``progress``."""

    def on_step(step: int, steps: int) -> None:
        cpus.update()
        if progress is not None:
            progress(Progress(stage, step, steps))

    loop.on_step = on_step
    loop.should_stop = cancel


def _train_stages(config, folder, kind, inputs, guidance, resume, quiet, progress, cancel, started, cpus) -> RunResult:
    from dreamlift.training.trainer import Trainer

    trainer = Trainer(config, folder, guidance, kind=kind, hooks=_stage_hooks(config, inputs), show_progress=not quiet)
    _observe(trainer, 1, progress, cancel, cpus)
    summary = trainer.run(resume=resume)
    steps = {1: int(summary["step"])}
    written = ["config.json", "log.jsonl", "checkpoints/", "previews/", *summary.pop("files", [])]
    occupancy = None if trainer.occupancy is None else trainer.occupancy.to("cpu")
    stage1 = SimpleNamespace(field=trainer.field, background=trainer.background, occupancy=occupancy)
    refiner = None
    if config.refine.enabled:
        refiner = _refine(config, folder, inputs, stage2_guidance(config, inputs, guidance), stage1, resume, quiet, progress, cancel, cpus)
        steps[2] = refiner.step
        written.append("refine/")
    cpus.update()
    written += write_assets(folder, config, stage1.field, stage1.occupancy, refiner)
    return RunResult(folder=folder, steps=steps, written=written, seconds=time.perf_counter() - started, summary=summary)


def _refine(config, folder, inputs, guidance, stage1, resume, quiet, progress, cancel, cpus):
    from dreamlift.refine.stage import Refiner

    refiner = Refiner(config, folder, guidance, stage1, show_progress=not quiet, hooks=_stage_hooks(config, inputs))
    _observe(refiner, 2, progress, cancel, cpus)
    refiner.run(resume=resume)
    return refiner


def refine_run(
    run,
    config,
    inputs,
    *,
    resume: bool = False,
    quiet: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelHook | None = None,
    threads: int | None = None,
) -> RunResult:
    """Stage 2 on the finished stage 1 of ``run`` (a :class:`~dreamlift.pipeline.run.Run`) with ``config``'s
    refinement settings, then the assets; ``config.json`` gets those settings before stage 2 starts.

    Bad settings, models and backends fail before anything is written.
    """
    from dreamlift._atomic import write_json
    from dreamlift.config_tree import to_dict
    from dreamlift.pipeline.lock import RunLock
    from dreamlift.threads import CpuShare

    started = time.perf_counter()
    with CpuShare(threads) as cpus, RunLock(run.path):
        stage1 = run.stage1(finished=True)  # an unfinished stage 1 fails here
        with quiet_loading(config, quiet):
            guidance = stage2_guidance(config, inputs)  # stage 1 does not run here: the refinement's prior is the one load
        from dreamlift.refine.stage import Refiner

        refiner = Refiner(config, run.path, guidance, stage1, show_progress=not quiet, hooks=_stage_hooks(config, inputs))
        record = dict(run.record, config=to_dict(config))
        write_json(run.path / "config.json", record)
        _observe(refiner, 2, progress, cancel, cpus)
        refiner.run(resume=resume)
        cpus.update()
        written = ["refine/", *write_assets(run.path, config, stage1.field, stage1.occupancy, refiner)]
    return RunResult(folder=run.path, steps={1: stage1.step, 2: refiner.step}, written=written, seconds=time.perf_counter() - started)


def write_assets(folder: Path, config, stage1_field, occupancy, refiner=None) -> list[str]:
    """``mesh.glb`` (+ ``mesh-stage1.glb`` after refinement) and ``turntable.mp4`` as the config asks; returns their names.

    ``stage1_field`` is the stage-1 NeRF as stage 1 left it; ``refiner`` the finished stage 2, if any.
    """
    from dreamlift import export
    from dreamlift.export.texture import ColourConfig, apply_colour
    from dreamlift.export.video import TurntableConfig
    from dreamlift.pipeline.run import FINAL_MESH, STAGE1_MESH
    from dreamlift.refine.export import as_surface, clean_surface, turntable_albedo, write_mesh_turntable

    written: list[str] = []
    if not (config.export_mesh or config.export_video):
        return written
    stage1_field = stage1_field.cpu().eval()
    stage1 = export.extract_mesh(stage1_field, occupancy=occupancy)
    final_mesh, final_field = stage1.mesh, stage1_field
    if refiner is not None:
        final_mesh, final_field = clean_surface(refiner.final_surface()), refiner.field.cpu().eval()
    if config.export_mesh:
        if refiner is not None:
            coloured = apply_colour(final_field, final_mesh.copy(), ColourConfig(), refiner.geometry.grid.spacing)
            export.write_mesh(coloured, folder / FINAL_MESH, export.MeshFormat.GLB)
            written.append(FINAL_MESH)
        coloured = apply_colour(stage1_field, stage1.mesh.copy(), ColourConfig(), stage1.grid.spacing)
        name = FINAL_MESH if refiner is None else STAGE1_MESH
        export.write_mesh(coloured, folder / name, export.MeshFormat.GLB)
        written.append(name)
    if config.export_video:
        import torch

        with torch.no_grad():
            albedo = turntable_albedo(final_mesh, final_field)
            write_mesh_turntable(as_surface(final_mesh), albedo, folder / "turntable.mp4", TurntableConfig(size=int(config.turntable_size)))
        written.append("turntable.mp4")
    return written

