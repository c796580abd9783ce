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
