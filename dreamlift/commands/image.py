"""``dreamlift image photo.png [--out DIR] [--prior toy|zero123|PATH] [--elevation DEG] ...``: one image to 3D.

The image is decoded, matted and recentred (:func:`~dreamlift.inputs.load_reference_image`);
its camera is at ``--elevation`` (default 0), azimuth 0 (the result's front faces the
input camera), radius and fovy the prior's. With ``--views table.csv`` several images
with known cameras are used instead. The run folder is that of ``dreamlift text``
(kind ``image``) plus ``DIR/input.png``, the processed input the input view is
fitted to (``DIR/inputs/view-NN.png`` for a table's further views), and, for the toy
prior, ``DIR/view_prior.json``: the toy objects it recognised. Every bad input is a
one-line error before any file is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dreamlift.commands._common import add_run_options, finished_line, finite_float, resume_options, run_flags
from dreamlift.pipeline.settings import slug
from dreamlift.errors import DreamliftError

MATTING_CHOICES = ("auto", "alpha", "border", "rembg")
TEXT_PRIORS = ("toy", "stable-diffusion", "deepfloyd-if")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", type=Path, default=None, help="PNG, JPEG or WebP of one object (RGBA, or on a plain background)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<image name>)")
    parser.add_argument("--prior", default=None, help="toy (default, bundled: the toy-view prior), zero123 (with --model), or a Zero-1-to-3 model folder")
    parser.add_argument(
        "--model", default=None,
        help="Zero-1-to-3 model for --prior zero123: a diffusers folder, a hub id, or zero123-xl.ckpt / stable_zero123.ckpt (prior.model)",
    )
    parser.add_argument("--prompt", default=None, help="a caption of the object: a text prior's SDS joins the image prior's (Magic123; prompt)")
    parser.add_argument(
        "--prior-text", choices=TEXT_PRIORS, default=None,
        help="the text prior for --prompt: toy (default, bundled), stable-diffusion or deepfloyd-if (image.text.prior.name)",
    )
    parser.add_argument(
        "--variant", choices=("auto", "zero123", "stable-zero123"), default=None,
        help="Zero-1-to-3's pose vector: zero123 (zero123, zero123-xl), stable-zero123, or auto from the model name (prior.variant)",
    )
    parser.add_argument("--elevation", type=finite_float, default=None, help="degrees above the horizon the image was taken from (default 0)")
    parser.add_argument("--views", type=Path, default=None, help="a .csv/.json table of images with known cameras, instead of one image")
    parser.add_argument("--depth", default=None, help="a depth map of the image (.npy or one-channel PNG of its size; larger = farther) for the depth and normal losses (image.depth.file)")
    parser.add_argument("--depth-model", default=None, help="a DPT depth model (transformers folder or hub id) that estimates each view's depth (image.depth.model)")
    parser.add_argument("--matting", choices=MATTING_CHOICES, default="auto", help="how the background is removed (default auto)")
    parser.add_argument(
        "--no-recentre", action="store_true",
        help="keep the images' own framing (exact cameras); by default one image is recentred on its box and a table's images together (image.recentre)",
    )
    add_run_options(parser, device_help="auto (default: CUDA for zero123 when present), cpu or cuda", kind="image")


def build_config(args: argparse.Namespace):
    """The run's settings: preset < --config < --set < the named flags (see :mod:`dreamlift.commands._settings`)."""
    from dreamlift.commands._settings import resolve_settings

    from dreamlift.pipeline.settings import finish_prior, prior_and_model

    prior, model = prior_and_model("image", args.prior, args.model)
    recentre = False if getattr(args, "no_recentre", False) else None
    prompt, text_prior = getattr(args, "prompt", None), getattr(args, "prior_text", None)
    if text_prior is not None and not (prompt or "").strip():
        raise DreamliftError("--prior-text needs --prompt: the caption the text prior judges the renders by")
    named = [
        ("--model", "prior.model", model),
        ("--variant", "prior.variant", getattr(args, "variant", None)),
        ("--no-recentre", "image.recentre", recentre),
        ("--prompt", "prompt", prompt),
        ("--depth", "image.depth.file", str(Path(args.depth).expanduser().resolve()) if getattr(args, "depth", None) else None),
        ("--depth-model", "image.depth.model", getattr(args, "depth_model", None)),
    ]
    if text_prior is not None:  # before --set, so that --set image.text.prior.KEY=... reaches the chosen text prior
        args.settings = [f"image.text.prior.name={text_prior}", *args.settings]
    config = resolve_settings(args, "image", prior, [*named, *run_flags(args)])
    finish_prior(config, "image", None)
    return config


def resumed_config(folder: Path, image: Path | None):
    from dreamlift.training.run_folder import read_run_config

    config = read_run_config(folder)
    if config.image is None:
        raise DreamliftError(f"{folder} holds no image settings: the run folder is damaged")
    if image is not None and str(image.expanduser().resolve()) != config.image.source:
        raise DreamliftError(f"{folder} is a run of {config.image.source}, not {image}: resume it without naming another image")
    return config


def image_source(args: argparse.Namespace):
    """The command's image options as a :class:`~dreamlift.pipeline.image_inputs.ImageSource`."""
    from dreamlift.pipeline.image_inputs import ImageSource

    return ImageSource(image=args.image, views=args.views, matting=args.matting, elevation=args.elevation)


def run(args: argparse.Namespace) -> int:
    from dreamlift.commands._settings import print_config
    from dreamlift.pipeline.image_inputs import prepare_views, saved_views
    from dreamlift.pipeline.stages import make_run
    from dreamlift.training.run_folder import check_run_folder

    if args.image is not None and args.views is not None:
        raise DreamliftError("give one image or --views TABLE, not both")
    if args.image is None and args.views is None and not args.resume:
        raise DreamliftError("give an image file (PNG, JPEG or WebP), or --views TABLE")
    source = args.image if args.image is not None else args.views
    if args.out is None and source is None:
        raise DreamliftError("--resume needs --out: the run folder to continue")
    folder = args.out or Path("runs") / slug(source.stem)
    if args.print_config:
        config = resumed_config(folder, args.image) if args.resume else build_config(args)
        config.validate()
        print_config(config, "image")
        return 0
    check_run_folder(folder, "image", resume=args.resume)  # before any slow work
    if args.resume:
        config = resumed_config(folder, args.image)
        resume_options(config, args)
        config.validate()
        views, candidates = saved_views(folder, config)
    else:
        config = build_config(args)
        config.validate()  # bad settings fail before the image is read
        views, candidates = prepare_views(config, image_source(args))  # bad images fail here
    result = make_run(
        config, folder, "image", views=views, candidates=candidates, resume=args.resume, quiet=args.quiet, say=print, threads=args.threads,
    )
    if candidates is not None:
        print(describe_candidates(candidates))
    print(finished_line(result, "input.png"))
    return 0


def describe_candidates(candidates: list) -> str:
    """One line: what the toy view prior recognised, e.g. ``toy prior sees: a red chair turned -66 deg (1.00)``."""
    from dreamlift.toyworld import caption

    totals: dict = {}
    for c in candidates:
        totals[c.object] = totals.get(c.object, 0.0) + c.weight
    best = max(candidates, key=lambda c: c.weight)
    parts = [f"{caption(obj)} ({weight:.2f})" for obj, weight in sorted(totals.items(), key=lambda kv: -kv[1])]
    return f"toy prior sees: {', '.join(parts)}; most likely turn {best.turn:+.0f} deg (input azimuth {-best.turn:+.0f} deg)"
