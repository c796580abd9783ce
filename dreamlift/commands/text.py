"""``dreamlift text "a red cube" [--out DIR] [--prior toy|...] [--steps N] [--seed S] [--resume]``."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from dreamlift.commands._common import add_run_options, apply_run_options, check_prompt, finite_float, slug
from dreamlift.errors import DreamliftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help='what to make, e.g. "a green tree" (the toy prior knows TOYWORLD captions)')
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<prompt>)")
    parser.add_argument("--prior", default="toy", help="toy (default, bundled), stable-diffusion, deepfloyd-if")
    parser.add_argument("--model", default=None, help="model folder, .safetensors file or hub id for real priors")
    add_run_options(parser, device_help="auto (default: CUDA for real priors when present), cpu or cuda")
    real = parser.add_argument_group("real priors (stable-diffusion, deepfloyd-if)")
    real.add_argument("--model-config", default=None, help="diffusers folder with the configs of a single-file --model")
    real.add_argument("--allow-network", action="store_true", help="let a hub id download (default: the local cache only)")
    real.add_argument("--dtype", choices=("auto", "fp32", "fp16", "bf16"), default=None, help="model precision")
    real.add_argument("--guidance-scale", type=finite_float, default=None, help="classifier-free guidance scale")
    real.add_argument("--negative", default=None, help="negative prompt")
    real.add_argument("--perp-neg", action="store_true", help="Perp-Neg against the Janus failure")
    real.add_argument("--cpu-offload", action="store_true", help="keep the UNet on the CPU between calls (small GPUs)")


def build_config(args: argparse.Namespace):
    from dreamlift.guidance.factory import TEXT_PRIORS
    from dreamlift.guidance.real_presets import PRIOR_FIELDS
    from dreamlift.training.presets import preset_for_prior

    if args.prior not in TEXT_PRIORS and args.model is None:  # --prior PATH: a model folder or file
        from dreamlift.guidance.real_presets import prior_for_model_path

        args.model, args.prior = args.prior, prior_for_model_path(args.prior)
    config = preset_for_prior(args.prior)
    settings_field = PRIOR_FIELDS.get(args.prior)
    if settings_field is not None:
        setattr(config, settings_field, real_prior_settings(getattr(config, settings_field), args))
    config.prompt = args.prompt
    config.model = args.model
    apply_run_options(config, args)
    return config


def real_prior_settings(settings, args: argparse.Namespace):
    """The preset's real-prior settings with the command line's overrides."""
    changes = {
        "dtype": args.dtype,
        "guidance_scale": args.guidance_scale,
        "negative_prompt": args.negative,
        "perp_neg": True if args.perp_neg else None,
        "cpu_offload": True if args.cpu_offload else None,
        "allow_network": True if args.allow_network else None,
    }
    if args.model is not None:
        changes.update(model=args.model, variant=None)
    if args.model_config is not None and hasattr(settings, "model_config"):
        changes["model_config"] = args.model_config
    return dataclasses.replace(settings, **{k: v for k, v in changes.items() if v is not None})


def resumed_config(folder: Path, prompt: str):
    from dreamlift.training.run_folder import read_run_config

    config = read_run_config(folder)
    if " ".join(config.prompt.split()).lower() != prompt.lower():
        raise DreamliftError(f"{folder} is a run of {config.prompt!r}, not {prompt!r}: resume it with its own prompt")
    return config


def run(args: argparse.Namespace) -> int:
    from dreamlift.guidance.factory import make_text_guidance
    from dreamlift.training.run_folder import check_run_folder, prepare_run_folder
    from dreamlift.training.trainer import Trainer, resolve_device

    prompt = check_prompt(args.prompt)
    args.prompt = prompt
    folder = args.out or Path("runs") / slug(prompt)
    started = time.perf_counter()
    check_run_folder(folder, "text", resume=args.resume)  # before any slow work
    if args.resume:
        config = resumed_config(folder, prompt)
        apply_run_options(config, args, resume=True)
    else:
        config = build_config(args)
    config.validate()
    resolve_device(config)
    guidance = make_text_guidance(config)  # bad prompts and priors fail here, before any file is written
    folder = prepare_run_folder(folder, "text", resume=args.resume)
    trainer = Trainer(config, folder, guidance, kind="text", show_progress=not args.quiet)
    summary = trainer.run(resume=args.resume)
    trained = time.perf_counter() - started
    written = finish_run(trainer, config, quiet=args.quiet)
    total = time.perf_counter() - started
    print(f"{folder}: {summary['step']} steps in {trained:.1f} s (total {total:.1f} s); wrote {', '.join(written) or 'checkpoints'}")
    return 0


def finish_run(trainer, config, quiet: bool = False) -> list[str]:
    """Write the run's assets (mesh.glb, turntable.mp4) from the trained field."""
    written = ["config.json", "log.jsonl", "checkpoints/", "previews/"]
    if not (config.export_mesh or config.export_video):
        return written
    from dreamlift import export

    field = trainer.field.cpu().eval()
    occupancy = trainer.occupancy.to("cpu")
    if config.export_mesh:
        export.export_run(trainer.folder, field, formats=("glb",), occupancy=occupancy, turntable=config.export_video, progress=not quiet)
        written.append("mesh.glb")
        if config.export_video:
            written.append("turntable.mp4")
    elif config.export_video:
        export.write_turntable(field, trainer.folder / "turntable.mp4", occupancy=occupancy, progress=not quiet)
        written.append("turntable.mp4")
    return written
