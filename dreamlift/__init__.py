"""dreamlift: text or one image to a 3D asset by score distillation, on any machine."""

__version__ = "0.1.0"

from dreamlift.errors import DreamliftError  # noqa: E402

__all__ = ["DreamliftError", "__version__"]
