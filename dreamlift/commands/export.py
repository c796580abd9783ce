"""``dreamlift export RUN [--format glb|obj|ply] [--resolution N] [--texture vertex|uv] [--faces N] [--out PATH]``.

Re-exports a run's latest scene with other settings: by default ``RUN/mesh.<format>``;
``--out`` writes elsewhere (the format follows its suffix when ``--format`` is not
given); ``--turntable`` also rewrites ``RUN/turntable.mp4``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dreamlift.commands._common import finite_float, positive_int
from dreamlift.errors import DreamliftError

FORMATS = ("glb", "obj", "ply")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a run folder")
    parser.add_argument("--format", choices=FORMATS, default=None, help="mesh format (default glb, or --out's suffix)")
    parser.add_argument("--resolution", type=positive_int, default=None, help="density grid points per axis (default 96)")
    parser.add_argument("--texture", choices=("vertex", "uv"), default="vertex", help="vertex colours (default) or a baked UV texture")
    parser.add_argument("--texture-size", type=positive_int, default=1024, help="UV texture width and height (default 1024)")
    parser.add_argument("--faces", type=positive_int, default=None, help="face budget (default: keep all)")
    parser.add_argument("--threshold", type=finite_float, default=None, help="density level of the surface (default: fitted to the renders)")
    parser.add_argument("--out", type=Path, default=None, help="output file (default RUN/mesh.<format>)")
    parser.add_argument("--turntable", action="store_true", help="also write RUN/turntable.mp4")
    parser.add_argument("--gif", action="store_true", help="also write RUN/turntable.gif (implies --turntable)")


def _load(run_dir: Path):
    from dreamlift.training.run_folder import load_run

    return load_run(run_dir, warn_fallback=False)  # refuse_older_over_newer warns, or refuses


def _format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return args.format
    if args.out is not None and args.out.suffix:
        suffix = args.out.suffix.lower().lstrip(".")
        if suffix not in FORMATS:
            raise DreamliftError(f"cannot tell the format of {args.out.name!r}: end --out in .glb, .obj or .ply, or give --format")
        return suffix
    return "glb"


def refuse_older_over_newer(loaded, fmt: str, args: argparse.Namespace) -> None:
    """Issue 28: when the newest checkpoint is damaged and ``load_run`` fell back to an older step, the run's own
    assets (``RUN/mesh.<fmt>``, ``RUN/turntable.mp4``), made from the newer step, are not overwritten with an older
    mesh (a one-line error that says to give ``--out``); any other export of the older step warns, naming both steps."""
    if getattr(loaded, "fallback", None) is None:
        return
    targets = [] if args.out is not None else [loaded.path / f"mesh.{fmt}"] + ([loaded.path / "turntable.mp4"] if (args.turntable or args.gif) else [])
    existing = [path for path in targets if path.exists()]
    if existing:
        raise DreamliftError(
            f"{loaded.path}: {loaded.fallback}: not overwriting {existing[0]} with the older mesh; export it with --out other.{fmt}, "
            "or continue the run with --resume to write a new checkpoint"
        )
    import warnings

    warnings.warn(f"{loaded.path}: {loaded.fallback}", stacklevel=2)


def run(args: argparse.Namespace) -> int:
    from dreamlift.export import ColourConfig, TurntableConfig, export_run

    from dreamlift.commands._common import check_output_file

    fmt = _format(args)
    if args.out is not None:
        check_output_file(args.out)
    loaded = _load(args.run)
    refuse_older_over_newer(loaded, fmt, args)
    result = export_run(
        loaded.path,
        loaded.field,
        formats=(fmt,),
        out=args.out,
        resolution=args.resolution,
        texture=args.texture,
        faces=args.faces,
        threshold=args.threshold,
        colour_config=ColourConfig(texture_size=args.texture_size),
        turntable=TurntableConfig(gif=args.gif) if (args.turntable or args.gif) else False,
        occupancy=getattr(loaded, "occupancy", None),
        progress=True,
    )
    print(result.summary())
    return 0
