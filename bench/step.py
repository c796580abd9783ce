"""Median milliseconds of one training step at default settings, with and without skipping.

Both variants train the same field state from the same run (a scene with content,
not the initial blob) and are timed *alternately* in the same process, so a busy
machine slows both alike. Usage::

    python bench/step.py [--prompt "a red cube"] [--warm-steps 300] [--repeats 40]

Prints one table: median / p10 / p90 ms per step and the share of samples evaluated.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dreamlift.guidance.base import GuidanceInputs
from dreamlift.presets import toy_text
from dreamlift.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="a red cube")
    parser.add_argument("--warm-steps", type=int, default=300, help="steps trained first so the scene has content")
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()

    config = toy_text()
    config.prompt = args.prompt
    guidance = config.prior.setup(GuidanceInputs(prompt=config.prompt))
    trainer = Trainer(config, Path(tempfile.mkdtemp()), guidance, show_progress=False)
    for _ in range(args.warm_steps):
        trainer.train_step()
        trainer.step += 1
    state = copy.deepcopy((trainer.field.state_dict(), trainer.optimizer.state_dict(), trainer.occupancy.state_dict()))

    variants = {"skipping (default)": True, "dense sampling": False}
    times: dict[str, list[float]] = {name: [] for name in variants}
    evaluated: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, skip in variants.items():
            trainer.field.load_state_dict(state[0])
            trainer.optimizer.load_state_dict(state[1])
            trainer.occupancy.load_state_dict(state[2])
            trainer.representation.renderer.config.skip_empty = skip
            trainer.step = args.warm_steps + 1 + repeat  # never an occupancy-update step
            if trainer.step % config.occupancy.update_every == 0:
                trainer.step += 1
            started = time.perf_counter()
            record = trainer.train_step()
            times[name].append((time.perf_counter() - started) * 1000.0)
            evaluated[name].append(record.evaluated if record else float("nan"))

    print(f"one training step, {config.size}x{config.size}, {config.render.samples_per_ray} samples/ray, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, after {args.warm_steps} warm-up steps of {args.prompt!r}")
    print(f"{'variant':<20} {'median ms':>10} {'p10':>8} {'p90':>8} {'evaluated':>10}")
    for name in variants:
        values = sorted(times[name])
        p10, p90 = values[len(values) // 10], values[(9 * len(values)) // 10]
        print(f"{name:<20} {statistics.median(values):>10.1f} {p10:>8.1f} {p90:>8.1f} {statistics.mean(evaluated[name]):>10.1%}")
    speedup = statistics.median(times["dense sampling"]) / statistics.median(times["skipping (default)"])
    print(f"speed-up of skipping over dense sampling: {speedup:.2f}x")


if __name__ == "__main__":
    main()
