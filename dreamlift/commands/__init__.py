"""The commands of ``dreamlift``: each module has ``add_arguments(parser)`` and ``run(args) -> int``.

:func:`build_parser` makes the whole command line; :func:`run_argv` parses and runs one command
line with the one-line errors of :func:`dreamlift.errors.main_status`. ``dreamlift.cli`` is the
console entry point over these; ``dreamlift batch`` runs its rows with :func:`run_argv`.
"""

from __future__ import annotations

import argparse
import sys

from dreamlift.commands import batch as batch_command
from dreamlift.commands import convert as convert_command
from dreamlift.commands import app as app_command
from dreamlift.commands import eval as eval_command
from dreamlift.commands import export as export_command
from dreamlift.commands import image as image_command
from dreamlift.commands import presets as presets_command
from dreamlift.commands import refine as refine_command
from dreamlift.commands import render as render_command
from dreamlift.commands import text as text_command
from dreamlift.commands import train_prior as train_prior_command
from dreamlift.commands import view as view_command

COMMANDS = {
    "text": (text_command, "text prompt to a 3D asset by score distillation"),
    "image": (image_command, "one image (or a few with known cameras) to a 3D asset"),
    "refine": (refine_command, "stage 2 on a finished run: refine its mesh (DMTet) at a higher render size"),
    "render": (render_command, "render a run's result from any orbit camera to a PNG"),
    "eval": (eval_command, "score a run against toy-world ground truth"),
    "export": (export_command, "re-export a run's mesh (glb, obj, ply) with other settings"),
    "view": (view_command, "serve a local web page showing a run, or a gallery of runs"),
    "batch": (batch_command, "many prompts or images as Ray tasks: resumable, with a summary and a gallery"),
    "presets": (presets_command, "list the named presets (--preset NAME), or print one's settings"),
    "convert": (convert_command, "a Zero-1-to-3 checkpoint (zero123-xl.ckpt, stable_zero123.ckpt) to a diffusers folder of safetensors"),
    "app": (app_command, "a local web app: submit a prompt or an image, watch it train, download the asset"),
    "train-prior": (train_prior_command, "train a small text (Stable Diffusion layout) or view (Zero-1-to-3 layout) prior on toy-world renders"),
}


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit with status 2; ``epilog_factory``
    (set by a command) makes the help's closing text only when help is asked for."""

    epilog_factory = None

    def error(self, message: str) -> None:  # noqa: D401
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)

    def format_help(self) -> str:
        if self.epilog_factory is not None and self.epilog is None:
            self.epilog = self.epilog_factory()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dreamlift", description="Text or one image to a 3D asset by score distillation.")
    from dreamlift import __version__

    parser.add_argument("--version", action="version", version=f"dreamlift {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def run_argv(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (a usage error exits with status 2) and run the command: its exit status."""
    from dreamlift.errors import main_status

    args = build_parser().parse_args(argv)
    return main_status(lambda: args._run(args))
