"""Fixtures of the real-prior tests: tiny SD and IF models saved once per session; one CPU thread per test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from _helpers import offline_single_thread
import torch

from . import tiny_models


@dataclass
class TinyModels:
    sd_folder: Path
    """A StableDiffusionPipeline folder."""
    sd_single_file: Path
    """The same weights as one LDM-layout .safetensors, in a folder of its own (no configs beside it)."""
    sd_single_file_in_folder: Path
    """The same file inside a copy of the diffusers folder (configs inferred from its folder)."""
    if_folder: Path
    """An IFPipeline folder."""


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("tiny_priors")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sd = tiny_models.build_tiny_sd(root / "work")
        sd_folder = tiny_models.save_sd_folder(sd, root / "sd")
        single = tiny_models.save_sd_single_file(sd, root / "single" / "tiny-sd.safetensors")
        inside = root / "sd_with_file"
        shutil.copytree(sd_folder, inside)
        shutil.copy(single, inside / "tiny-sd.safetensors")
        if_folder = tiny_models.save_if_folder(tiny_models.build_tiny_if(), root / "if")
    finally:
        torch.set_num_threads(threads)
    return TinyModels(sd_folder, single, inside / "tiny-sd.safetensors", if_folder)


@pytest.fixture(autouse=True)
def one_thread_offline(monkeypatch):
    """One torch thread, offline, no network (:func:`_helpers.offline_single_thread`)."""
    yield from offline_single_thread(monkeypatch)