"""Seconds per training step of the learned priors (``dreamlift train-prior``) at their chosen sizes.

Times the real step functions of :class:`dreamlift.learned.train.Trainer` (forward, backward,
clipping, AdamW) for the VAE phase and the UNet phase of the text and view priors, on
renders of 2 views per object (the step time does not depend on how many there are), and
projects a training's CPU time from them. Run it single-threaded to match the training::

    OMP_NUM_THREADS=1 python bench/train_prior_step.py [--size default] [--repeats 5] [--threads 1]

Prints parameter counts, median / min seconds per step, and the projected hours.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dreamlift.learned.data import DataConfig
from dreamlift.learned.models import parameter_count
from dreamlift.learned.train import Trainer, config_for


def time_steps(step, optimizer, repeats: int) -> list[float]:
    step(0, optimizer)  # warm-up (allocations)
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        step(index + 1, optimizer)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), size {args.size}")
    rows = []
    for kind in ("text", "view"):
        config = config_for(kind, args.size, data=DataConfig(renders_per_object=2))
        trainer = Trainer(config, Path(tempfile.mkdtemp()))
        modules = trainer.components.trainable()
        if kind == "text":
            vae_times = time_steps(trainer._vae_step, trainer._module_optimizer("vae"), args.repeats)
            rows.append(("vae", parameter_count(modules["vae"]), config.vae_batch_size, vae_times, config.vae_steps))
        trainer._prepare_unet_phase()
        step = trainer._text_step if kind == "text" else trainer._view_step
        unet_times = time_steps(step, trainer._module_optimizer("unet"), args.repeats)
        trained = sum(parameter_count(m) for name, m in modules.items() if name != "vae")
        rows.append((f"{kind} unet+encoder", trained, config.batch_size, unet_times, config.steps))
    print(f"{'phase':<20}{'params':>10}{'batch':>7}{'median s':>10}{'min s':>8}{'steps':>8}{'hours':>7}")
    for name, params, batch, times, steps in rows:
        median = statistics.median(times)
        print(f"{name:<20}{params / 1e6:>9.2f}M{batch:>7}{median:>10.3f}{min(times):>8.3f}{steps:>8}{median * steps / 3600:>7.2f}")


if __name__ == "__main__":
    main()
