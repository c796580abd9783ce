"""``dreamlift render RUN --elevation E --azimuth A [--radius R] [--fovy F] [--size N] --out view.png``."""

from __future__ import annotations

import argparse
from pathlib import Path

from dreamlift.commands._common import add_stage_option, check_output_file, finite_float, positive_int
from dreamlift.errors import DreamliftError
from dreamlift.rendering.settings import TOY_CAMERA


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a run folder")
    parser.add_argument("--elevation", type=finite_float, required=True, help="degrees above the horizon")
    parser.add_argument("--azimuth", type=finite_float, required=True, help="degrees; 0 looks at the front, 90 from +X")
    parser.add_argument("--radius", type=finite_float, default=TOY_CAMERA.radius, help=f"camera distance (default {TOY_CAMERA.radius:g})")
    parser.add_argument("--fovy", type=finite_float, default=TOY_CAMERA.fovy, help=f"vertical field of view, degrees (default {TOY_CAMERA.fovy:g})")
    parser.add_argument("--size", type=positive_int, default=256, help="image size in pixels (default 256)")
    parser.add_argument("--shading", choices=("lambertian", "albedo", "textureless"), default="lambertian")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    add_stage_option(parser, "render")


def run(args: argparse.Namespace) -> int:
    import torch

    from dreamlift._atomic import write_png
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.pipeline.run import Run
    from dreamlift.rendering.shading import head_lights

    if args.size > 2048:
        raise DreamliftError(f"--size {args.size} is too large: use at most 2048")
    if args.radius <= 1.0:
        raise DreamliftError("--radius must be larger than 1 (the scene's bounding sphere)")
    if args.radius > 1000.0:  # 1e308 rendered NaNs with a numpy warning (issue 28's kind)
        raise DreamliftError(f"--radius {args.radius:g} is too far: use at most 1000 (the toy world's camera is at 3)")
    if not -90.0 <= args.elevation <= 90.0:
        raise DreamliftError(f"--elevation {args.elevation:g} is outside [-90, 90] degrees")
    if not -360.0 <= args.azimuth <= 360.0:
        raise DreamliftError(f"--azimuth {args.azimuth:g} is outside [-360, 360] degrees")
    if not 0 < args.fovy < 180:
        raise DreamliftError("--fovy must lie between 0 and 180 degrees")
    if args.out.is_dir():
        raise DreamliftError(f"--out {args.out} is a folder: give a .png file name")
    if args.out.suffix.lower() != ".png":
        raise DreamliftError(f"--out {args.out} must end in .png")
    check_output_file(args.out)
    asset = Run.open(args.run).asset(args.stage)
    cameras = OrbitCameras.make(args.elevation, args.azimuth, args.radius, args.fovy)
    out = asset.render(cameras, args.size, shading=args.shading, lights=head_lights(cameras))
    alpha = out["opacity"][0]
    straight = (out["image"][0] - (1.0 - alpha)) / alpha.clamp_min(1e-4)  # un-composite from white
    rgba = torch.cat((torch.where(alpha > 1e-4, straight, torch.ones_like(straight)), alpha), dim=-1)
    try:
        write_png(args.out, rgba)
    except OSError as error:
        raise DreamliftError(f"cannot write {args.out}: {error.strerror}") from None
    print(f"wrote {args.out} (stage {asset.stage}: {'the refined mesh' if asset.stage == 2 else 'the NeRF'}, step {asset.step})")
    return 0
