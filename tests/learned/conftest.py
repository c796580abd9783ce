"""Fixtures of the learned-prior tests: tiny trainings (a few steps of test-size components), one CPU thread, no network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from _helpers import offline_single_thread
import torch

from dreamlift.learned.data import DataConfig
from dreamlift.learned.train import TrainingConfig, config_for

VAE_STEPS, UNET_STEPS = 4, 40


def tiny_config(kind: str, **changes) -> TrainingConfig:
    """Test sizes: 32 px renders, 2 views per object, batches of 4, a checkpoint every 2 steps (as :func:`tiny_args`)."""
    settings = dict(steps=UNET_STEPS, vae_steps=VAE_STEPS, batch_size=4, vae_batch_size=2, checkpoint_every=2,
                    data=DataConfig(renders_per_object=2))
    settings.update(changes)
    return config_for(kind, "tiny", **settings)


def tiny_args(kind: str, out: Path, *extra) -> list:
    """Command-line arguments of :func:`tiny_config`."""
    return ["train-prior", kind, "--out", out, "--size", "tiny", "--steps", UNET_STEPS, "--vae-steps", VAE_STEPS,
            "--batch-size", 4, "--vae-batch-size", 2, "--renders", 2, "--checkpoint-every", 2, *extra]


@dataclass
class Trained:
    out: Path
    """The training folder; its model is ``out / "model"``."""
    components: object
    """The trained modules, as they were in memory at the end."""
    losses: dict


def train(kind: str, out: Path, **changes) -> Trained:
    from dreamlift.learned.train import Trainer, start_folder

    config = tiny_config(kind, **changes)
    start_folder(out, config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = Trainer(config, out).run()
    finally:
        torch.set_num_threads(threads)
    return Trained(out, result.components, result.losses)


@pytest.fixture(scope="session")
def trained_text(tmp_path_factory) -> Trained:
    with torch.random.fork_rng():
        return train("text", tmp_path_factory.mktemp("learned") / "text")


@pytest.fixture(scope="session")
def trained_view(tmp_path_factory) -> Trained:
    with torch.random.fork_rng():
        return train("view", tmp_path_factory.mktemp("learned") / "view")


@pytest.fixture(autouse=True)
def one_thread_offline(monkeypatch):
    """One torch thread, offline, no network (:func:`_helpers.offline_single_thread`)."""
    yield from offline_single_thread(monkeypatch)