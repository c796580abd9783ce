"""``dreamlift train-prior text|view --out DIR``: train a learned prior on toy-world renders.

``text`` trains a Stable Diffusion-layout model (CLIP text encoder, UNet, VAE,
tokenizer, scheduler) on captions with view suffixes; ``view`` a Zero-1-to-3-layout
model (CLIP image encoder, 8-channel UNet, pose projection, VAE) on pairs of views.
The VAE trains first (``--vae-steps``), then the UNet (``--steps``).

``DIR`` holds ``config.json``, ``log.jsonl`` (step, loss, seconds), ``checkpoints/`` and,
at the end, ``model/`` (load it with ``--prior stable-diffusion --model DIR/model`` or
``--prior zero123 --model DIR/model``). Ctrl-C checkpoints and stops; ``--resume``
continues from the latest checkpoint (also after a kill) to the same numbers on a CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dreamlift.commands._common import positive_int, seed
from dreamlift.errors import DreamliftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dreamlift.learned import SIZE_NAMES

    parser.add_argument("kind", choices=("text", "view"), help="text: Stable Diffusion layout; view: Zero-1-to-3 layout")
    parser.add_argument("--out", type=Path, required=True, help="the training folder (config, log, checkpoints, model/)")
    parser.add_argument("--steps", type=positive_int, default=None, help="UNet training steps (default 12000; may be raised on --resume)")
    parser.add_argument("--vae-steps", type=positive_int, default=None, help="VAE training steps, before the UNet's (default 1500)")
    parser.add_argument(
        "--vae", type=Path, default=None, metavar="DIR",
        help="use this trained VAE instead of training one (e.g. the text prior's DIR/model, so both priors share it)",
    )
    parser.add_argument("--seed", type=seed, default=None, help="random seed (default 0); a CPU run repeats exactly")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default cpu)")
    parser.add_argument("--resume", action="store_true", help="continue the training in --out from its latest checkpoint")
    parser.add_argument("--size", choices=SIZE_NAMES, default=None, help="component sizes (default: default; tiny for tests)")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="UNet batch size (default 32)")
    parser.add_argument("--vae-batch-size", type=positive_int, default=None, help="VAE batch size (default 16)")
    parser.add_argument("--renders", type=positive_int, default=None, metavar="N", help="training views per object (default 64)")
    parser.add_argument(
        "--ema-decay", type=float, default=None, metavar="D",
        help="decay of the moving average of the UNet's weights that model/ holds (default 0.999; 0: the last step's weights)",
    )
    parser.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="N", help="steps between checkpoints (default 100)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


_FIXED_ON_RESUME = ("--seed", "--size", "--vae-steps", "--vae", "--batch-size", "--vae-batch-size", "--renders", "--ema-decay")


def _config(args: argparse.Namespace):
    from dataclasses import replace

    from dreamlift.learned.train import adopt_vae_sizes, config_for, read_config, start_folder

    out = args.out.expanduser()
    given = {flag: getattr(args, flag[2:].replace("-", "_")) for flag in _FIXED_ON_RESUME}
    if args.resume:
        config = read_config(out)
        if config.kind != args.kind:
            raise DreamliftError(f"{out} holds a {config.kind} training, not a {args.kind} one: run 'dreamlift train-prior {config.kind} --out {out} --resume'")
        changed = [flag for flag, value in given.items() if value is not None]
        if changed:
            raise DreamliftError(
                f"a resumed training keeps its saved settings: drop {changed[0]} (only --steps, --checkpoint-every and --device change on --resume)"
            )
        if args.steps is not None:
            config.steps = args.steps
        if args.checkpoint_every is not None:
            config.checkpoint_every = args.checkpoint_every
        return config
    config = config_for(args.kind, args.size or "default")
    for flag, name in (("--seed", "seed"), ("--vae-steps", "vae_steps"), ("--batch-size", "batch_size"), ("--vae-batch-size", "vae_batch_size"),
                       ("--ema-decay", "ema_decay")):
        if given[flag] is not None:
            setattr(config, name, given[flag])
    for name in ("steps", "checkpoint_every"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    if args.renders is not None:
        config.data = replace(config.data, renders_per_object=args.renders)
    if args.vae is not None:
        if args.vae_steps is not None:
            raise DreamliftError("--vae gives a trained VAE, which is not trained further: drop --vae-steps")
        adopt_vae_sizes(config, args.vae.expanduser())
    start_folder(out, config)
    return config


def run(args: argparse.Namespace) -> int:
    from dreamlift.guidance._loading import require_diffusers
    from dreamlift.learned.train import Trainer

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise DreamliftError("--device cuda, but no CUDA GPU is available: train with --device cpu")
    require_diffusers()
    config = _config(args)
    report = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    trainer = Trainer(config, args.out.expanduser(), device=args.device, progress=report)
    result = trainer.run(resume=args.resume)
    prior = "stable-diffusion" if config.kind == "text" else "zero123"
    print(f"{result.model}: load it with --prior {prior} --model {result.model}")
    return 0
