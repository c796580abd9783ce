"""Depth and normals of the input view: normals from a depth map, the affine fit, and the two losses (issue 13, item 4)."""


import numpy as np
import pytest
import torch

from _helpers import error_message
from dreamlift.inputs.depth import fit_to_image, frame_depth, read_depth_map
from dreamlift.inputs.framing import box_windows
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.distillation.reference import fit_affine, normals_from_depth


def plane_depth(cameras, size, normal, offset):
    """Ray distances to the plane ``normal · x = offset`` for every pixel ray."""
    origins, directions = generate_rays(cameras, size)
    normal = torch.tensor(normal) / torch.tensor(normal).norm()
    return (offset - (origins * normal).sum(-1)) / (directions * normal).sum(-1), normal


def test_normals_of_a_tilted_plane_come_out_exactly():
    cameras = OrbitCameras.make([10.0, 30.0], [20.0, -60.0])
    depth, normal = plane_depth(cameras, 24, [0.3, 0.5, 0.8], 0.2)
    normals, defined = normals_from_depth(depth, cameras)
    assert not defined[:, 0].any() and not defined[:, :, -1].any()
    ahead = torch.nn.functional.max_pool2d((depth <= 0).float()[:, None], 3, 1, 1)[:, 0].eq(0)  # the plane in front, all neighbours too
    defined = defined & ahead
    assert defined.sum() > 300
    facing = torch.stack([normal if float(normal @ cameras[i].position[0]) > 0.2 else -normal for i in range(2)])  # toward each camera
    error = (normals - facing[:, None, None, :]).norm(dim=-1)[defined]
    assert float(error.max()) < 1e-4


def test_normals_of_a_sphere_point_away_from_its_centre():
    cameras = OrbitCameras.make(15.0, 40.0, 3.0, 40.0)
    origins, directions = generate_rays(cameras, 32)
    b = (origins * directions).sum(-1)
    disc = b**2 - ((origins * origins).sum(-1) - 0.8**2)
    hit = disc > 0.05
    depth = torch.where(hit, -b - disc.clamp_min(0).sqrt(), torch.full_like(b, 3.0))
    normals, defined = normals_from_depth(depth, cameras)
    inside = defined & hit & torch.nn.functional.max_pool2d((~hit).float()[None], 3, 1, 1)[0].eq(0)
    points = origins + depth[..., None] * directions
    expected = points / points.norm(dim=-1, keepdim=True)
    cosine = (normals * expected).sum(-1)[inside]
    assert inside.sum() > 100 and float(cosine.min()) > 0.995


def test_the_affine_fit_recovers_scale_and_offset():
    target = torch.rand(16, 16)
    rendered = 2.5 * target + 0.7
    covered = torch.rand(16, 16) > 0.3
    scale, offset = fit_affine(target, rendered, covered)
    assert float(scale) == pytest.approx(2.5, rel=1e-4) and float(offset) == pytest.approx(0.7, abs=1e-4)


def test_depth_files_are_read_and_checked(tmp_path):
    from PIL import Image

    values = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    np.save(tmp_path / "d.npy", values)
    assert torch.allclose(read_depth_map(tmp_path / "d.npy"), torch.from_numpy(values))
    Image.fromarray((values * 65535).astype(np.uint16)).save(tmp_path / "d16.png")
    assert torch.allclose(read_depth_map(tmp_path / "d16.png") / 65535, torch.from_numpy(values), atol=1e-4)
    assert torch.allclose(read_depth_map(tmp_path / "d.npy", disparity=True), -torch.from_numpy(values))
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "rgb.png")
    error_message(lambda: read_depth_map(tmp_path / "rgb.png"), "RGB image", "one channel")
    np.save(tmp_path / "flat.npy", np.ones((20, 30), np.float32))
    error_message(lambda: read_depth_map(tmp_path / "flat.npy"), "flat")
    np.save(tmp_path / "nan.npy", np.full((20, 30), np.nan, np.float32))
    error_message(lambda: read_depth_map(tmp_path / "nan.npy"), "non-finite")
    error_message(lambda: fit_to_image(torch.zeros(20, 30), 40, 40, (40, 40), "depth map d.npy"), "30x20", "40x40", "image's own size")


def test_depth_is_framed_like_its_image():
    """A depth ramp across a square object: framed, the object's square fills the middle and keeps the ramp's order."""
    alpha = torch.zeros(1, 40, 40)
    alpha[0, 10:30, 10:30] = 1.0
    depth = torch.arange(40.0).repeat(40, 1)[None]  # grows to the right
    framed = frame_depth(depth, alpha, box_windows(alpha, 0.2), 20)[0]
    row = framed[10, 3:17]
    assert float(row[0]) < 0.15 and float(row[-1]) > 0.85
    assert bool((row[1:] >= row[:-1] - 1e-6).all())
