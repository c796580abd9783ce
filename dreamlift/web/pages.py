"""HTML of the viewer: one page per run, and a gallery of runs.

Pages are static HTML with no inline script or style (the server's Content Security
Policy forbids both): ``/static/viewer.css`` styles them, ``/static/viewer.js`` marks
each ``<model-viewer>`` with ``data-state="loaded"`` or ``"error"`` when its model
loads or fails (and says so on the page), and ``/vendor/model-viewer.js`` is the
locally installed <model-viewer>. Where it is not installed (``interactive`` False,
:mod:`dreamlift.web.modules`) a page loads neither script: the model's place holds
:func:`viewer_missing_note` and the turntable video.

A run with ``splats.ply`` (a Gaussian run) also gets a "Splats" panel: a canvas that
``/static/splats.js`` draws with Spark on three.js, both served under
``/vendor/splats/`` and found through :data:`IMPORT_MAP` (the one inline script, which
the server's CSP allows by its hash, :data:`IMPORT_MAP_HASH`). Where Spark is not
installed (``splats`` False) the panel holds :func:`splats_missing_note` and the page
loads neither. The app's page (:func:`app_page`) has the same map, or the note. Every
run-supplied text is HTML-escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path
from urllib.parse import quote

from dreamlift.web.modules import INSTALL_HINT
from dreamlift.web.plot import svg_plot
from dreamlift.web.runs import Run, RunInfo

STYLESHEET = Path(__file__).parent / "static" / "viewer.css"
APP_PAGE = Path(__file__).parent / "static" / "app.html"
MODEL_VIEWER_SCRIPT = '<script type="module" src="/vendor/model-viewer.js"></script>\n'
"""The tag that loads the installed <model-viewer> (the viewer's pages and the app's page)."""
SPLATS_URL = "/vendor/splats/"
"""Where the server serves :data:`~dreamlift.web.modules.SPLAT_FILES` (by their names there)."""
IMPORT_MAP = json.dumps(
    {
        "imports": {
            "three": SPLATS_URL + "three.module.min.js",
            "three/addons/postprocessing/Pass.js": SPLATS_URL + "Pass.js",
            "three/addons/controls/OrbitControls.js": SPLATS_URL + "OrbitControls.js",
            "@sparkjsdev/spark": SPLATS_URL + "spark.module.min.js",
        }
    },
    sort_keys=True,
)
"""The import map of a page with the splat view: the bare names that Spark, three's add-ons and ``splats.js`` import."""
IMPORT_MAP_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(IMPORT_MAP.encode("utf-8")).digest()).decode("ascii") + "'"
"""The CSP source that allows exactly :data:`IMPORT_MAP` as an inline script."""
IMPORT_MAP_SCRIPT = f'<script type="importmap">{IMPORT_MAP}</script>\n'
SPLATS_SCRIPTS = IMPORT_MAP_SCRIPT + '<script type="module" src="/static/splats.js"></script>\n'
_APP_MODEL_VIEWER = re.compile(r'<model-viewer id="model"[^>]*>.*?</model-viewer>', re.DOTALL)
_APP_SPLATS = re.compile(r'<canvas id="splats"[^>]*></canvas>\s*<p id="splats-status"[^>]*></p>')
CURVE_ORDER = ("loss", "sds")
"""Series plotted first; the others follow in log order."""
MAX_CURVES = 8


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def file_url(run: Run, name: str) -> str:
    return f"/runs/{quote(run.id)}/files/{quote(name)}"


def relative_url(run: Run, name: str) -> str:
    """``name`` of ``run`` for a static page beside the run folders (``run.id`` is the folder's relative path)."""
    return f"{quote(run.id)}/{quote(name)}"


def _page(title: str, body: str, with_viewer: bool, inline_style: bool = False, with_splats: bool = False) -> str:
    """A whole page; ``inline_style``: the stylesheet inside the page (a static file opened without the server);
    ``with_splats``: the import map (first: it must precede every module script) and ``splats.js``."""
    style = (
        f"<style>\n{STYLESHEET.read_text(encoding='utf-8')}</style>\n"
        if inline_style
        else '<link rel="stylesheet" href="/static/viewer.css">\n'
    )
    scripts = f'{MODEL_VIEWER_SCRIPT}<script type="module" src="/static/viewer.js"></script>\n' if with_viewer else ""
    if with_splats:
        scripts = SPLATS_SCRIPTS + scripts
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)} · dreamlift</title>\n"
        '<link rel="icon" href="data:,">\n'
        f"{style}{scripts}</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _curves(info: RunInfo) -> str:
    names = [n for n in CURVE_ORDER if n in info.series] + [n for n in info.series if n not in CURVE_ORDER]
    plots = [svg_plot(name, info.series[name]) for name in names[:MAX_CURVES] if info.series[name]]
    if not plots:
        return '<p class="empty">No training log yet.</p>'
    return '<div class="curves">' + "".join(plots) + "</div>"


def _model_viewer(run: Run, name: str, title: str, element_id: str) -> str:
    return (
        f'<model-viewer id="{element_id}" src="{_e(file_url(run, name))}" alt="3D model: {_e(title)}" '
        'camera-controls touch-action="pan-y" camera-orbit="0deg 75deg auto" interaction-prompt="none" '
        f'shadow-intensity="0" data-state="loading" data-status="{element_id}-status">'
        '<div slot="progress-bar"></div></model-viewer>'
        f'<p id="{element_id}-status" class="status">Loading the model…</p>'
    )


def _missing_note(element_id: str, what: str, instead: str) -> str:
    """A note that ``what`` is not installed, how to install it, and what the page shows ``instead``."""
    return f'<p id="{element_id}" class="viewer-missing">{what} not installed: run <code>{_e(INSTALL_HINT)}</code> once. {instead}</p>'


def viewer_missing_note() -> str:
    """The note shown where the interactive model would be when <model-viewer> is not installed (the viewer's and the app's)."""
    return _missing_note("model-missing", "Interactive 3D view", "The turntable video shows the model instead.")


def _model(run: Run, info: RunInfo, interactive: bool) -> str:
    """The model's section: one or two <model-viewer> (stage 1 beside the refined mesh), or the note and the turntable."""
    if "mesh.glb" not in info.files:
        return '<p class="empty">No mesh.glb yet: it is written at the end of the run (or by dreamlift export).</p>'
    if not interactive:
        return viewer_missing_note() + _video(run, info)
    if "mesh-stage1.glb" not in info.files:
        return _model_viewer(run, "mesh.glb", info.title, "model")
    return (
        '<div class="stages">'
        f'<figure>{_model_viewer(run, "mesh-stage1.glb", info.title + " (stage 1)", "model-stage1")}'
        "<figcaption>Stage 1: the NeRF's mesh (mesh-stage1.glb)</figcaption></figure>"
        f'<figure>{_model_viewer(run, "mesh.glb", info.title, "model")}'
        "<figcaption>Refined: stage 2, the DMTet mesh (mesh.glb)</figcaption></figure>"
        "</div>"
    )


def splats_missing_note() -> str:
    """The note shown where the splats would be when Spark is not installed."""
    return _missing_note("splats-missing", "Splat view", "splats.ply is among the files below.")


def _splats(run: Run, info: RunInfo, splats: bool) -> str:
    """The splats' section of a Gaussian run (empty without ``splats.ply``): Spark's canvas, or the note."""
    if "splats.ply" not in info.files:
        return ""
    shown = (
        f'<canvas id="splats" class="splats" data-src="{_e(file_url(run, "splats.ply"))}" data-state="loading" '
        f'data-status="splats-status" aria-label="3D Gaussians: {_e(info.title)}"></canvas>'
        '<p id="splats-status" class="status">Loading the splats…</p>'
        if splats
        else splats_missing_note()
    )
    return f'<section class="wide"><h2>Splats <span class="note">stage 1: the 3D Gaussians (splats.ply)</span></h2>{shown}</section>\n'


def _video(run: Run, info: RunInfo) -> str:
    if "turntable.mp4" not in info.files:
        return '<p class="empty">No turntable.mp4 yet.</p>'
    return f'<video src="{_e(file_url(run, "turntable.mp4"))}" controls loop muted autoplay playsinline></video>'


def _input(run: Run, info: RunInfo) -> str:
    parts = []
    if info.prompt:
        parts.append(f'<p class="prompt">“{_e(info.prompt)}”</p>')
    if "input.png" in info.files:
        parts.append(f'<img class="input" src="{_e(file_url(run, "input.png"))}" alt="input image">')
    return "".join(parts) or '<p class="empty">No prompt or input image recorded.</p>'


def _previews(run: Run, info: RunInfo) -> str:
    sections = []
    for label, names in (("Latest preview", info.previews), ("Latest refinement preview", info.refine_previews)):
        if names:
            sections.append(
                f'<section><h2>{label} <span class="note">{_e(names[-1])}</span></h2>'
                f'<img class="preview" src="{_e(file_url(run, names[-1]))}" alt="{_e(label.lower())} renders"></section>'
            )
    return "\n".join(sections)


def _settings(info: RunInfo) -> str:
    if not info.settings:
        return '<p class="empty">No config.json.</p>'
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in info.settings)
    return f'<table class="settings">{rows}</table>'


def _downloads(run: Run, info: RunInfo) -> str:
    names = [n for n in info.files if not n.startswith(("previews/", "refine/previews/"))]
    links = "".join(f'<li><a href="{_e(file_url(run, n))}" download>{_e(n)}</a></li>' for n in names)
    return f'<ul class="downloads">{links}</ul>'


def run_page(run: Run, info: RunInfo, gallery: bool, interactive: bool = True, splats: bool = True) -> str:
    """The page of one run (``gallery``: link back to the list of runs; ``interactive``: <model-viewer> is installed;
    ``splats``: Spark is installed).

    Without ``interactive`` and with a mesh, the turntable stands in the model's place
    (under the note) instead of in a section of its own.
    """
    back = '<a class="back" href="/">← all runs</a>' if gallery else ""
    with_viewer = interactive and "mesh.glb" in info.files
    turntable_in_model = not interactive and "mesh.glb" in info.files
    turntable = "" if turntable_in_model else f"<section><h2>Turntable</h2>{_video(run, info)}</section>\n"
    stages = f'<p class="note" id="stages">{_e(info.stages)}</p>' if info.stages else ""
    body = (
        f'<header>{back}<h1>{_e(info.title)}</h1><p class="note">{_e(run.path)}</p>{stages}</header>\n<main>\n'
        f'<section class="wide"><h2>Model</h2>{_model(run, info, interactive)}</section>\n'
        f"{_splats(run, info, splats)}"
        f"{turntable}"
        f"<section><h2>Input</h2>{_input(run, info)}</section>\n"
        f'<section class="wide"><h2>Training curves</h2>{_curves(info)}</section>\n'
        f"{_previews(run, info)}\n"
        f'<section class="wide"><h2>Settings</h2>{_settings(info)}</section>\n'
        f"<section><h2>Files</h2>{_downloads(run, info)}</section>\n</main>"
    )
    return _page(info.title, body, with_viewer=with_viewer, with_splats=splats and "splats.ply" in info.files)


def _thumbnail(run: Run, info: RunInfo, url=file_url) -> str:
    if "turntable.mp4" in info.files:
        return f'<video src="{_e(url(run, "turntable.mp4"))}" loop muted autoplay playsinline></video>'
    if info.previews:
        return f'<img src="{_e(url(run, info.previews[-1]))}" alt="preview">'
    if "input.png" in info.files:
        return f'<img src="{_e(url(run, "input.png"))}" alt="input image">'
    return '<div class="blank">no images yet</div>'


def gallery_page(entries: list[tuple[Run, RunInfo]], static: bool = False) -> str:
    """A grid of runs, each linking to its page.

    ``static``: a file written beside the run folders (a batch's ``index.html``), opened
    without the server: links are relative (``run.id`` is the folder's relative path),
    each card opens the run's folder, and the stylesheet is inside the page.
    """
    url = relative_url if static else file_url
    page = (lambda run: f"{quote(run.id)}/") if static else (lambda run: f"/runs/{quote(run.id)}/")
    cards = "".join(
        f'<a class="card" href="{_e(page(run))}">{_thumbnail(run, info, url)}'
        f'<span class="card-title">{_e(info.title)}</span><span class="note">{_e(run.id)}</span></a>'
        for run, info in entries
    )
    body = f'<header><h1>dreamlift runs</h1><p class="note">{len(entries)} runs</p></header>\n<main class="gallery">{cards}</main>'
    return _page("runs", body, with_viewer=False, inline_style=static)


def _app_replace(page: str, pattern: re.Pattern, note: str) -> str:
    """``page`` with the element that ``pattern`` finds replaced by ``note``."""
    if not pattern.search(page):
        raise RuntimeError(f"{APP_PAGE} no longer has the element that app_page replaces ({pattern.pattern})")
    return pattern.sub(note, page, count=1)


def app_page(interactive: bool, splats: bool) -> str:
    """The app's page (``static/app.html``): without ``interactive``, :func:`viewer_missing_note` for <model-viewer>
    and its script; with ``splats``, :data:`IMPORT_MAP` (``app.js`` imports ``splats.js`` for a Gaussian job),
    else :func:`splats_missing_note` for the canvas."""
    page = APP_PAGE.read_text(encoding="utf-8")
    if not interactive:
        if MODEL_VIEWER_SCRIPT not in page:
            raise RuntimeError(f"{APP_PAGE} no longer has the model-viewer script tag that app_page removes")
        page = _app_replace(page.replace(MODEL_VIEWER_SCRIPT, ""), _APP_MODEL_VIEWER, viewer_missing_note())
    if not splats:
        return _app_replace(page, _APP_SPLATS, splats_missing_note())
    first = page.index("<script")  # the map must precede every module script
    return page[:first] + IMPORT_MAP_SCRIPT + page[first:]
