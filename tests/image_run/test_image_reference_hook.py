"""The reference-view losses: zero for a field that already renders the input, positive otherwise."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dreamlift.inputs import ReferenceImage, ViewInput
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.renderer import RenderConfig, VolumeRenderer
from dreamlift.rendering.shading import head_lights
from dreamlift.distillation.reference import MaskLoss, ReferenceLoss, ReferenceTargets, ReferenceViewHook, pearson

SIZE = 16


class ConstantField(nn.Module):
    """Density ``sigma`` inside the unit ball (zero outside), one albedo: a closed-form scene."""

    def __init__(self, sigma=0.4, albedo=(0.2, 0.5, 0.8)):
        super().__init__()
        self.sigma = nn.Parameter(torch.tensor(float(sigma)))
        self.colour = nn.Parameter(torch.tensor(albedo))

    def forward(self, points):
        inside = (points.norm(dim=-1) < 0.8).float()
        return self.sigma * inside, self.colour.expand(points.shape[0], 3)

    def density(self, points):
        return self.forward(points)[0]

    def density_albedo_normals(self, points):
        density, albedo = self.forward(points)
        return density, albedo, torch.nn.functional.normalize(points, dim=-1)


def fake_trainer(field, seed=0):
    """What the hook uses of a trainer: its config's size, its generator and ``render_reference`` (as Trainer's)."""
    trainer = SimpleNamespace(
        field=field,
        renderer=VolumeRenderer(RenderConfig(samples_per_ray=24, skip_empty=False)),
        config=SimpleNamespace(size=SIZE),
        generator=torch.Generator().manual_seed(seed),
    )
    trainer.render_reference = lambda cameras, size, shading, lights: trainer.renderer.render(
        trainer.field, cameras, size, shading=shading, lights=lights, background=None, generator=trainer.generator
    )
    return trainer


CAMERAS = OrbitCameras.make([10.0, 30.0], [0.0, 120.0], 3.0, 40.0)


def own_views(field, settings):
    """The field's own renders as input views (straight RGBA un-composited from white) and its depth."""
    trainer = fake_trainer(field)
    out = trainer.renderer.render(
        field, CAMERAS, SIZE, shading=settings.shading, lights=head_lights(CAMERAS, settings.ambient), generator=trainer.generator
    )
    alpha = out.opacity.detach()
    straight = (out.image.detach() - (1 - alpha)) / alpha.clamp_min(1e-6)
    views = [
        ViewInput(ReferenceImage(torch.cat((straight[v], alpha[v]), -1), (SIZE, SIZE), "alpha"), CAMERAS[v], weight=1.0 + v)
        for v in range(len(CAMERAS))
    ]
    depth = (out.depth / alpha.clamp_min(1e-4))[..., 0].detach()
    return views, depth


@pytest.mark.parametrize("mask_loss", [MaskLoss.MSE, MaskLoss.BCE])
def test_loss_is_zero_at_own_render_and_positive_otherwise(mask_loss):
    settings = ReferenceLoss(rgb=1000.0, mask=500.0, depth=10.0, mask_loss=mask_loss)
    field = ConstantField()
    views, depth = own_views(field, settings)
    hook = ReferenceViewHook(settings, ReferenceTargets.from_views(views, depth))
    terms = {k: v.detach() for k, v in hook.losses(0, fake_trainer(field)).items()}  # same seed: the same samples
    assert set(terms) == {"reference_rgb", "reference_mask", "reference_depth", "reference_normal"}
    assert float(terms["reference_rgb"]) < 1e-8
    assert float(terms["reference_depth"]) < 1e-5
    if mask_loss is MaskLoss.MSE:
        assert float(terms["reference_mask"]) < 1e-8
    # another colour and density: every term grows, with gradient to the field
    other = ConstantField(sigma=1.5, albedo=(0.9, 0.1, 0.1))
    worse = hook.losses(0, fake_trainer(other))
    assert float(worse["reference_rgb"].detach()) > 1.0
    assert float(worse["reference_mask"].detach()) > float(terms["reference_mask"]) + 1.0
    sum(worse.values()).backward()
    assert other.colour.grad.abs().sum() > 0 and other.sigma.grad.abs() > 0


def test_normal_loss_is_small_for_the_own_depth_and_large_for_another_surface():
    """A dense ball (opacity ~1): the normals of its own depth map match its rendered normals up to the finite
    differences of 16-pixel renders; a depth ramp (a tilted plane) does not."""
    settings = ReferenceLoss(rgb=1.0, mask=1.0, depth=1.0, normal=1.0)
    field = ConstantField(sigma=30.0)
    views, depth = own_views(field, settings)
    own = ReferenceViewHook(settings, ReferenceTargets.from_views(views, depth)).losses(0, fake_trainer(field))
    ramp = (2.5 + 0.05 * torch.arange(SIZE).float())[None, None, :].expand(2, SIZE, SIZE).contiguous()
    tilted = ReferenceViewHook(settings, ReferenceTargets.from_views(views, ramp)).losses(0, fake_trainer(field))
    assert float(own["reference_normal"].detach()) < 0.03
    assert float(tilted["reference_normal"].detach()) > 0.2 and float(tilted["reference_depth"].detach()) > 0.5


def test_rgb_loss_is_the_weighted_mean_squared_error():
    settings = ReferenceLoss(rgb=2.0, mask=0.0, depth=0.0)
    field = ConstantField()
    views, _ = own_views(field, settings)
    shifted = [
        ViewInput(ReferenceImage(v.image.rgba.clone(), v.image.source_size, "alpha"), v.camera, v.weight) for v in views
    ]
    # brighten the second view's colours; the loss is the view-weighted (1:2) mean squared change on white
    for v, offset in zip(shifted, (0.0, 0.1)):
        v.image.rgba[..., :3] = (v.image.rgba[..., :3] + offset).clamp(0, 1)
    targets = ReferenceTargets.from_views(shifted)
    change = ((targets.rgb - ReferenceTargets.from_views(views).rgb) ** 2).flatten(1).mean(1)
    expected = 2.0 * float((change * torch.tensor([1.0, 2.0]) / 3.0).sum())
    terms = ReferenceViewHook(settings, targets).losses(0, fake_trainer(field))
    assert float(terms["reference_rgb"].detach()) == pytest.approx(expected, rel=1e-4)
    assert set(terms) == {"reference_rgb"}


def test_every_kth_step_only():
    settings = ReferenceLoss(every=4, depth=0.0)
    field = ConstantField()
    views, _ = own_views(field, settings)
    hook = ReferenceViewHook(settings, ReferenceTargets.from_views(views))
    assert [bool(hook.losses(step, fake_trainer(field))) for step in range(6)] == [True, False, False, False, True, False]


def test_pearson_known_values():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert float(pearson(a, 3 * a + 7)) == pytest.approx(1.0)
    assert float(pearson(a, -a)) == pytest.approx(-1.0)
    assert float(pearson(a, torch.tensor([1.0, -1.0, -1.0, 1.0]))) == pytest.approx(0.0, abs=1e-7)
