"""The library API of dreamlift: one run, whatever its stages, for every front end.

* :class:`~dreamlift.pipeline.run.Run`: a run folder opened as one object (kind, settings, stages,
  checkpoints, the final asset);
* :func:`~dreamlift.pipeline.settings.resolve_config`: a run's settings from a preset, a settings
  mapping, ``KEY=VALUE`` settings and named options, validated as the commands validate them;
* :func:`~dreamlift.pipeline.stages.make_run`: a resolved config (and, for images, its prepared views)
  to a finished run folder, stage by stage, with a progress callback and a cancel hook;
* :func:`~dreamlift.pipeline.image_inputs.prepare_views`: an image run's inputs from files.

A text run in a few lines::

    from dreamlift.pipeline import Run, make_run, resolve_config

    config = resolve_config("text", settings=["prompt=a red cube", "steps=300", "refine.enabled=false"])
    make_run(config, "runs/red_cube", progress=lambda p: print(p))
    print(Run.open("runs/red_cube").final_stage)

The commands (``dreamlift text|image|refine|export|render|eval``), ``dreamlift batch`` and
``dreamlift app`` call these; nothing here imports them. Names are imported on first use, so
``import dreamlift.pipeline`` stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Run": "dreamlift.pipeline.run",
    "StageAsset": "dreamlift.pipeline.run",
    "RunLock": "dreamlift.pipeline.lock",
    "resolve_config": "dreamlift.pipeline.settings",
    "make_run": "dreamlift.pipeline.stages",
    "refine_run": "dreamlift.pipeline.stages",
    "Progress": "dreamlift.pipeline.stages",
    "RunResult": "dreamlift.pipeline.stages",
    "plan": "dreamlift.pipeline.stages",
    "ImageSource": "dreamlift.pipeline.image_inputs",
    "prepare_views": "dreamlift.pipeline.image_inputs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dreamlift.pipeline' has no attribute {name!r}")
