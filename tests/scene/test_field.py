"""The NeRF field's initial density blob, and the Field protocol its users type against."""

import math

import pytest
import torch
import torch.nn.functional as F

from dreamlift.export.analytic import SDFField, box_sdf, sphere_sdf, union_sdf
from dreamlift.export.grid import GridField, sample_grid
from dreamlift.scene.field import EncodingKind, Field, FieldConfig, NeRFField


def test_density_is_the_blob_when_the_network_outputs_zero():
    field = NeRFField(FieldConfig(blob_density=10.0, blob_radius=0.5))
    last = field.mlp[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    radius = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    points = torch.stack((torch.zeros(5), radius, torch.zeros(5)), dim=-1)  # along +Y
    density, albedo = field(points)
    # softplus(10 · (1 − r / 0.5)): 10.00005 at the centre, ln 2 at r = 0.5, softplus(−10) at r = 1
    expected = [math.log1p(math.exp(10.0 * (1.0 - r / 0.5))) for r in radius.tolist()]
    torch.testing.assert_close(density, torch.tensor(expected), atol=1e-5, rtol=1e-6)
    assert density[2].item() == pytest.approx(math.log(2.0), abs=1e-6)
    torch.testing.assert_close(albedo, torch.full((5, 3), 0.5))  # sigmoid(0)
    torch.testing.assert_close(field.blob(points), 10.0 * (1.0 - radius / 0.5))


def test_a_fresh_field_starts_as_a_soft_ball():
    torch.manual_seed(0)
    field = NeRFField()
    directions = F.normalize(torch.randn(256, 3), dim=-1)
    with torch.no_grad():
        centre = field.density(torch.zeros(1, 3))
        near = field.density(0.1 * directions)
        far = field.density(0.9 * directions)
    assert centre.item() > 5.0 and near.min() > 3.0  # the blob's 10 (pre-activation) minus the network's noise
    assert far.max() < 0.1  # blob pre-activation −8 at r = 0.9


def _fields():
    torch.manual_seed(0)
    nerf = NeRFField()
    sphere = SDFField(sphere_sdf(radius=0.5), peak=100.0, width=0.05)
    return {
        "nerf": nerf,
        "sdf-sphere": sphere,
        "sdf-union": SDFField(union_sdf(sphere_sdf(radius=0.3), box_sdf((0.2, -0.2, -0.2), (0.6, 0.2, 0.2)))),
        "grid": GridField(sample_grid(sphere, 33)),
    }


@pytest.mark.parametrize("name", ["nerf", "sdf-sphere", "sdf-union", "grid"])
def test_every_field_satisfies_the_protocol_with_its_shapes(name):
    field = _fields()[name]
    assert isinstance(field, Field)
    points = torch.rand(37, 3) * 1.6 - 0.8
    with torch.no_grad():
        density, albedo = field(points)
        assert density.shape == (37,) and albedo.shape == (37, 3)
        assert (density >= 0).all() and (albedo >= 0).all() and (albedo <= 1).all()
        torch.testing.assert_close(field.density(points), density)
        torch.testing.assert_close(field.albedo(points), albedo)
        d, a, n = field.density_albedo_normals(points)
        assert d.shape == (37,) and a.shape == (37, 3) and n.shape == (37, 3)
        torch.testing.assert_close(d, density, atol=1e-5, rtol=1e-5)  # the NeRF's comes from a bigger batch
        torch.testing.assert_close(a, albedo, atol=1e-5, rtol=1e-5)
        lengths = n.norm(dim=-1)
        assert lengths.max() < 1 + 1e-5 and lengths.median() > 1 - 1e-5
        empty = field.density_albedo_normals(torch.zeros(0, 3))
        assert [tuple(x.shape) for x in empty] == [(0,), (0, 3), (0, 3)]


def test_normals_of_every_sphere_field_point_outward():
    fields = _fields()
    points = F.normalize(torch.randn(200, 3), dim=-1) * 0.5  # on the sphere's surface
    for name in ("sdf-sphere", "grid"):
        _, _, normals = fields[name].density_albedo_normals(points)
        cosine = (normals * F.normalize(points, dim=-1)).sum(-1)
        # the SDF's: its own gradient; the grid's: forward differences of one spacing (1/16) of a trilinear density
        assert cosine.min() > (0.9999 if name == "sdf-sphere" else 0.99), name


def test_something_without_normals_is_not_a_field():
    class DensityOnly:
        def __call__(self, points):
            return points[:, 0], points

        def density(self, points):
            return points[:, 0]

        def albedo(self, points):
            return points

    assert not isinstance(DensityOnly(), Field)


@pytest.mark.parametrize("kind", ["grid", "hash-grid", "triplane", "frequency"])
def test_every_encoding_handles_an_empty_batch_and_trains(kind):
    field = NeRFField(FieldConfig(encoding=EncodingKind(kind)))
    density, albedo = field(torch.zeros(0, 3))
    assert density.shape == (0,) and albedo.shape == (0, 3)
    points = torch.rand(64, 3) * 2 - 1
    density, albedo, normals = field.density_albedo_normals(points)
    (density.sum() + albedo.sum()).backward()
    norms = normals.norm(dim=-1)  # unit where the density has a gradient (flat spots get a shorter vector)
    assert norms.max() < 1 + 1e-4 and norms.median() > 1 - 1e-4
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in field.parameters())
