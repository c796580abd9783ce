"""Turntable videos read back with the right codec, frame count, size and colours."""

from __future__ import annotations

import imageio
import numpy as np
import pytest
from PIL import Image

from dreamlift.errors import DreamliftError
from dreamlift.export.video import TurntableConfig, write_turntable


def _frames(path):
    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        return reader.get_meta_data(), np.stack([frame for frame in reader])
    finally:
        reader.close()


def test_turntable_mp4_gif_depth_and_normals(box_field, tmp_path):
    config = TurntableConfig(frames=6, size=33, cache_resolution=32, gif=True, depth=True, normals=True)
    written = write_turntable(box_field, tmp_path / "turntable.mp4", config=config, progress=False)
    assert [p.name for p in written] == ["turntable.mp4", "turntable.gif", "turntable_depth.mp4", "turntable_normals.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no temporary files left

    meta, frames = _frames(tmp_path / "turntable.mp4")
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert frames.shape == (6, 34, 34, 3)  # 33 rounded up to even
    centre = frames[:, 15:19, 15:19].reshape(-1, 3).mean(0) / 255.0
    corner = frames[:, :3, :3].reshape(-1, 3).mean(0) / 255.0
    # the face toward the camera is lit head-on: ≈ the albedo; the background is white
    np.testing.assert_allclose(centre, (0.86, 0.12, 0.12), atol=0.08)
    np.testing.assert_allclose(corner, (1.0, 1.0, 1.0), atol=0.03)

    gif = Image.open(tmp_path / "turntable.gif")
    assert gif.n_frames == 6 and gif.size == (34, 34)

    _, depth = _frames(tmp_path / "turntable_depth.mp4")
    assert depth.shape == (6, 34, 34, 3)
    assert depth[:, 15:19, 15:19].mean() > 100 and depth[:, :3, :3].mean() < 10  # near surface bright, empty black
    _, normals = _frames(tmp_path / "turntable_normals.mp4")
    front = normals[0, 15:19, 15:19].reshape(-1, 3).mean(0) / 255.0  # frame 0 looks at the +Z face from 15° up
    assert front[2] > 0.9 and abs(front[0] - 0.5) < 0.1


def test_videos_get_the_permissions_of_any_new_file(box_field, tmp_path):
    config = TurntableConfig(frames=4, size=16, cache_resolution=16, gif=True)
    written = write_turntable(box_field, tmp_path / "turntable.mp4", config=config, progress=False)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    expected = plain.stat().st_mode & 0o777
    assert {path.name: path.stat().st_mode & 0o777 for path in written} == {path.name: expected for path in written}


def test_bad_turntable_settings_are_clear_errors(box_field, tmp_path):
    with pytest.raises(DreamliftError, match=".mp4"):
        write_turntable(box_field, tmp_path / "turntable.avi", progress=False)
    with pytest.raises(DreamliftError, match="frames"):
        write_turntable(box_field, tmp_path / "turntable.mp4", config=TurntableConfig(frames=1), progress=False)
