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
import time
from pathlib import Path

from dreamlift.commands._common import add_run_options, finite_float, resume_options, run_flags, slug
from dreamlift.errors import DreamliftError

MATTING_CHOICES = ("auto", "alpha", "border", "rembg")
TEXT_PRIORS = ("toy", "stable-diffusion", "deepfloyd-if")
CANDIDATES_FILE = "view_prior.json"
DEPTH_FILE = "inputs/depth.safetensors"


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


def resolve_prior(prior: str | None, model: str | None) -> tuple[str | None, str | None]:
    """``(prior name, model)`` from ``--prior`` and ``--model``: ``toy`` is the toy-view prior, a model folder means zero123."""
    from dreamlift.guidance.priors import prior_names

    if prior is None:
        return None, model
    if prior == "toy":
        return "toy-view", model
    if prior in prior_names("image"):
        return prior, model
    if Path(prior).expanduser().exists():
        if model is not None:
            raise DreamliftError("give the Zero-1-to-3 model either as --prior PATH or as --model, not both")
        return "zero123", prior
    raise DreamliftError(f"unknown prior {prior!r}: choose toy or zero123, or give an existing Zero-1-to-3 model folder")


def build_config(args: argparse.Namespace):
    """The run's settings: preset < --config < --set < the named flags (see :mod:`dreamlift.commands._settings`)."""
    from dreamlift.commands._settings import resolve_settings

    prior, model = resolve_prior(args.prior, args.model)
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
    if config.prior.name == "zero123" and not config.prior.model:
        raise DreamliftError("--prior zero123 needs --model: a Zero-1-to-3 folder in the diffusers layout, a hub id, or a .ckpt such as zero123-xl.ckpt")
    return config


def quantised(view):
    """The view with its image rounded to 8 bits, exactly as ``input.png`` stores it (so a resume repeats)."""
    import torch

    from dreamlift.inputs import ReferenceImage, ViewInput

    rgba = torch.floor(view.image.rgba.clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0
    image = ReferenceImage(rgba=rgba, source_size=view.image.source_size, matting=view.image.matting, path=view.image.path)
    return ViewInput(image=image, camera=view.camera, weight=view.weight, depth=view.depth)


def load_input_views(args: argparse.Namespace, config) -> list:
    """The user's image (or view table) as ``ViewInput`` s, with the cameras recorded in ``config.image``."""
    from dreamlift.inputs import load_view_table
    from dreamlift.inputs.views import load_one_view
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.training.reference import ReferenceCamera

    settings = config.image
    depth = depth_source(settings.depth)
    if args.views is not None:
        if args.elevation is not None:
            raise DreamliftError("--elevation is for one image; a view table gives each image's camera")
        if settings.depth.file:
            raise DreamliftError("--depth is for one image; for a view table give --depth-model, which estimates every view's depth")
        views = load_view_table(
            args.views, size=config.size, border_ratio=settings.border_ratio, matting=args.matting, recentre=settings.recentre, depth=depth
        )
        settings.source = str(args.views.expanduser().resolve())
    else:
        elevation = 0.0 if args.elevation is None else args.elevation
        if not -90.0 <= elevation <= 90.0:
            raise DreamliftError(f"--elevation {elevation:g} is outside [-90, 90] degrees")
        base = settings.views[0]
        camera = OrbitCameras.make(elevation, 0.0, base.radius, base.fovy)
        views = [
            load_one_view(
                args.image, camera, size=config.size, border_ratio=settings.border_ratio, matting=args.matting, recentre=settings.recentre, depth=depth
            )
        ]
        settings.source = str(args.image.expanduser().resolve())
    settings.matting = args.matting
    settings.views = [
        ReferenceCamera(
            elevation=float(v.camera.elevation[0]),
            azimuth=float(v.camera.azimuth[0]),
            radius=float(v.camera.radius[0]),
            fovy=float(v.camera.fovy[0]),
            weight=float(v.weight),
            file="input.png" if i == 0 else f"inputs/view-{i + 1:02d}.png",
        )
        for i, v in enumerate(views)
    ]
    return [quantised(v) for v in views]


def depth_source(settings):
    """``matted image → (H, W) depth`` for ``--depth`` / ``--depth-model`` (:mod:`dreamlift.inputs.depth`), or None."""
    from dreamlift.inputs.depth import estimate_depth, fit_to_image, read_depth_map

    if settings.file:
        depth = read_depth_map(settings.file, settings.file_is_disparity)  # a bad file fails before the image is read

        def from_file(matted):
            height, width = matted.rgba.shape[:2]
            return fit_to_image(depth, height, width, matted.source_size, f"depth map {settings.file}")

        return from_file
    if settings.model:
        return lambda matted: estimate_depth(matted.rgba, settings.model, settings.model_is_disparity, settings.allow_network)
    return None


def write_depths(folder: Path, views: list) -> None:
    """The views' framed depth maps, ``DIR/inputs/depth.safetensors`` (one ``view-NN`` tensor each), when they have them."""
    from safetensors.torch import save

    from dreamlift._atomic import write_bytes

    if all(v.depth is not None for v in views):
        tensors = {f"view-{i + 1:02d}": v.depth.float().contiguous() for i, v in enumerate(views)}
        write_bytes(folder / DEPTH_FILE, save(tensors))


def read_depths(folder: Path, views: list) -> list:
    """``views`` with the depth maps a resumed run saved (as they were; a damaged file is a one-line error)."""
    from dataclasses import replace

    from safetensors.torch import load_file

    path = folder / DEPTH_FILE
    if not path.is_file():
        raise DreamliftError(f"{path} is missing: the run used a depth map; the run folder is damaged")
    try:
        tensors = load_file(str(path))
        return [replace(v, depth=tensors[f"view-{i + 1:02d}"]) for i, v in enumerate(views)]
    except Exception:
        raise DreamliftError(f"{path} is damaged: start a new run") from None


def read_saved_candidates(folder: Path, config) -> list | None:
    """A run's toy-view candidates, read back from ``view_prior.json`` (None for other priors)."""
    if config.prior.name != "toy-view":
        return None
    from dreamlift.guidance.toy_view import candidates_from_json

    path = folder / CANDIDATES_FILE
    if not path.is_file():
        raise DreamliftError(f"{path} is missing: the run folder is damaged; start a new run")
    from dreamlift._limits import read_text

    try:
        return candidates_from_json(read_text(path, str(path)))
    except (OSError, UnicodeDecodeError):
        raise DreamliftError(f"{path} cannot be read: the run folder is damaged; start a new run") from None


def read_saved_views(folder: Path, config) -> list:
    """A resumed run's processed input views, read back from its folder exactly as they were fitted."""
    import torch

    from dreamlift.inputs import ReferenceImage, ViewInput
    from dreamlift.inputs.image import decode_image
    from dreamlift.rendering.cameras import OrbitCameras

    views = []
    for record in config.image.views:
        path = folder / record.file
        decoded = decode_image(path)
        if decoded.alpha is None or decoded.rgb.shape[:2] != (config.size, config.size):
            raise DreamliftError(f"{path} is not the run's {config.size}x{config.size} RGBA input: the run folder is damaged")
        rgba = torch.cat((torch.from_numpy(decoded.rgb), torch.from_numpy(decoded.alpha)[..., None]), dim=-1)
        image = ReferenceImage(rgba=rgba, source_size=decoded.source_size, matting=config.image.matting, path=path)
        camera = OrbitCameras.make(record.elevation, record.azimuth, record.radius, record.fovy)
        views.append(ViewInput(image=image, camera=camera, weight=record.weight))
    if config.image.depth.file or config.image.depth.model:
        views = read_depths(folder, views)
    return views


def resumed_config(folder: Path, image: Path | None):
    from dreamlift.training.run_folder import read_run_config

    config = read_run_config(folder)
    if config.image is None:
        raise DreamliftError(f"{folder} holds no image settings: the run folder is damaged")
    if image is not None and str(image.expanduser().resolve()) != config.image.source:
        raise DreamliftError(f"{folder} is a run of {config.image.source}, not {image}: resume it without naming another image")
    return config


def run(args: argparse.Namespace) -> int:
    from dreamlift._atomic import write_png, write_text
    from dreamlift.commands._settings import print_config
    from dreamlift.commands.text import finish_run
    from dreamlift.guidance.base import GuidanceInputs
    from dreamlift.guidance.combined import with_text_prior
    from dreamlift.guidance.toy_view import candidates_to_json, identify, native_views
    from dreamlift.training.reference import ReferenceTargets, ReferenceViewHook
    from dreamlift.training.run_folder import check_run_folder, prepare_run_folder
    from dreamlift.training.trainer import Trainer, resolve_device

    started = time.perf_counter()
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
    candidates = None
    toy_view = False
    if args.resume:
        config = resumed_config(folder, args.image)
        resume_options(config, args)
        views = read_saved_views(folder, config)
        toy_view = config.prior.name == "toy-view"
        candidates = read_saved_candidates(folder, config)
    else:
        config = build_config(args)
        config.validate()  # bad settings fail before the image is read
        views = load_input_views(args, config)  # bad images fail here
        toy_view = config.prior.name == "toy-view"
    config.validate()
    device = resolve_device(config)
    if toy_view and candidates is None:  # recognise the toy object, then fit the views in the toy world's framing
        found = identify(views, config.prior, config.image.border_ratio, config.image.recentre)
        candidates = found.candidates
        views = [quantised(v) for v in native_views(views, found.best_renders, config.image.border_ratio, config.image.recentre)]
    inputs = GuidanceInputs(device=device, views=views, candidates=candidates)
    guidance = config.prior.setup(inputs)  # bad models fail here, before any file is written
    if config.prior.name == "zero123":
        how = "from the model name; --variant chooses" if config.prior.variant == "auto" else "--variant"
        print(f"Zero-1-to-3 pose vector: {guidance.model.variant.value} ({how})")
    turn = candidates[0].turn if candidates else None  # the toy view prior's recognised turn: where the text prior's front is
    guidance = with_text_prior(guidance, config.image.text, GuidanceInputs(prompt=config.prompt, device=device), turn)  # bad captions too
    folder = prepare_run_folder(folder, "image", resume=args.resume)
    if not args.resume:
        for record, view in zip(config.image.views, views):
            write_png(folder / record.file, view.image.rgba)
        write_depths(folder, views)
        if candidates is not None:
            write_text(folder / CANDIDATES_FILE, candidates_to_json(candidates))
    hook = ReferenceViewHook(config.image.loss, ReferenceTargets.from_views(views))
    trainer = Trainer(config, folder, guidance, kind="image", hooks=[hook], show_progress=not args.quiet)
    summary = trainer.run(resume=args.resume)
    trained = time.perf_counter() - started
    written = finish_run(trainer, config, inputs, quiet=args.quiet, resume=args.resume)
    total = time.perf_counter() - started
    if candidates is not None:
        print(describe_candidates(candidates))
    print(f"{folder}: {summary['step']} steps in {trained:.1f} s (total {total:.1f} s); wrote input.png, {', '.join(written)}")
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
