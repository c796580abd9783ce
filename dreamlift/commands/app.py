"""``dreamlift app [--folder DIR] [--host 127.0.0.1] [--port 8000] [--workers 1]``: a local web app.

Type a prompt or drop an image, watch the previews and the loss while it trains,
cancel, download the asset. Jobs are queued in ``DIR/jobs.sqlite3`` and run by
``--workers`` worker processes as ``dreamlift text|image`` runs in ``DIR/<job>/``; a
job the app was running when it was stopped or killed resumes from its last
checkpoint when the app starts again on the same folder. The page uses the JSON API
under ``/api`` (:mod:`dreamlift.web.app`), which scripts can use too. Binds
127.0.0.1 unless told otherwise; on another address every request needs the token
printed at start. The interactive model needs <model-viewer>
(:mod:`dreamlift.web.modules`, ``dreamlift view --install-viewer``); without it the
page shows the turntable and says so.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
from pathlib import Path

from dreamlift.commands._common import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folder", type=Path, default=Path("runs") / "app", help="the app's folder: its job queue and one run folder per job (default runs/app)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; any other asks for a token)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0: any free port)")
    parser.add_argument("--workers", type=positive_int, default=1, help="jobs run at the same time (default 1)")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from dreamlift.web.app import AppServer
    from dreamlift.web.modules import NOT_INSTALLED_NOTE
    from dreamlift.web.server import is_loopback

    token = None if is_loopback(args.host) else secrets.token_urlsafe(18)
    server = AppServer(args.folder, host=args.host, port=args.port, workers=args.workers, token=token)
    url = server.url + (f"?token={token}" if token else "")
    jobs = server.app.queue.jobs()
    queued = sum(job.status == "queued" for job in jobs)
    resumed = ""
    if server.recovered:
        resumed = f", {server.recovered} of them interrupted: {'it resumes' if server.recovered == 1 else 'they resume'} from the last checkpoint"
    print(f"dreamlift app on {server.app.folder}: {len(jobs)} jobs, {queued} queued{resumed}", flush=True)
    print(f"open {url}  (Ctrl-C to stop)", flush=True)
    if server.app.model_viewer is None:
        print(NOT_INSTALLED_NOTE, file=sys.stderr)
    if token:
        print(f"token: {token}  (every request needs it; anyone with it can run jobs on this machine)", flush=True)
        print(f"warning: listening on {args.host}: anyone who can reach this machine and has the token can use the app", file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: workers checkpoint and requeue
    server.start_workers()
    if args.open:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping: a running job is saved at a checkpoint and resumes when the app starts again", flush=True)
    finally:
        server.close()
    return 0
