"""The toy world of TOYWORLD.md: twelve shapes in eight colours, their renderer, captions and ground truth.

Frame +Y up, front +Z, world units; images ``(B, H, W, C)`` in [0, 1]; see the
submodules for the details of each part.
"""

from dreamlift.toyworld.captions import caption, parse_caption, view_suffix
from dreamlift.toyworld.colors import BEIGE, BROWN, COLORS, DARK_GRAY
from dreamlift.toyworld.render import composite_white, coverage, render
from dreamlift.toyworld.shapes import BOUNDING_RADIUS, SHAPE_NAMES, SHAPE_WORDS, ToyObject, all_objects, evaluate
from dreamlift.toyworld.truth import inside, silhouette, truth_mesh

__all__ = [
    "BEIGE",
    "BOUNDING_RADIUS",
    "BROWN",
    "COLORS",
    "DARK_GRAY",
    "SHAPE_NAMES",
    "SHAPE_WORDS",
    "ToyObject",
    "all_objects",
    "caption",
    "composite_white",
    "coverage",
    "evaluate",
    "inside",
    "parse_caption",
    "render",
    "silhouette",
    "truth_mesh",
    "view_suffix",
]
