"""User inputs for image-to-3D: one reference image, or several with known cameras."""

from dreamlift.inputs.image import MAX_PIXELS, MIN_SIDE, Matting, ReferenceImage, load_reference_image
from dreamlift.inputs.views import ViewInput, load_view_table

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "Matting",
    "ReferenceImage",
    "ViewInput",
    "load_reference_image",
    "load_view_table",
]
