"""The model folder appears whole or not at all, and an extended training replaces the old one."""

from __future__ import annotations

import pytest


def test_the_model_folder_appears_whole_or_not_at_all(trained_text, tmp_path, monkeypatch):
    from dreamlift.learned import export

    target = tmp_path / "model"

    def half_written(components, folder):
        (folder / "unet").mkdir()
        (folder / "unet" / "config.json").write_text("{}")
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(export, "_write_text_model", half_written)
        with pytest.raises(OSError, match="disk full"):
            export.write_model("text", trained_text.components, target)
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "old.txt").write_text("from a shorter training")
    export.write_model("text", trained_text.components, target)
    assert (target / "model_index.json").is_file() and not (target / "old.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_the_float16_copy_holds_the_same_weights_rounded_and_loads_into_float32(trained_text, trained_view):
    """``model-fp16/`` (the copy that ships) is ``model/`` with every float32 tensor rounded to float16, half the
    bytes, and the real loaders read it back into float32 on the CPU."""
    import torch
    from safetensors.torch import load_file

    from dreamlift.guidance.base import TimestepSchedule
    from dreamlift.guidance.priors import Zero123Config
    from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance
    from dreamlift.guidance.zero123 import load_zero123_model

    for trained in (trained_text, trained_view):
        full, half = trained.out / "model", trained.out / "model-fp16"
        files = sorted(p.relative_to(full) for p in full.rglob("*.safetensors"))
        assert files and files == sorted(p.relative_to(half) for p in half.rglob("*.safetensors"))
        for name in files:
            ours, theirs = load_file(str(half / name)), load_file(str(full / name))
            assert ours.keys() == theirs.keys()
            for key, value in theirs.items():
                expected = value.half() if value.dtype == torch.float32 else value
                assert ours[key].dtype == expected.dtype and torch.equal(ours[key], expected), (name, key)
        size = lambda folder: sum(p.stat().st_size for p in folder.rglob("*.safetensors"))
        assert size(half) < 0.55 * size(full)
    guidance = build_stable_diffusion_guidance("a red cube", StableDiffusionConfig(model=str(trained_text.out / "model-fp16")), TimestepSchedule(), device="cpu")
    weights = trained_text.components.unet.state_dict()
    assert all(v.dtype == torch.float32 and torch.equal(v, weights[k].half().float()) for k, v in guidance.unet.state_dict().items())
    exact = build_stable_diffusion_guidance("a red cube", StableDiffusionConfig(model=str(trained_text.out / "model")), TimestepSchedule(), device="cpu")
    ours, theirs = guidance.embeddings.views, exact.embeddings.views
    assert ours.dtype == torch.float32  # the text encoder ran in float32 too
    assert 0 < (ours - theirs).abs().max() < 1e-2 * theirs.abs().max()
    view = load_zero123_model(Zero123Config(model=str(trained_view.out / "model-fp16")), "cpu")
    weights = trained_view.components.unet.state_dict()
    assert all(v.dtype == torch.float32 and torch.equal(v, weights[k].half().float()) for k, v in view.unet.state_dict().items())
