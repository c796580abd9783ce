"""The toy world's colours (TOYWORLD.md "Colours"): albedos as display values in [0, 1].

``COLORS`` holds the eight named colours a caption may use, in TOYWORLD order;
``DARK_GRAY``, ``BROWN`` and ``BEIGE`` are the fixed colours of some parts (a roof, a
trunk, a stem) and are never named in a caption.
"""

from __future__ import annotations

RGB = tuple[float, float, float]

COLORS: dict[str, RGB] = {
    "red": (0.86, 0.12, 0.12),
    "orange": (0.95, 0.52, 0.10),
    "yellow": (0.95, 0.85, 0.15),
    "green": (0.15, 0.70, 0.25),
    "cyan": (0.10, 0.75, 0.80),
    "blue": (0.15, 0.30, 0.90),
    "purple": (0.55, 0.22, 0.75),
    "pink": (0.95, 0.45, 0.70),
}

DARK_GRAY: RGB = (0.25, 0.25, 0.25)
BROWN: RGB = (0.45, 0.28, 0.12)
BEIGE: RGB = (0.90, 0.85, 0.70)

COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
