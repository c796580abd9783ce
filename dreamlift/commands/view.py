"""``dreamlift view RUN [RUN ...] [--host 127.0.0.1] [--port 0]``: a local web page showing results.

Serves the run's page (model, turntable, prompt or input image, settings, training
curves) or, for a folder of runs or several runs, a gallery. Binds 127.0.0.1 unless
told otherwise. The interactive model needs <model-viewer>
(:mod:`dreamlift.web.modules`); without it the page shows the turntable and says so.
A Gaussian run's ``splats.ply`` is drawn with Spark (three.js); without it the page
says so. ``dreamlift view --install-viewer`` installs both once into the user's cache
with npm, and exits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN", help="a run folder, or a folder of runs (a gallery)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")
    parser.add_argument(
        "--install-viewer", action="store_true",
        help="install the interactive 3D view (<model-viewer> and the splat view, with npm) into the user's cache once, and exit",
    )


def install_viewer() -> int:
    """``--install-viewer``: install <model-viewer> and the splat view into the cache and say where."""
    from dreamlift.web.modules import install_model_viewer

    print("installing <model-viewer> and Spark with npm (once)...", flush=True)
    script = install_model_viewer()
    print(f"installed {script}: 'dreamlift view RUN' and 'dreamlift app' now show the interactive 3D model, and 'dreamlift view' a Gaussian run's splats", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    from dreamlift.errors import DreamliftError
    from dreamlift.web.modules import NOT_INSTALLED_NOTE, SPLATS_NOT_INSTALLED_NOTE
    from dreamlift.web.server import ViewerServer, is_loopback

    if args.install_viewer:
        if args.runs:
            raise DreamliftError("--install-viewer installs and exits: run it without RUN folders, then 'dreamlift view RUN'")
        return install_viewer()
    if not args.runs:
        raise DreamliftError("give a RUN folder (or a folder of runs) to view, or --install-viewer to install the interactive 3D view")
    server = ViewerServer(list(args.runs), host=args.host, port=args.port)
    count = len(server.app.runs)
    print(f"serving {count} run{'s' if count != 1 else ''} at {server.url}  (Ctrl-C to stop)", flush=True)
    if not server.app.interactive:
        print(NOT_INSTALLED_NOTE, file=sys.stderr)
    if server.app.splats is None and any((run.path / "splats.ply").is_file() for run in server.app.runs.values()):
        print(SPLATS_NOT_INSTALLED_NOTE, file=sys.stderr)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can see these runs", file=sys.stderr)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.close()
    return 0
