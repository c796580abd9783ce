"""Stage 1 with 3D Gaussians: densification inside the trainer, the optimiser carried through it, exact resume,
checkpoints that resize on load, and the files and Field view a Gaussian run leaves for export and refinement."""

import json

import pytest
from _helpers import StopAt
import torch

from dreamlift.distillation.checkpoint import load_latest_checkpoint
from dreamlift.export.splats_ply import read_splats_ply
from dreamlift.guidance.base import GuidanceInputs
from dreamlift.guidance.toy import ToyPriorConfig
from dreamlift.presets import toy_gaussians
from dreamlift.representation.settings import GaussianRepresentationConfig
from dreamlift.scene.gaussian_field import GaussianField
from dreamlift.scene.gaussian_settings import GaussianConfig
from dreamlift.training.run_folder import load_stage1
from dreamlift.training.trainer import RunInterrupted, Trainer


def small_config(steps=24):
    config = toy_gaussians()
    config.prompt = "a red cube"
    config.steps = steps
    config.checkpoint_every = 8
    config.preview_every = 0
    config.log_every = 1
    config.prior = ToyPriorConfig(renders_per_object=256)
    representation = config.representation
    representation.init = GaussianConfig(count=300, radius=0.6)
    representation.densify_from, representation.densify_until, representation.densify_every = 3, 20, 5
    representation.densify.grad_threshold = 0.002  # low enough that every densification clones or splits some
    representation.opacity_reset_every = 15
    return config


def make_trainer(config, folder, hooks=None):
    return Trainer(config, folder, config.prior.setup(GuidanceInputs(prompt=config.prompt)), hooks=hooks, show_progress=False)



def test_densification_changes_the_count_and_the_optimiser_follows(tmp_path):
    config = small_config(steps=12)
    trainer = make_trainer(config, tmp_path)
    trainer.run()
    model = trainer.representation.model
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    densified = [row for row in log if "cloned" in row]
    assert [row["step"] for row in densified] == [5, 10]
    assert densified[0]["cloned"] + densified[0]["split"] > 0 and len(model) != 300
    assert log[-1]["gaussians"] == len(model)
    # every optimised tensor is the model's own (densification replaced them), with Adam rows for every Gaussian
    optimised = [p for group in trainer.optimizer.param_groups for p in group["params"]]
    assert all(any(p is q for q in model.parameters()) for p in optimised) and len(optimised) == 5
    assert all(trainer.optimizer.state[p]["exp_avg"].shape == p.shape for p in optimised)


def test_a_killed_gaussian_run_resumes_to_the_same_numbers(tmp_path):
    config = small_config(steps=24)
    make_trainer(config, tmp_path / "whole").run()
    with pytest.raises(RunInterrupted):
        make_trainer(config, tmp_path / "split", hooks=[StopAt(13)]).run()  # between densifications at 10 and 15
    make_trainer(config, tmp_path / "split").run(resume=True)  # a new trainer: 300 Gaussians until the checkpoint resizes it
    whole, _ = load_latest_checkpoint(tmp_path / "whole" / "checkpoints")
    split, _ = load_latest_checkpoint(tmp_path / "split" / "checkpoints")
    assert whole.step == split.step == 24 and whole.tensors.keys() == split.tensors.keys()
    assert whole.tensors["gaussians.means"].shape[0] != 300  # densified along the way
    for key in whole.tensors:
        assert torch.equal(whole.tensors[key], split.tensors[key]), key
    logs = [[json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()] for name in ("whole", "split")]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in logs[0]] == [
        {k: v for k, v in row.items() if k != "seconds"} for row in logs[1]
    ]


def test_a_gaussian_run_leaves_splats_and_a_field_that_export_and_refinement_read(tmp_path):
    config = small_config(steps=16)
    config.representation.init.opacity = 0.5  # dense enough from the start that 16 steps leave a visible object
    config.representation.opacity_reset_every = 0
    trainer = make_trainer(config, tmp_path)
    summary = trainer.run()
    assert summary["files"] == ["splats.ply"]
    model = trainer.representation.model
    splats = read_splats_ply(tmp_path / "splats.ply")
    assert len(splats) == len(model)
    assert torch.allclose(splats.means, model.means.detach(), atol=1e-6)
    stage1 = load_stage1(tmp_path)  # a fresh 300-Gaussian model, resized by the checkpoint
    assert isinstance(stage1.field, GaussianField) and 0 < stage1.occupancy.occupied_fraction < 0.5  # empty space is skipped
    assert len(stage1.field.model) == len(model)
    points = torch.rand(500, 3) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(stage1.field.density(points), trainer.field.density(points), atol=1e-5)

    from dreamlift.refine.stage import initial_sdf

    sdf = initial_sdf(stage1.field, None, 16, config.scene_bound)
    assert (sdf < 0).any() and (sdf > 0).any()  # a surface to refine


def test_representation_is_a_typed_choice():
    from dreamlift.config_tree import from_dict, set_value, to_dict
    from dreamlift.errors import DreamliftError
    from dreamlift.training.config import TrainConfig

    config = TrainConfig(prompt="a red cube")
    assert config.representation.name == "nerf"
    set_value(config, "representation.name", "gaussians")
    assert isinstance(config.representation, GaussianRepresentationConfig)
    set_value(config, "representation.densify_every", "7")
    assert from_dict(TrainConfig, to_dict(config)).representation.densify_every == 7
    old = to_dict(TrainConfig(prompt="a red cube"))
    del old["representation"]  # a format-2 config.json from before the seam
    assert from_dict(TrainConfig, old).representation.name == "nerf"
    config.representation.densify_every = 0
    with pytest.raises(DreamliftError, match="densify_every"):
        config.validate()
    with pytest.raises(DreamliftError, match="not one of nerf, gaussians"):
        set_value(config, "representation.name", "voxels")


def test_means_learning_rate_follows_the_3dgs_schedule():
    rates = GaussianRepresentationConfig().learning_rates
    assert rates.means_at(0) == pytest.approx(1e-3 * 0.02)  # delay_mult at the start
    assert rates.means_at(300) == pytest.approx(2e-5) and rates.means_at(900) == pytest.approx(2e-5)
    assert rates.means_at(150) == pytest.approx((0.02 + 0.98 * 2**-0.5) * (1e-3 * 2e-5) ** 0.5)


def test_the_viewer_serves_a_runs_splats(tmp_path):
    from dreamlift.web.runs import Run as ViewedRun
    from dreamlift.web.runs import served_file

    (tmp_path / "splats.ply").write_bytes(b"ply\n")
    (tmp_path / "other.ply").write_bytes(b"ply\n")
    run = ViewedRun(id="r", path=tmp_path)
    assert served_file(run, "splats.ply") == tmp_path / "splats.ply"
    assert served_file(run, "other.ply") is None


class InjectNaN:
    """Poisons the loss once at each chosen step."""

    def __init__(self, steps):
        self.steps = set(steps)

    def losses(self, step, trainer):
        if step in self.steps:
            self.steps.discard(step)
            return {"poison": torch.tensor(float("nan"))}
        return {}


def test_a_roll_back_halves_every_rate_the_schedule_included(tmp_path):
    config = small_config(steps=16)  # densified at 5, 10 and 15: the roll-back to step 8 restores 8's Gaussians
    config.representation.init.opacity, config.representation.opacity_reset_every = 0.5, 0
    trainer = make_trainer(config, tmp_path, hooks=[InjectNaN(range(10, 15))])  # 5 bad steps in a row after the checkpoint at 8
    summary = trainer.run()
    assert summary["rollbacks"] == 1 and summary["step"] == 16
    rates = {group["name"]: group["lr"] for group in trainer.optimizer.param_groups}
    learning = config.representation.learning_rates
    assert rates["colour_logits"] == pytest.approx(learning.colour_logits * 0.5)
    assert rates["means"] == pytest.approx(learning.means_at(16) * 0.5)  # set by the schedule before step 16, then halved
    assert len(trainer.representation.model) == trainer.optimizer.param_groups[0]["params"][0].shape[0]


def test_gaussian_presets_are_complete_runs():
    from dreamlift.presets import preset_config

    dreamgaussian = preset_config("dreamgaussian")
    dreamgaussian.prompt = "a red cube"
    dreamgaussian.validate()
    representation = dreamgaussian.representation
    assert (dreamgaussian.steps, representation.densify_every, representation.init.count) == (500, 50, 5000)  # DreamGaussian text.yaml
    assert dreamgaussian.training_view_at(0)[0] == 128 and dreamgaussian.training_view_at(499)[0] == 512
    toy = preset_config("toy-gaussians")
    toy.prompt = "a red cube"
    toy.validate()
    assert toy.representation.name == "gaussians" and toy.refine.enabled and toy.steps == preset_config("toy").steps
