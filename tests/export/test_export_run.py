"""export_run and the `dreamlift export` command write the right files into a run folder."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest
import trimesh

from dreamlift.commands import export as export_command
from dreamlift.errors import DreamliftError
from dreamlift.export import TurntableConfig, export_run


def test_export_run_writes_mesh_glb_and_turntable(soft_sphere, tmp_path):
    config = TurntableConfig(frames=4, size=32, cache_resolution=48)
    result = export_run(tmp_path, soft_sphere, resolution=48, turntable=config)
    assert [p.name for p in result.files] == ["mesh.glb", "turntable.mp4"]
    mesh = trimesh.load(tmp_path / "mesh.glb", process=False, force="mesh")
    assert len(mesh.vertices) == result.vertices and len(mesh.faces) == result.faces
    assert result.silhouette_iou > 0.95 and result.level > 0
    assert {"mesh", "colour", "write", "turntable"} <= set(result.seconds)
    assert "mesh.glb" in result.summary()


def test_export_run_formats_and_output_paths(soft_sphere, tmp_path):
    several = export_run(tmp_path, soft_sphere, formats=("obj", "ply"), resolution=32, texture="uv")
    assert sorted(p.name for p in several.files) == ["mesh.mtl", "mesh.obj", "mesh.ply", "mesh.png"]
    out = export_run(tmp_path, soft_sphere, formats=("ply",), out=tmp_path / "elsewhere" / "ball", resolution=32)
    assert out.files == [tmp_path / "elsewhere" / "ball.ply"]
    with pytest.raises(DreamliftError, match="does not end in .glb"):
        export_run(tmp_path, soft_sphere, out=tmp_path / "ball.obj", resolution=32)
    with pytest.raises(DreamliftError, match="one format"):
        export_run(tmp_path, soft_sphere, formats=("glb", "obj"), out=tmp_path / "ball.glb", resolution=32)
    with pytest.raises(DreamliftError, match="vertex or uv"):
        export_run(tmp_path, soft_sphere, texture="png", resolution=32)


def _parse(argv):
    parser = argparse.ArgumentParser()
    export_command.add_arguments(parser)
    return parser.parse_args(argv)


def test_export_command(soft_sphere, tmp_path, monkeypatch, capsys):
    import contextlib

    from dreamlift.pipeline import run as run_model

    def fake_run(folder):  # a run of stage 1 only, whose field is the soft sphere
        return SimpleNamespace(
            path=folder, final_stage=1, stage=lambda choice: 1, mesh_file=lambda stage: folder / "mesh.glb", lock=contextlib.nullcontext,
            asset=lambda stage, warn=True: run_model.StageAsset(stage=1, step=1, field=soft_sphere, occupancy=None),
        )

    monkeypatch.setattr(run_model.Run, "open", staticmethod(fake_run))
    assert export_command.run(_parse([str(tmp_path), "--resolution", "32", "--faces", "800", "--out", str(tmp_path / "a.obj")])) == 0
    assert (tmp_path / "a.obj").is_file()
    mesh = trimesh.load(tmp_path / "a.obj", process=False, force="mesh")
    assert len(mesh.faces) <= 800
    assert "a.obj" in capsys.readouterr().out
    assert export_command.run(_parse([str(tmp_path), "--resolution", "32"])) == 0
    assert (tmp_path / "mesh.glb").is_file()
    with pytest.raises(DreamliftError, match="cannot tell the format"):
        export_command.run(_parse([str(tmp_path), "--out", str(tmp_path / "a.stl")]))
