"""Hugging Face offline mode holds for the duration of a load only: set inside, the previous state restored after."""

from __future__ import annotations

import os
import warnings

import pytest

from dreamlift.errors import DreamliftError
from dreamlift.guidance._loading import hub_offline
from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance
from _helpers import error_message

constants = pytest.importorskip("huggingface_hub.constants")


def offline_state() -> tuple[str | None, bool]:
    """``(HF_HUB_OFFLINE variable, huggingface_hub's offline flag)``."""
    return os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE


@pytest.fixture
def online(monkeypatch):
    """The variable unset and huggingface_hub online, as in a user's shell (the conftest sets offline)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def unet_load_states(monkeypatch):
    """The offline state at each UNet load (the real load still runs)."""
    from diffusers import UNet2DConditionModel

    seen = []
    original = UNet2DConditionModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.append(offline_state())
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", classmethod(spy))
    return seen


def test_offline_is_set_inside_and_unset_after(online):
    with hub_offline(True):
        assert offline_state() == ("1", True)
        assert constants.is_offline_mode()
    assert offline_state() == (None, False)


def test_a_previous_value_comes_back(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with hub_offline(True):
        assert offline_state() == ("1", True)
    assert offline_state() == ("0", False)


def test_restored_after_an_exception(online):
    with pytest.raises(ZeroDivisionError):
        with hub_offline(True):
            assert offline_state() == ("1", True)
            1 / 0
    assert offline_state() == (None, False)


def test_network_allowed_changes_nothing(monkeypatch, online):
    with hub_offline(False):
        assert offline_state() == (None, False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a user's own offline setting holds
    with hub_offline(False):
        assert offline_state() == ("1", False)
    assert offline_state() == ("1", False)


def build(model, **overrides):
    config = StableDiffusionConfig(model=str(model), **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return build_stable_diffusion_guidance("a hamburger", config, TimestepSchedule(), device="cpu")


def test_loading_a_prior_is_offline_and_restores_the_state(tiny, online, unet_load_states):
    build(tiny.sd_folder)
    assert unet_load_states == [("1", True)]
    assert offline_state() == (None, False)


def test_a_failed_load_restores_the_state(tiny, tmp_path, online, unet_load_states):
    import shutil

    copy = tmp_path / "sd"
    shutil.copytree(tiny.sd_folder, copy)
    (copy / "unet" / "config.json").write_text("{not json")
    with pytest.raises(DreamliftError, match="could not load Stable Diffusion from"):
        build(copy)
    assert unet_load_states == [("1", True)]
    assert offline_state() == (None, False)


def test_an_uncached_hub_id_offline_is_a_one_line_error_and_restores_the_state(tmp_path, online):
    error_message(
        lambda: build("stabilityai/stable-diffusion-2-1-base", cache_dir=str(tmp_path)),
        "not in the Hugging Face cache",
        "hf download stabilityai/stable-diffusion-2-1-base",
    )
    assert offline_state() == (None, False)
