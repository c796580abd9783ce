"""splats.ply: round trip, the standard 3DGS layout as plyfile reads it, atomic writing and the reader's limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _scenes import random_splats
from dreamlift.errors import DreamliftError
from dreamlift.export import splats_ply
from dreamlift.export.splats_ply import C0, PROPERTIES, read_splats_ply, write_splats_ply
from dreamlift.scene.gaussians import GaussianModel

plyfile = pytest.importorskip("plyfile")


def scene():
    splats = random_splats(50, 9, dtype=torch.float32)
    splats.quaternions = torch.nn.functional.normalize(splats.quaternions, dim=-1)
    return splats


def test_round_trip(tmp_path):
    splats = scene()
    write_splats_ply(tmp_path / "splats.ply", splats)
    back = read_splats_ply(tmp_path / "splats.ply")
    for name in ("means", "log_scales", "opacity_logits"):
        assert torch.equal(getattr(back, name), getattr(splats, name)), name
    assert torch.allclose(back.quaternions, splats.quaternions, atol=1e-7, rtol=0)  # written normalised
    assert torch.allclose(back.colours, splats.colours, atol=1e-6)
    model = GaussianModel.from_splats(back)
    assert len(model) == 50 and torch.allclose(model.colours, splats.colours.clamp(1e-3, 1 - 1e-3), atol=1e-5)


def test_layout_is_standard_3dgs_as_plyfile_reads_it(tmp_path):
    splats = scene()
    write_splats_ply(tmp_path / "splats.ply", splats)
    data = plyfile.PlyData.read(str(tmp_path / "splats.ply"))
    assert not data.text and data.byte_order == "<"
    vertex = data["vertex"]
    assert [p.name for p in vertex.properties] == list(PROPERTIES)
    assert all(vertex[name].dtype == np.float32 for name in PROPERTIES)
    assert np.array_equal(np.stack([vertex[a] for a in "xyz"], -1), splats.means.numpy())
    assert np.allclose(np.stack([vertex[f"f_dc_{i}"] for i in range(3)], -1), (splats.colours.numpy() - 0.5) / C0)
    assert np.array_equal(vertex["opacity"], splats.opacity_logits.numpy())
    assert np.array_equal(np.stack([vertex[f"scale_{i}"] for i in range(3)], -1), splats.log_scales.numpy())
    assert np.allclose(np.stack([vertex[f"rot_{i}"] for i in range(4)], -1), splats.quaternions.numpy(), atol=1e-7, rtol=0)


def test_reads_a_3dgs_file_with_higher_harmonics_written_by_plyfile(tmp_path):
    """A file as 3DGS trainers write it (f_rest_* present, written by plyfile): extra properties are skipped."""
    names = list(PROPERTIES[:9]) + [f"f_rest_{i}" for i in range(45)] + list(PROPERTIES[9:])
    records = np.zeros(7, dtype=[(name, "<f4") for name in names])
    records["x"] = np.arange(7)
    records["f_dc_1"] = 1.0
    records["rot_0"] = 1.0
    records["opacity"] = -2.0
    plyfile.PlyData([plyfile.PlyElement.describe(records, "vertex")]).write(str(tmp_path / "point_cloud.ply"))
    splats = read_splats_ply(tmp_path / "point_cloud.ply")
    assert torch.equal(splats.means[:, 0], torch.arange(7.0))
    assert torch.allclose(splats.colours[0], torch.tensor([0.5, 0.5 + C0, 0.5]))
    assert torch.equal(splats.opacity_logits, torch.full((7,), -2.0))


def test_writing_is_atomic(tmp_path, monkeypatch):
    """A write that fails after the header leaves the old file whole and no temporary behind."""
    import contextlib

    target = tmp_path / "splats.ply"
    write_splats_ply(target, scene())
    before = target.read_bytes()
    real_open = splats_ply.atomic_open

    class FailingBody:
        def __init__(self, handle):
            self.handle, self.writes = handle, 0

        def write(self, data):
            self.writes += 1
            if self.writes == 2:
                raise OSError("disk full")
            return self.handle.write(data)

    @contextlib.contextmanager
    def failing_open(path, mode="wb"):
        with real_open(path, mode) as handle:
            yield FailingBody(handle)

    monkeypatch.setattr(splats_ply, "atomic_open", failing_open)
    with pytest.raises(OSError, match="disk full"):
        write_splats_ply(target, random_splats(80, 1, dtype=torch.float32))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["splats.ply"]


def test_reader_limits_and_damaged_files(tmp_path, monkeypatch):
    path = tmp_path / "splats.ply"
    write_splats_ply(path, scene())
    data = path.read_bytes()
    huge = tmp_path / "huge.ply"
    huge.write_bytes(data.replace(b"element vertex 50", b"element vertex 99999999"))
    with pytest.raises(DreamliftError, match="more than the 10000000") as claimed:
        read_splats_ply(huge)
    assert "\n" not in str(claimed.value)
    (tmp_path / "short.ply").write_bytes(data[:-10])
    with pytest.raises(DreamliftError, match="truncated"):
        read_splats_ply(tmp_path / "short.ply")
    (tmp_path / "text.ply").write_bytes(data.replace(b"binary_little_endian", b"ascii"))
    with pytest.raises(DreamliftError, match="binary little-endian"):
        read_splats_ply(tmp_path / "text.ply")
    (tmp_path / "noise.ply").write_bytes(b"\x00" * 100_000)
    with pytest.raises(DreamliftError, match="no complete PLY header"):
        read_splats_ply(tmp_path / "noise.ply")
    monkeypatch.setattr(splats_ply, "MAX_BYTES", 1000)
    with pytest.raises(DreamliftError, match="prune the Gaussians first"):
        read_splats_ply(path)
    with pytest.raises(DreamliftError, match="check the path"):
        read_splats_ply(tmp_path / "missing.ply")
