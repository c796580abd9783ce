"""An image run's inputs: the user's image (or table of views) read, matted and framed; the toy view
prior's recognition; and the same inputs written to, and read back from, the run folder.

Files: ``DIR/input.png`` (the first processed view), ``DIR/inputs/view-NN.png`` (a table's others),
``DIR/inputs/depth.safetensors`` (their depth maps, when the run uses depth), ``DIR/view_prior.json``
(the toy view prior's candidates). A resumed run reads them back exactly as they were fitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dreamlift.errors import DreamliftError

CANDIDATES_FILE = "view_prior.json"
DEPTH_FILE = "inputs/depth.safetensors"


@dataclass
class ImageSource:
    """Where an image run's views come from: one ``image`` (seen from ``elevation``) or a ``views`` table."""

    image: Path | None = None
    views: Path | None = None
    matting: str = "auto"
    """auto, alpha, border or rembg (:mod:`dreamlift.inputs.matting`)."""
    elevation: float | None = None
    """Degrees above the horizon of the one image (None: 0)."""


def prepare_views(config, source: ImageSource) -> tuple[list, list | None]:
    """``(views, candidates)`` of a new image run: the inputs loaded (cameras recorded in ``config.image``), and,
    for the toy view prior, the toy objects it recognises, with the views framed as the toy world frames them."""
    views = load_input_views(config, source)  # bad images fail here
    if config.prior.name != "toy-view":
        return views, None
    from dreamlift.guidance.toy_view import identify, native_views

    found = identify(views, config.prior, config.image.border_ratio, config.image.recentre)
    views = [quantised(v) for v in native_views(views, found.best_renders, config.image.border_ratio, config.image.recentre)]
    return views, found.candidates


def saved_views(folder: Path, config) -> tuple[list, list | None]:
    """``(views, candidates)`` of an existing image run, read back from its folder."""
    return read_saved_views(folder, config), read_saved_candidates(folder, config)


def write_inputs(folder: Path, config, views: list, candidates: list | None) -> None:
    """The processed views (``input.png``, ``inputs/``), their depths and the toy candidates, into a new run folder."""
    from dreamlift._atomic import write_png, write_text

    for record, view in zip(config.image.views, views):
        write_png(folder / record.file, view.image.rgba)
    write_depths(folder, views)
    if candidates is not None:
        from dreamlift.guidance.toy_view import candidates_to_json

        write_text(folder / CANDIDATES_FILE, candidates_to_json(candidates))


def quantised(view):
    """The view with its image rounded to 8 bits, exactly as ``input.png`` stores it (so a resume repeats)."""
    import torch

    from dreamlift.inputs import ReferenceImage, ViewInput

    rgba = torch.floor(view.image.rgba.clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0
    image = ReferenceImage(rgba=rgba, source_size=view.image.source_size, matting=view.image.matting, path=view.image.path)
    return ViewInput(image=image, camera=view.camera, weight=view.weight, depth=view.depth)


def load_input_views(config, source: ImageSource) -> list:
    """The user's image (or view table) as ``ViewInput`` s, with the cameras recorded in ``config.image``."""
    from dreamlift.inputs import load_view_table
    from dreamlift.inputs.views import load_one_view
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.distillation.reference import ReferenceCamera

    settings = config.image
    depth = depth_source(settings.depth)
    if source.views is not None:
        if source.elevation is not None:
            raise DreamliftError("--elevation is for one image; a view table gives each image's camera")
        if settings.depth.file:
            raise DreamliftError("--depth is for one image; for a view table give --depth-model, which estimates every view's depth")
        views = load_view_table(
            source.views, size=config.size, border_ratio=settings.border_ratio, matting=source.matting, recentre=settings.recentre, depth=depth
        )
        settings.source = str(source.views.expanduser().resolve())
    else:
        elevation = 0.0 if source.elevation is None else source.elevation
        if not -90.0 <= elevation <= 90.0:
            raise DreamliftError(f"--elevation {elevation:g} is outside [-90, 90] degrees")
        base = settings.views[0]
        camera = OrbitCameras.make(elevation, 0.0, base.radius, base.fovy)
        views = [
            load_one_view(
                source.image, camera, size=config.size, border_ratio=settings.border_ratio, matting=source.matting, recentre=settings.recentre, depth=depth
            )
        ]
        settings.source = str(source.image.expanduser().resolve())
    settings.matting = source.matting
    settings.views = [
        ReferenceCamera(
            elevation=float(v.camera.elevation[0]),
            azimuth=float(v.camera.azimuth[0]),
            radius=float(v.camera.radius[0]),
            fovy=float(v.camera.fovy[0]),
            weight=float(v.weight),
            file="input.png" if i == 0 else f"inputs/view-{i + 1:02d}.png",
        )
        for i, v in enumerate(views)
    ]
    return [quantised(v) for v in views]


def depth_source(settings):
    """``matted image → (H, W) depth`` for ``--depth`` / ``--depth-model`` (:mod:`dreamlift.inputs.depth`), or None."""
    from dreamlift.inputs.depth import estimate_depth, fit_to_image, read_depth_map

    if settings.file:
        depth = read_depth_map(settings.file, settings.file_is_disparity)  # a bad file fails before the image is read

        def from_file(matted):
            height, width = matted.rgba.shape[:2]
            return fit_to_image(depth, height, width, matted.source_size, f"depth map {settings.file}")

        return from_file
    if settings.model:
        return lambda matted: estimate_depth(matted.rgba, settings.model, settings.model_is_disparity, settings.allow_network)
    return None


def write_depths(folder: Path, views: list) -> None:
    """The views' framed depth maps, ``DIR/inputs/depth.safetensors`` (one ``view-NN`` tensor each), when they have them."""
    from safetensors.torch import save

    from dreamlift._atomic import write_bytes

    if all(v.depth is not None for v in views):
        tensors = {f"view-{i + 1:02d}": v.depth.float().contiguous() for i, v in enumerate(views)}
        write_bytes(folder / DEPTH_FILE, save(tensors))


def read_depths(folder: Path, views: list) -> list:
    """``views`` with the depth maps a resumed run saved (as they were; a damaged file is a one-line error)."""
    from dataclasses import replace

    from safetensors.torch import load_file

    path = folder / DEPTH_FILE
    if not path.is_file():
        raise DreamliftError(f"{path} is missing: the run used a depth map; the run folder is damaged")
    try:
        tensors = load_file(str(path))
        return [replace(v, depth=tensors[f"view-{i + 1:02d}"]) for i, v in enumerate(views)]
    except Exception:
        raise DreamliftError(f"{path} is damaged: start a new run") from None


def read_saved_candidates(folder: Path, config) -> list | None:
    """A run's toy-view candidates, read back from ``view_prior.json`` (None for other priors)."""
    if config.prior.name != "toy-view":
        return None
    from dreamlift.guidance.toy_view import candidates_from_json

    path = folder / CANDIDATES_FILE
    if not path.is_file():
        raise DreamliftError(f"{path} is missing: the run folder is damaged; start a new run")
    from dreamlift._limits import read_text

    try:
        return candidates_from_json(read_text(path, str(path)))
    except (OSError, UnicodeDecodeError):
        raise DreamliftError(f"{path} cannot be read: the run folder is damaged; start a new run") from None


def read_saved_views(folder: Path, config) -> list:
    """A resumed run's processed input views, read back from its folder exactly as they were fitted."""
    import torch

    from dreamlift.inputs import ReferenceImage, ViewInput
    from dreamlift.inputs.image import decode_image
    from dreamlift.rendering.cameras import OrbitCameras

    views = []
    for record in config.image.views:
        path = folder / record.file
        decoded = decode_image(path)
        if decoded.alpha is None or decoded.rgb.shape[:2] != (config.size, config.size):
            raise DreamliftError(f"{path} is not the run's {config.size}x{config.size} RGBA input: the run folder is damaged")
        rgba = torch.cat((torch.from_numpy(decoded.rgb), torch.from_numpy(decoded.alpha)[..., None]), dim=-1)
        image = ReferenceImage(rgba=rgba, source_size=decoded.source_size, matting=config.image.matting, path=path)
        camera = OrbitCameras.make(record.elevation, record.azimuth, record.radius, record.fovy)
        views.append(ViewInput(image=image, camera=camera, weight=record.weight))
    if config.image.depth.file or config.image.depth.model:
        views = read_depths(folder, views)
    return views
