"""``dreamlift view RUN [RUN ...] [--host 127.0.0.1] [--port 0]``: a local web page showing results.

Serves the run's page (model, turntable, prompt or input image, settings, training
curves) or, for a folder of runs or several runs, a gallery. Binds 127.0.0.1 unless
told otherwise; needs <model-viewer> installed once with ``npm ci --prefix dreamlift/web``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="a run folder, or a folder of runs (a gallery)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")


def run(args: argparse.Namespace) -> int:
    from dreamlift.web.server import ViewerServer, is_loopback

    server = ViewerServer(list(args.runs), host=args.host, port=args.port)
    count = len(server.app.runs)
    print(f"serving {count} run{'s' if count != 1 else ''} at {server.url}  (Ctrl-C to stop)", flush=True)
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
