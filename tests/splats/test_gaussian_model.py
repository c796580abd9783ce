"""GaussianModel: initialisation, densification and pruning with the Adam state carried row by row,
the opacity reset, checkpoints whose N changes, and the Field view's density and albedo."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.splatting import render_splats
from dreamlift.scene.field import Field
from dreamlift.scene.gaussian_field import CUT, GaussianField
from dreamlift.scene.gaussian_settings import DensifyConfig, GaussianConfig
from dreamlift.scene.gaussians import PARAMETERS, GaussianModel


def trained(count: int = 20, seed: int = 0, steps: int = 3) -> tuple[GaussianModel, torch.optim.Adam]:
    """A model after a few Adam steps on a render loss, so every Adam state row is non-zero and distinct."""
    model = GaussianModel(GaussianConfig(count=count, radius=0.4, opacity=0.5, scale=0.05), torch.Generator().manual_seed(seed))
    optimiser = torch.optim.Adam(model.parameter_groups())
    cameras = OrbitCameras.make([0.0, 30.0], [0.0, 100.0])
    for _ in range(steps):
        optimiser.zero_grad()
        render = render_splats(model.splats(), cameras, 16)
        (render.output.image.mean() + 0.1 * model.means.square().sum() + model.log_scales.sum() * 1e-3).backward()
        optimiser.step()
    return model, optimiser


def adam_rows(model: GaussianModel, optimiser, key: str = "exp_avg") -> dict[str, torch.Tensor]:
    return {name: optimiser.state[getattr(model, name)][key].clone() for name in PARAMETERS}


def test_initialisation_in_the_ball():
    model = GaussianModel(GaussianConfig(count=2000, radius=0.5, opacity=0.1), torch.Generator().manual_seed(0))
    radius = model.means.detach().norm(dim=-1)
    assert float(radius.max()) <= 0.5 and float(radius.median()) == pytest.approx(0.5 * 0.5 ** (1 / 3), rel=0.05)
    assert torch.allclose(model.opacities, torch.full((2000,), 0.1))
    share = 0.5 / 2000 ** (1 / 3)  # the radius of each point's share of the ball
    # RMS distance to the 3 nearest neighbours of a Poisson process: a·sqrt(Σ_k Γ(k + 2/3)/Γ(k) / 3) = 1.213·a
    rms = share * math.sqrt(sum(math.gamma(k + 2 / 3) / math.gamma(k) for k in (1, 2, 3)) / 3)
    assert float(model.scales.detach().median()) == pytest.approx(rms, rel=0.1)
    grey = GaussianModel(GaussianConfig(count=5, colour="grey", scale=0.02))
    assert torch.allclose(grey.colours, torch.full((5, 3), 0.5)) and torch.allclose(grey.scales, torch.full((5, 3), 0.02))


def test_prune_keeps_adam_rows_of_the_kept_gaussians():
    model, optimiser = trained()
    before = {name: getattr(model, name).detach().clone() for name in PARAMETERS}
    exp_avg, exp_avg_sq = adam_rows(model, optimiser), adam_rows(model, optimiser, "exp_avg_sq")
    mask = torch.zeros(20, dtype=torch.bool)
    mask[[1, 4, 5, 17]] = True
    assert model.prune(optimiser, mask) == 4
    keep = ~mask
    assert len(model) == 16
    for name in PARAMETERS:
        parameter = getattr(model, name)
        assert any(p is parameter for group in optimiser.param_groups for p in group["params"])
        assert torch.equal(parameter.detach(), before[name][keep])
        assert torch.equal(optimiser.state[parameter]["exp_avg"], exp_avg[name][keep])
        assert torch.equal(optimiser.state[parameter]["exp_avg_sq"], exp_avg_sq[name][keep])
        assert float(exp_avg[name][keep].abs().sum()) > 0
    optimiser.zero_grad()
    render_splats(model.splats(), OrbitCameras.make(0.0, 0.0), 16).output.image.mean().backward()
    optimiser.step()  # the optimiser works on the new parameters


def test_densify_clones_small_splits_large_and_carries_state():
    model, optimiser = trained(count=12)
    config = DensifyConfig(grad_threshold=0.5, percent_dense=0.01, extent=4.0)  # split above scale 0.04
    with torch.no_grad():
        model.log_scales[:6] = math.log(0.02)  # small: cloned when selected
        model.log_scales[6:] = math.log(0.08)  # large: split when selected
    selected = torch.tensor([1, 3, 7, 8, 10])
    model.grad_sum[selected] = 2.0
    model.grad_count[:] = 2.0  # mean gradient 1.0 ≥ 0.5 for the selected, 0 for the others
    before = {name: getattr(model, name).detach().clone() for name in PARAMETERS}
    exp_avg = adam_rows(model, optimiser)
    counts = model.densify(optimiser, config, torch.Generator().manual_seed(3))
    assert counts == {"cloned": 2, "split": 3}
    assert len(model) == 12 - 3 + 2 + 2 * 3
    kept = torch.tensor([i for i in range(12) if i not in (7, 8, 10)])
    for name in PARAMETERS:
        now = getattr(model, name).detach()
        assert torch.equal(now[:9], before[name][kept])
        assert torch.equal(optimiser.state[getattr(model, name)]["exp_avg"][:9], exp_avg[name][kept])
        assert float(optimiser.state[getattr(model, name)]["exp_avg"][9:].abs().sum()) == 0.0
    assert torch.equal(model.means[9:11].detach(), before["means"][[1, 3]])  # clones are copies
    children = model.means[11:].detach().reshape(2, 3, 3)  # split rows: parents 7, 8, 10, twice
    parents = before["means"][[7, 8, 10]]
    distance = (children - parents[None]).norm(dim=-1)
    assert bool((distance > 1e-4).all()) and bool((distance < 5 * 0.08).all())
    assert torch.allclose(model.scales[11:], torch.full((6, 3), 0.08 / 1.6))
    assert torch.equal(model.opacity_logits[11:].detach(), before["opacity_logits"][[7, 8, 10]].repeat(2))


def test_densify_and_prune_resets_statistics_and_prunes_faint_and_huge():
    model, optimiser = trained(count=10)
    with torch.no_grad():
        model.opacity_logits[2] = -6.0  # opacity 0.0025 < 0.01
        model.log_scales[5, 0] = math.log(0.5)  # larger than 0.1 · extent 4
    model.grad_count[:] = 1.0
    counts = model.densify_and_prune(optimiser, DensifyConfig())
    assert counts == {"cloned": 0, "split": 0, "pruned": 2} and len(model) == 8
    assert float(model.grad_sum.abs().sum()) == 0.0 and float(model.grad_count.sum()) == 0.0


def test_densification_statistics_are_ndc_gradient_norms():
    model = GaussianModel(GaussianConfig(count=3, scale=0.05))
    grad = torch.tensor([[[3e-4, 4e-4], [1.0, 1.0], [0.0, 2e-4]], [[6e-4, 8e-4], [0.0, 0.0], [0.0, 0.0]]])
    visible = torch.tensor([[True, False, True], [True, False, False]])
    model.add_densification_stats(grad, visible, size=64)
    # NDC norm = pixel norm · 64/2, times the batch of 2 views
    assert torch.allclose(model.grad_sum, torch.tensor([(5e-4 + 1e-3) * 32 * 2, 0.0, 2e-4 * 32 * 2]))
    assert torch.equal(model.grad_count, torch.tensor([2.0, 0.0, 1.0]))


def test_opacity_reset_clamps_and_zeros_its_adam_state():
    model, optimiser = trained(count=8)
    with torch.no_grad():
        model.opacity_logits[0] = -6.0
    faint = model.opacity_logits[0].item()
    means_state = adam_rows(model, optimiser)["means"]
    model.reset_opacity(optimiser, 0.01)
    assert float(model.opacities.detach().max()) == pytest.approx(0.01, rel=1e-5)
    assert model.opacity_logits[0].item() == faint
    assert float(optimiser.state[model.opacity_logits]["exp_avg"].abs().sum()) == 0.0
    assert torch.equal(optimiser.state[model.means]["exp_avg"], means_state)


def test_checkpoint_round_trip_with_a_different_count(tmp_path):
    model, optimiser = trained(count=15)
    model.grad_sum[:4] = 10.0
    model.grad_count[:] = 1.0
    model.densify_and_prune(optimiser, DensifyConfig(grad_threshold=1.0))
    assert len(model) != 15
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "scene.safetensors")
    torch.save(optimiser.state_dict(), tmp_path / "optimiser.pt")
    restored = GaussianModel(GaussianConfig(count=4, scale=0.1))
    restored.load_state_dict(load_file(tmp_path / "scene.safetensors"))
    assert len(restored) == len(model) and restored.grad_sum.shape == (len(model),)
    for name in PARAMETERS:
        assert torch.equal(getattr(restored, name), getattr(model, name))
    restored_optimiser = torch.optim.Adam(restored.parameter_groups())
    restored_optimiser.load_state_dict(torch.load(tmp_path / "optimiser.pt", weights_only=True))
    for name in PARAMETERS:
        assert torch.equal(restored_optimiser.state[getattr(restored, name)]["exp_avg"], optimiser.state[getattr(model, name)]["exp_avg"])


def single(opacity: float, scales, colour=(0.2, 0.4, 0.6)) -> GaussianModel:
    model = GaussianModel(GaussianConfig(count=1, scale=0.1))
    with torch.no_grad():
        model.means.copy_(torch.tensor([[0.1, -0.2, 0.05]]))
        model.log_scales.copy_(torch.log(torch.tensor([scales])))
        model.quaternions.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
        model.opacity_logits.fill_(math.log(opacity / (1 - opacity)))
        model.colour_logits.copy_(torch.logit(torch.tensor([colour])))
    return model


def test_field_density_of_one_gaussian():
    """density(μ) = −ln(1 − o) / (√(2π)·(s₁s₂s₃)^⅓), falling off as exp(−½ (d/s)²) along an axis; albedo its colour."""
    model = single(0.7, (0.05, 0.1, 0.02))
    field = model.as_field()
    assert isinstance(field, Field)
    peak = -math.log(1 - 0.7) / (math.sqrt(2 * math.pi) * (0.05 * 0.1 * 0.02) ** (1 / 3))
    points = torch.tensor([[0.1, -0.2, 0.05], [0.1 + 0.08, -0.2, 0.05], [0.1, -0.2, 0.05 + 0.03], [0.1, 0.5, 0.05]])
    density, albedo = (value.detach() for value in field(points))
    expected = torch.tensor([peak, peak * math.exp(-0.5 * 1.6**2), peak * math.exp(-0.5 * 1.5**2), 0.0])
    assert torch.allclose(density, expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(albedo[:3], torch.tensor([[0.2, 0.4, 0.6]]).expand(3, 3), atol=1e-5)
    assert torch.allclose(albedo[3], torch.full((3,), 0.5))  # far from every Gaussian: grey


def test_field_optical_depth_through_an_isotropic_gaussian_is_its_opacity():
    model = single(0.6, (0.05, 0.05, 0.05))
    t = torch.linspace(-0.5, 0.5, 4001)
    line = torch.tensor([0.1, -0.2, 0.05]) + t[:, None] * torch.tensor([0.6, 0.0, 0.8])
    density = model.as_field().density(line).detach()
    optical_depth = float(torch.trapezoid(density, t))
    assert 1 - math.exp(-optical_depth) == pytest.approx(0.6, abs=1e-4)


def brute_force_weights(model: GaussianModel, points: torch.Tensor) -> torch.Tensor:
    """``(P, N)`` each Gaussian's density term at each point, from every Gaussian (no lookup grid; cut at ``CUT``)."""
    from dreamlift.rendering.splatting.project import covariances

    offset = points[:, None, :] - model.means.detach()[None]
    precision = torch.linalg.inv(covariances(model.log_scales.detach(), model.quaternions.detach()))
    mahalanobis = torch.einsum("pni,nij,pnj->pn", offset, precision, offset)
    kernel = torch.where(mahalanobis <= CUT**2, torch.exp(-0.5 * mahalanobis), 0.0)
    return -torch.log1p(-model.opacities.detach()) / (math.sqrt(2 * math.pi) * model.scales.detach().prod(-1) ** (1 / 3)) * kernel


def test_field_grid_lookup_equals_the_sum_over_all_gaussians():
    model = GaussianModel(GaussianConfig(count=300, radius=0.5, opacity=0.4), torch.Generator().manual_seed(2))
    with torch.no_grad():
        model.log_scales.add_(torch.randn(300, 3, generator=torch.Generator().manual_seed(3)) * 0.4)
        model.quaternions.copy_(torch.randn(300, 4, generator=torch.Generator().manual_seed(4)))
    field = GaussianField(model)
    assert field.cells > 2  # the lookup really partitions space
    points = (torch.rand(500, 3, generator=torch.Generator().manual_seed(5)) - 0.5) * 1.4
    density, albedo = (value.detach() for value in field(points))
    weight = brute_force_weights(model, points)
    assert float(density.max()) > 1.0
    assert torch.allclose(density, weight.sum(1), rtol=1e-4, atol=1e-5)
    mean_colour = (weight @ model.colours.detach() + 0.5e-8) / (weight.sum(1, keepdim=True) + 1e-8)
    assert torch.allclose(albedo, mean_colour, atol=1e-4)


@pytest.mark.parametrize("fused", [True, False])
def test_field_follows_the_gaussians_through_the_trainers_optimiser_steps(fused):
    """The trainer's Adam is fused on CPU, which writes the parameters in place without bumping their version counters:
    the field must still see the moved Gaussians (a stale lookup grid gave the in-process export and refinement start
    densities off by up to 60 where the peak was 165). After steps that move every Gaussian by about 0.3, the density
    equals the brute-force sum over all Gaussians, and ``geometry_version`` (what the representation's occupancy grid is
    cached on) has changed, and stays put while the Gaussians do."""
    from dreamlift.distillation.loop import adam

    model = GaussianModel(GaussianConfig(count=200, radius=0.4, opacity=0.5, scale=0.04), torch.Generator().manual_seed(6))
    field = GaussianField(model)
    points = (torch.rand(3000, 3, generator=torch.Generator().manual_seed(7)) - 0.5) * 1.8
    version = field.geometry_version()
    optimiser = adam(model.parameter_groups({"means": 0.1})) if fused else torch.optim.Adam(model.parameter_groups({"means": 0.1}))
    for _ in range(3):
        optimiser.zero_grad()
        (-(model.means[:, 0] + model.means[:, 1]).sum() - model.opacity_logits.sum()).backward()  # every Gaussian up and to +x
        optimiser.step()
    assert float(model.means.detach()[:, 0].mean()) == pytest.approx(0.3, abs=0.02)
    density = field.density(points).detach()
    assert float(density.max()) > 1.0
    assert torch.allclose(density, brute_force_weights(model, points).sum(1), rtol=1e-4, atol=1e-5)
    assert field.geometry_version() != version
    assert field.geometry_version() == field.geometry_version()  # unchanged geometry: no rebuild


def test_mesh_exporter_reads_the_field():
    """Gaussian discs tiling a sphere of radius 0.5 come out of extract_mesh as a closed shell around that radius, red."""
    from dreamlift.export.mesh import MeshConfig, extract_mesh

    count = 600
    golden = torch.arange(count, dtype=torch.float32) + 0.5
    polar = torch.arccos(1 - 2 * golden / count)
    azimuth = math.pi * (1 + 5**0.5) * golden
    normal = torch.stack((polar.sin() * azimuth.cos(), polar.cos(), polar.sin() * azimuth.sin()), dim=-1)
    model = GaussianModel(GaussianConfig(count=count, scale=0.05, opacity=0.9, colour="grey"))
    with torch.no_grad():
        model.means.copy_(0.5 * normal)
        model.log_scales.copy_(torch.log(torch.tensor([0.06, 0.06, 0.015])).expand(count, 3))
        # the quaternion turning +Z (each disc's thin axis) onto the sphere's normal
        z = torch.tensor([0.0, 0.0, 1.0]).expand(count, 3)
        half = torch.nn.functional.normalize(z + normal, dim=-1)
        model.quaternions.copy_(torch.cat(((z * half).sum(-1, keepdim=True), torch.linalg.cross(z, half, dim=-1)), dim=-1))
        model.colour_logits.copy_(torch.logit(torch.tensor([0.86, 0.12, 0.12])).expand(count, 3))
    field = model.as_field()
    extracted = extract_mesh(field, MeshConfig(resolution=32, fit_size=24))
    vertices = torch.as_tensor(extracted.mesh.vertices, dtype=torch.float32)
    radius = vertices.norm(dim=-1)
    assert extracted.mesh.is_watertight
    assert float(radius.min()) > 0.43 and float(radius.max()) < 0.57 and float(radius.max()) > 0.5
    assert extracted.silhouette_iou > 0.9
    assert torch.allclose(field.albedo(vertices).mean(0), torch.tensor([0.86, 0.12, 0.12]), atol=1e-3)


def test_training_with_densification():
    """A few small Gaussians fit a render of three large ones: densification adds Gaussians mid-run, Adam carries on,
    and the loss ends well below its start."""
    cameras = OrbitCameras.make([0.0, 15.0], [0.0, 60.0])
    target_model = GaussianModel(GaussianConfig(count=3, radius=0.3, opacity=0.9, scale=0.15), torch.Generator().manual_seed(1))
    with torch.no_grad():
        target = render_splats(target_model.splats(), cameras, 20).output.image
    model = GaussianModel(GaussianConfig(count=6, radius=0.3, opacity=0.5, scale=0.05), torch.Generator().manual_seed(2))
    optimiser = torch.optim.Adam(model.parameter_groups({"means": 0.01, "log_scales": 0.02}))
    config = DensifyConfig(grad_threshold=2e-3, extent=4.0)
    losses, counts = [], []
    for step in range(1, 61):
        render = render_splats(model.splats(), cameras, 20)
        loss = ((render.output.image - target) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        model.add_densification_stats(render.means2d.grad, render.visible, 20)
        optimiser.step()
        losses.append(float(loss.detach()))
        if step % 20 == 0:
            counts.append(model.densify_and_prune(optimiser, config, torch.Generator().manual_seed(step)))
    assert counts[0]["cloned"] + counts[0]["split"] > 0 and len(model) > 6
    assert losses[-1] < 0.1 * losses[0]  # measured: 6.6e-3 -> 3.3e-4, 6 -> 9 Gaussians
