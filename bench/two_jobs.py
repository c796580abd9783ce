"""Two default jobs started together against one alone (issue 28, item 7): is the CPU shared without collapsing?

For each checkout (``--tree``, repeatable; default this one) it times README command 1's job,
``dreamlift text "a red cube" --out DIR``, alone, then two such jobs started at the same moment
(each into its own folder, as two users would), and prints the ratio *both finished / one alone*
(2.0 is a fair share of the cores; the issue's target is at most 2.2). Each job runs in a fresh
interpreter with the environment as it is (no thread settings), the toy render cache warm (a first
job fills it). Checkouts and repeats alternate, so a machine that speeds up or slows down affects
all alike; nothing else should run meanwhile.

    python bench/two_jobs.py --repeat 2
    python bench/two_jobs.py --tree /tmp/before --tree . --repeat 2     # git archive main | tar -x -C /tmp/before
    python bench/two_jobs.py --job-args "--steps 300 --refine-steps 100 --no-export" --env OMP_WAIT_POLICY=PASSIVE
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


def start(tree: Path, out: str, scratch: str, settings: list[str], env_settings: list[str] = (), job_args: list[str] = ()) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(tree), **dict(item.split("=", 1) for item in env_settings)}
    command = [sys.executable, "-m", "dreamlift.cli", "text", PROMPT, "--out", out, "--quiet", *job_args, *(x for s in settings for x in ("--set", s))]
    return subprocess.Popen(command, env=env, cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def timed(processes: list[subprocess.Popen]) -> float:
    """Seconds until every process has ended (each must exit 0)."""
    started = time.perf_counter()
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a job exited {process.returncode}: {stderr[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, action="append", default=None, help="checkout to time (repeat to compare; default this one)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds per checkout (medians reported)")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="KEY=VALUE passed to every job")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE in every job's environment (e.g. OMP_WAIT_POLICY=PASSIVE)")
    parser.add_argument("--job-args", default="", help="more options of every job, e.g. '--steps 300 --refine-steps 100 --no-export'")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in (args.tree or [Path(__file__).resolve().parents[1]])]
    print(f"python {sys.version.split()[0]}  {os.cpu_count()} CPUs  repeat {args.repeat}  load before {load()}")
    alone: dict[int, list[float]] = {n: [] for n in range(len(trees))}
    pair: dict[int, list[float]] = {n: [] for n in range(len(trees))}
    with tempfile.TemporaryDirectory() as scratch:
        timed([start(trees[0], f"{scratch}/warm", scratch, args.settings)])  # the render cache
        for repeat in range(args.repeat):
            for number, tree in enumerate(trees):
                extra = (args.env, args.job_args.split())
                alone[number].append(timed([start(tree, f"{scratch}/a-{number}-{repeat}", scratch, args.settings, *extra)]))
                both = [start(tree, f"{scratch}/p{k}-{number}-{repeat}", scratch, args.settings, *extra) for k in (1, 2)]
                pair[number].append(timed(both))
                print(
                    f"  tree {number + 1} round {repeat + 1}: one alone {alone[number][-1]:6.1f} s, two together {pair[number][-1]:6.1f} s "
                    f"({pair[number][-1] / alone[number][-1]:.2f}x)  load {load()}",
                    flush=True,
                )
    for number, tree in enumerate(trees):
        one, two = statistics.median(alone[number]), statistics.median(pair[number])
        print(f"tree {number + 1} ({tree}): one job {one:.1f} s, two together {two:.1f} s: {two / one:.2f}x one (fair: 2.0, target <= 2.2)")


if __name__ == "__main__":
    main()
