"""``dreamlift export RUN [--stage 1|2|final] [--format glb|obj|ply] [--resolution N] [--texture vertex|uv] [--faces N] [--out PATH]``.

Re-exports one stage of a run with other settings (the final stage by default: the refined
surface when the run was refined, with its colour field as vertex colours or a baked texture).
The default file is the stage's own: ``RUN/mesh.<format>`` for the final stage and
``RUN/mesh-stage1.<format>`` for stage 1 of a refined run, so a re-export never puts stage 1
in place of the refined ``mesh.glb``; ``--out`` writes elsewhere (the format follows its suffix
when ``--format`` is not given); ``--turntable`` also rewrites ``RUN/turntable.mp4`` (final stage only).
When the stage's newest checkpoint is damaged the export falls back to an older one only with
``--out``, and says so: the run's own files are never replaced by an older step.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dreamlift.commands._common import add_stage_option, finite_float, positive_int
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
    add_stage_option(parser, "export")


def _format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return args.format
    if args.out is not None and args.out.suffix:
        suffix = args.out.suffix.lower().lstrip(".")
        if suffix not in FORMATS:
            raise DreamliftError(f"cannot tell the format of {args.out.name!r}: end --out in .glb, .obj or .ply, or give --format")
        return suffix
    return "glb"


def run(args: argparse.Namespace) -> int:
    from dreamlift.commands._common import check_output_file
    from dreamlift.pipeline.run import Run

    fmt = _format(args)
    if args.out is not None:
        check_output_file(args.out)
    run = Run.open(args.run)
    stage = run.stage(args.stage)
    if stage == 2 and (args.resolution is not None or args.threshold is not None):
        raise DreamliftError("--resolution and --threshold set stage 1's density grid: the refined surface is exported as it is; add --stage 1")
    if (args.turntable or args.gif) and stage != run.final_stage:
        raise DreamliftError(f"RUN/turntable.mp4 shows the final stage ({run.final_stage}): drop --turntable to export stage {stage}")
    out = args.out if args.out is not None else run.mesh_file(stage).with_suffix(f".{fmt}")
    if args.out is not None and stage == 1 and run.final_stage == 2 and _same_file(out, run.mesh_file(2).with_suffix(f".{fmt}")):
        raise DreamliftError(f"{out} is the refined (stage 2) mesh of the run: write stage 1 to another --out")
    with run.lock():
        asset = run.asset(stage, warn=args.out is not None)  # an export elsewhere of an older step warns
        if asset.fallback is not None and args.out is None:  # the run's own files come from the newer step
            raise DreamliftError(
                f"{run.path}: {asset.fallback}: not overwriting {out} with the older mesh; export it with --out other.{fmt}, "
                "or continue the run with --resume to write a new checkpoint"
            )
        if stage == 2:
            written = export_refined(run, asset, fmt, out, args)
        else:
            written = export_stage1(run, asset, fmt, out, args)
    print(f"stage {stage} ({'refined mesh' if stage == 2 else 'NeRF'}, step {asset.step}): {written}")
    return 0


def _same_file(a: Path, b: Path) -> bool:
    return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def export_stage1(run, asset, fmt: str, out: Path, args: argparse.Namespace) -> str:
    """Stage 1's NeRF as a mesh (marching cubes at the fitted level), coloured, into ``out``."""
    from dreamlift.export import ColourConfig, TurntableConfig, export_run

    result = export_run(
        run.path,
        asset.field,
        formats=(fmt,),
        out=out,
        resolution=args.resolution,
        texture=args.texture,
        faces=args.faces,
        threshold=args.threshold,
        colour_config=ColourConfig(texture_size=args.texture_size),
        turntable=TurntableConfig(gif=args.gif) if (args.turntable or args.gif) else False,
        occupancy=asset.occupancy,
        progress=True,
    )
    return result.summary()


def export_refined(run, asset, fmt: str, out: Path, args: argparse.Namespace) -> str:
    """The refined surface, cleaned and coloured by the refined colour field (``--faces``: quadric decimation), into ``out``."""
    from dreamlift.export import write_mesh
    from dreamlift.export.texture import ColourConfig, apply_colour
    from dreamlift.export.video import TurntableConfig
    from dreamlift.refine.export import as_surface, turntable_albedo, write_mesh_turntable

    colour = ColourConfig(texture=args.texture, texture_size=args.texture_size)
    colour.validate()
    mesh = asset.surface.mesh()
    if args.faces is not None and len(mesh.faces) > args.faces:
        import importlib.util

        if importlib.util.find_spec("fast_simplification") is None:
            raise DreamliftError("--faces on the refined mesh needs quadric decimation: pip install fast-simplification")
        mesh = mesh.simplify_quadric_decimation(face_count=args.faces)
    coloured = apply_colour(asset.field, mesh, colour, asset.surface.spacing)
    files = write_mesh(coloured, out, fmt)
    if args.turntable or args.gif:
        config = TurntableConfig(gif=args.gif, size=int(run.config.turntable_size))
        files += write_mesh_turntable(as_surface(mesh), turntable_albedo(mesh, asset.field), run.path / "turntable.mp4", config)
    return f"wrote {', '.join(str(f) for f in files)}: {len(coloured.vertices)} vertices, {len(coloured.faces)} faces"
