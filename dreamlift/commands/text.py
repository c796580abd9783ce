"""``dreamlift text "a red cube" [--out DIR] [--prior toy|...] [--preset P] [--config F] [--set K=V] [--steps N] [--seed S] [--resume]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from dreamlift.commands._common import add_run_options, finished_line, finite_float, resume_options, run_flags
from dreamlift.pipeline.settings import check_prompt, slug
from dreamlift.errors import DreamliftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help='what to make, e.g. "a green tree" (the toy prior knows TOYWORLD captions)')
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<prompt>)")
    parser.add_argument("--prior", default=None, help="toy (default, bundled), stable-diffusion, deepfloyd-if, or a model folder/.safetensors file")
    parser.add_argument("--model", default=None, help="model folder, .safetensors file or hub id for real priors (prior.model)")
    add_run_options(parser, device_help="auto (default: CUDA for real priors when present), cpu or cuda", kind="text")
    real = parser.add_argument_group("real priors (stable-diffusion, deepfloyd-if)")
    real.add_argument("--model-config", default=None, help="diffusers folder with the configs of a single-file --model")
    real.add_argument("--allow-network", action="store_true", help="let a hub id download (default: the local cache only)")
    real.add_argument("--dtype", choices=("auto", "fp32", "fp16", "bf16"), default=None, help="model precision")
    real.add_argument("--guidance-scale", type=finite_float, default=None, help="classifier-free guidance scale")
    real.add_argument("--negative", default=None, help="negative prompt")
    real.add_argument("--perp-neg", action="store_true", help="Perp-Neg against the Janus failure")
    real.add_argument("--cpu-offload", action="store_true", help="keep the UNet on the CPU between calls (small GPUs)")


def build_config(args: argparse.Namespace):
    """The run's settings: preset < --config < --set < the named flags (see :mod:`dreamlift.commands._settings`)."""
    from dreamlift.commands._settings import resolve_settings
    from dreamlift.pipeline.settings import finish_prior, prior_and_model

    prior, model = prior_and_model("text", args.prior, args.model)
    named = [("prompt", "prompt", args.prompt), ("--model", "prior.model", model), *run_flags(args), *real_prior_flags(args)]
    config = resolve_settings(args, "text", prior, named)
    finish_prior(config, "text", model)
    return config


def real_prior_flags(args: argparse.Namespace) -> list[tuple[str, str, object]]:
    """The real-prior flags as ``(flag, dotted key, value)``."""
    true_or_none = lambda flag: True if flag else None  # noqa: E731
    return [
        ("--model-config", "prior.model_config", args.model_config),
        ("--allow-network", "prior.allow_network", true_or_none(args.allow_network)),
        ("--dtype", "prior.dtype", args.dtype),
        ("--guidance-scale", "prior.guidance_scale", args.guidance_scale),
        ("--negative", "prior.negative_prompt", args.negative),
        ("--perp-neg", "prior.perp_neg", true_or_none(args.perp_neg)),
        ("--cpu-offload", "prior.cpu_offload", true_or_none(args.cpu_offload)),
    ]


def resumed_config(folder: Path, prompt: str):
    from dreamlift.training.run_folder import read_run_config

    config = read_run_config(folder)
    if " ".join(config.prompt.split()).lower() != prompt.lower():
        raise DreamliftError(f"{folder} is a run of {config.prompt!r}, not {prompt!r}: resume it with its own prompt")
    return config


def run(args: argparse.Namespace) -> int:
    from dreamlift.commands._settings import print_config
    from dreamlift.pipeline.stages import make_run
    from dreamlift.training.run_folder import check_run_folder

    prompt = check_prompt(args.prompt)
    args.prompt = prompt
    folder = args.out or Path("runs") / slug(prompt)
    if args.print_config:
        config = resumed_config(folder, prompt) if args.resume else build_config(args)
        config.validate()
        print_config(config, "text")
        return 0
    check_run_folder(folder, "text", resume=args.resume)  # before any slow work
    if args.resume:
        config = resumed_config(folder, prompt)
        resume_options(config, args)
    else:
        config = build_config(args)
    result = make_run(config, folder, "text", resume=args.resume, quiet=args.quiet, say=print, threads=args.threads)
    print(finished_line(result))
    return 0
