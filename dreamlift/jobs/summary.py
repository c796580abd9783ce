"""The batch's record: ``DIR/summary.csv`` (one line per input row) and ``DIR/index.html`` (the gallery).

Both are rewritten atomically (``dreamlift._atomic``) each time a row finishes, so a
reader, or a driver killed mid-write, never sees half a file. A rerun batch reads the
previous ``summary.csv`` back to keep the seconds and scores of rows it skips.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from dreamlift._atomic import write_text
from dreamlift.jobs.rows import Row

SCORE_COLUMNS = ("silhouette_iou", "psnr", "color_error", "turn", "janus", "mesh_iou", "mesh_turn", "mesh_chamfer")
"""Scores of ``dreamlift eval --truth`` (toy text rows whose prompt is a toy-world caption)."""
COLUMNS = ("line", "kind", "prompt", "image", "status", "seconds", "steps", "refine_steps", "start_step", "error", "folder") + SCORE_COLUMNS
STATUSES = ("pending", "running", "done", "failed")


@dataclass
class Entry:
    """The summary line of one row."""

    row: Row
    folder: Path
    status: str = "pending"
    """One of :data:`STATUSES`."""
    seconds: str = ""
    """Seconds of the run's last attempt in this batch (kept from the previous summary for skipped rows)."""
    steps: str = ""
    """Step of the run's newest stage-1 checkpoint."""
    refine_steps: str = ""
    """Step of the run's newest refinement checkpoint (empty: the run does not refine)."""
    start_step: str = ""
    """Step the last attempt started from (0: from scratch)."""
    error: str = ""
    scores: dict[str, str] = field(default_factory=dict)

    def line(self) -> dict[str, str]:
        row = self.row
        values = {
            "line": str(row.line), "kind": row.kind,
            "prompt": row.source if row.kind == "text" else (row.prompt or ""),
            "image": row.source if row.kind == "image" else "",
            "status": self.status, "seconds": self.seconds, "steps": self.steps, "refine_steps": self.refine_steps,
            "start_step": self.start_step,
            "error": self.error, "folder": row.out,
        }
        values.update({name: self.scores.get(name, "") for name in SCORE_COLUMNS})
        return values


def format_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def check_batch_folder(out_dir: Path) -> None:
    """Refuse a ``--out`` whose ``summary.csv`` or ``index.html`` the batch would overwrite and did not write: a
    folder that holds an ``index.html`` but no summary, or a ``summary.csv`` whose header is not a batch's."""
    from dreamlift.errors import DreamliftError

    summary, index = Path(out_dir) / "summary.csv", Path(out_dir) / "index.html"
    if not Path(out_dir).is_dir():
        return
    ours = False
    if summary.exists():
        try:
            with open(summary, newline="", encoding="utf-8") as handle:
                ours = next(csv.reader([handle.readline(4096)]), []) == list(COLUMNS)
        except (OSError, ValueError, csv.Error):
            ours = False
    for path in (summary, index):
        if path.exists() and not ours:
            raise DreamliftError(
                f"--out {out_dir} holds {path.name} that is not a batch's summary: the batch would overwrite it; "
                "choose a new or empty folder for --out"
            )


def previous_lines(out_dir: Path) -> dict[str, dict[str, str]]:
    """The previous ``summary.csv`` of ``out_dir`` by folder (empty when there is none or it is unreadable)."""
    path = out_dir / "summary.csv"
    try:
        if path.stat().st_size > 64 << 20:  # 100,000 rows are about 20 MB: anything larger is not ours
            return {}
        with open(path, newline="", encoding="utf-8") as handle:
            return {line["folder"]: line for line in csv.DictReader(handle) if line.get("folder")}
    except (OSError, ValueError, KeyError, csv.Error):
        return {}


def summary_csv(entries: list[Entry]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        writer.writerow(entry.line())
    return buffer.getvalue()


def write_summary(out_dir: Path, entries: list[Entry], gallery=None) -> None:
    """Rewrite ``summary.csv`` and, with a ``gallery`` page maker (``[(name, folder)] → html``), ``index.html``
    of the finished runs."""
    write_text(out_dir / "summary.csv", summary_csv(entries))
    if gallery is not None:
        write_text(out_dir / "index.html", gallery([(entry.row.out, entry.folder) for entry in entries if entry.status == "done"]))
