"""``dreamlift batch`` against single runs, and the driver-SIGKILL experiment (issue 14).

    python bench/batch.py --out /tmp/batch-bench [--prompts 8] [--steps N] [--skip ray,single,w1,w2,kill]

Phases, in this order (so the slowest comparisons come last): ray, w2, kill, w1, single.

0. ray: Ray's fixed costs (a local cluster's start, a first task in a fresh worker, later tasks, shutdown);
1. single: each prompt as its own ``dreamlift text`` process (then ``dreamlift eval --json``,
   which the batch does inside each task for its summary), timed one after another;
2. w1 / w2: the same prompts as one ``dreamlift batch --workers 1 --cpus-per-run 2`` and
   ``--workers 2 --cpus-per-run 1``; Ray's overhead per run is
   (batch wall time - sum of the tasks' own seconds from summary.csv) / runs;
3. kill: ``--workers 2`` again in a fresh folder, the driver SIGKILLed at half the w2 wall
   time, then the same command rerun: which runs were redone, and the steps each resumed
   run lost (its last logged step at the kill minus the step it resumed from).

Prints one JSON line per phase (and appends them to OUT/results.jsonl). Times are wall
seconds on whatever else the machine runs: give its load average beside them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

PROMPTS = (
    "a red sphere", "a blue cube", "a green cylinder", "an orange cone",
    "a yellow torus", "a purple pyramid", "a cyan snowman", "a pink mushroom",
)
CLI = [sys.executable, "-m", "dreamlift.cli"]


def report(out: Path, record: dict) -> None:
    record["loadavg"] = os.getloadavg()
    line = json.dumps(record)
    print(line, flush=True)
    with open(out / "results.jsonl", "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def summary(folder: Path) -> list[dict]:
    with open(folder / "summary.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def batch_argv(file: Path, folder: Path, workers: int, steps: list[str]) -> list[str]:
    return CLI + ["batch", str(file), "--out", str(folder), "--workers", str(workers), "--cpus-per-run", str(2 // workers), "--quiet", *steps]


def last_logged_step(run: Path) -> int:
    step = 0
    for line in (run / "log.jsonl").read_text().splitlines() if (run / "log.jsonl").exists() else ():
        try:
            step = max(step, json.loads(line).get("step", 0))
        except ValueError:
            pass
    return step


def state(run: Path) -> dict:
    from dreamlift.training.run_folder import run_progress

    progress = run_progress(run)
    files = sorted(p for p in run.rglob("*") if p.is_file()) if run.exists() else []
    return {
        "finished": progress.finished, "checkpoint": progress.step, "logged": last_logged_step(run),
        "mtimes": {str(p.relative_to(run)): p.stat().st_mtime_ns for p in files if p.name != "log.jsonl"},
    }


def batch_phase(out: Path, file: Path, workers: int, steps: list[str]) -> float:
    """One timed batch; Ray's overhead per run is what the batch took beyond its tasks' own seconds."""
    folder = out / f"batch-w{workers}"
    wall = timed(batch_argv(file, folder, workers, steps))
    rows = summary(folder)
    tasks = [float(row["seconds"]) for row in rows]
    report(out, {"phase": f"w{workers}", "wall": wall, "task_seconds": tasks, "sum_tasks": sum(tasks),
                 "overhead_per_run_vs_tasks": (wall * workers - sum(tasks)) / len(tasks),
                 "statuses": [row["status"] for row in rows]})
    return wall


def _imports_and_pid() -> int:
    import torch  # noqa: F401

    import dreamlift.cli  # noqa: F401

    return os.getpid()


def ray_phase(out: Path, tasks: int = 4) -> None:
    """Ray's own costs, as the batch pays them: a local cluster's start, a first task that imports
    torch and dreamlift in a fresh worker, later tasks on that worker, and the shutdown."""
    import ray

    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    init = time.perf_counter() - started
    task = ray.remote(_imports_and_pid).options(num_cpus=2)
    seconds, pids = [], []
    for _ in range(tasks):
        started = time.perf_counter()
        pids.append(ray.get(task.remote()))
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    ray.shutdown()
    report(out, {"phase": "ray", "init": init, "task_round_trips": seconds, "distinct_workers": len(set(pids)),
                 "shutdown": time.perf_counter() - started})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    parser.add_argument("--steps", default=None, help="steps per run (default: the preset's)")
    parser.add_argument("--skip", default="", help="phases to skip: ray,single,w1,w2,kill")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    prompts = PROMPTS[: args.prompts]
    file = args.out / "prompts.txt"
    file.write_text("".join(p + "\n" for p in prompts))
    steps = ["--steps", args.steps] if args.steps else []
    w2_wall = None

    if "ray" not in skip:
        ray_phase(args.out)
    if "w2" not in skip:
        w2_wall = batch_phase(args.out, file, 2, steps)

    if "kill" not in skip:
        folder = args.out / "batch-kill"
        half = (w2_wall or 600.0) / 2
        driver = subprocess.Popen(batch_argv(file, folder, 2, steps), stdout=subprocess.DEVNULL)
        time.sleep(half)
        descendants = psutil.Process(driver.pid).children(recursive=True)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        killed_at = time.time()
        time.sleep(10)
        left = [p.pid for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        runs = sorted(p for p in folder.iterdir() if p.is_dir())
        before = {run.name: state(run) for run in runs}
        wall = timed(batch_argv(file, folder, 2, steps))
        after_rows = {row["folder"]: row for row in summary(folder)}
        redone, resumed = [], {}
        for name, old in before.items():
            new = state(folder / name)
            if old["finished"]:
                changed = [f for f, t in old["mtimes"].items() if new["mtimes"].get(f) != t]
                if changed:
                    redone.append({name: changed})
            else:
                start = int(after_rows[name]["start_step"] or 0)
                resumed[name] = {"logged_at_kill": old["logged"], "checkpoint_at_kill": old["checkpoint"],
                                 "resumed_from": start, "steps_lost": old["logged"] - start}
        never_started = [row["folder"] for row in summary(folder) if row["folder"] not in before]
        report(args.out, {
            "phase": "kill", "killed_after": half, "driver_descendants": len(descendants), "descendants_alive_10s_after_kill": len(left),
            "finished_before_kill": [n for n, s in before.items() if s["finished"]],
            "finished_runs_changed_by_rerun": redone, "resumed": resumed, "not_started_before_kill": never_started,
            "rerun_wall": wall, "rerun_statuses": [row["status"] for row in summary(folder)], "killed_at": killed_at,
        })
    if "w1" not in skip:
        batch_phase(args.out, file, 1, steps)

    if "single" not in skip:
        runs, evals = [], []
        for prompt in prompts:
            folder = args.out / "single" / prompt.replace(" ", "_")
            runs.append(timed(CLI + ["text", prompt, "--out", str(folder), "--quiet", *steps]))
            evals.append(timed(CLI + ["eval", str(folder), "--truth", prompt, "--json"]))
        report(args.out, {"phase": "single", "runs": len(prompts), "text_seconds": runs, "eval_seconds": evals,
                          "sum_text": sum(runs), "sum_text_and_eval": sum(runs) + sum(evals)})


if __name__ == "__main__":
    main()
