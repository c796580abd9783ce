"""Wall time of README command 1's job, ``dreamlift text "a red cube" --out DIR``, against another checkout (issue 16).

Each job runs in a fresh interpreter (``python -m dreamlift.cli``, as the ``dreamlift`` script does)
into a new folder, with the machine's threads (as a user runs it) and the toy render cache as it
is (warm after the first job; ``--cold`` gives each job an empty ``DREAMLIFT_CACHE``, as on a fresh
machine). ``--tree DIR`` (repeatable) names the checkouts, timed alternately so a machine that
speeds up or slows down affects both alike; printed: every job's wall time, the median per
checkout, the job's own "total" line and the load average before and after.

    python bench/job.py --repeat 3                                  # this checkout
    python bench/job.py --tree /tmp/before --tree . --repeat 3      # main (git archive main | tar -x -C /tmp/before) against this one
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "a red cube"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, action="append", default=None, help="checkout whose dreamlift is timed (repeat to compare; default this one)")
    parser.add_argument("--repeat", type=int, default=3, help="jobs per checkout (median reported)")
    parser.add_argument("--cold", action="store_true", help="an empty render cache for every job (a fresh machine)")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="KEY=VALUE passed to every job")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in (args.tree or [Path(__file__).resolve().parents[1]])]
    print(f"python {sys.version.split()[0]}  repeat {args.repeat}  cache {'empty' if args.cold else 'as it is'}  load before {load()}")
    for number, tree in enumerate(trees, start=1):
        print(f"  tree {number}: {tree}")
    times: dict[int, list[float]] = {number: [] for number in range(1, len(trees) + 1)}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeat):
            for number, tree in enumerate(trees, start=1):
                env = {**os.environ, "PYTHONPATH": str(tree)}
                if args.cold:
                    env["DREAMLIFT_CACHE"] = f"{scratch}/cache-{number}-{repeat}"
                out = f"{scratch}/run-{number}-{repeat}"
                command = [sys.executable, "-m", "dreamlift.cli", "text", PROMPT, "--out", out, "--quiet", *(x for s in args.settings for x in ("--set", s))]
                started = time.perf_counter()
                done = subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(f"tree {number}: {' '.join(command)} exited {done.returncode}: {done.stderr[-500:]}")
                times[number].append(seconds)
                summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
                print(f"  tree {number} job {repeat + 1}: {seconds:6.1f} s wall   ({summary.split(': ', 1)[-1][:60]})  load {load()}", flush=True)
    for number in times:
        print(f"tree {number}: median {statistics.median(times[number]):.1f} s over {len(times[number])} jobs ({', '.join(f'{t:.1f}' for t in times[number])})")
    if len(trees) > 1:
        base = statistics.median(times[1])
        for number in list(times)[1:]:
            print(f"tree {number} / tree 1: {statistics.median(times[number]) / base:.2f}")


if __name__ == "__main__":
    main()
