"""A Gaussian run's page and files over HTTP: the Splats panel, its import map and CSP hash, the vendored modules,
``splats.ply`` under the run files' rules, and the page without Spark (stand-in modules, no browser)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from test_web_modules import put_script, put_splats
from test_web_server import get

from dreamlift.commands import run_argv
from dreamlift.web import modules
from dreamlift.web.server import ViewerServer

IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.DOTALL)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``$DREAMLIFT_WEB_MODULES`` with stand-in model-viewer and splat modules: served name → path of the latter."""
    folder = tmp_path / "node_modules"
    put_script(folder)
    monkeypatch.setenv(modules.ENV_VAR, str(folder))
    return {name: path.resolve() for name, path in put_splats(folder).items()}


@pytest.fixture
def without_spark(tmp_path, monkeypatch):
    """``$DREAMLIFT_WEB_MODULES`` with a stand-in model-viewer alone (an install from before the splat view)."""
    put_script(tmp_path / "node_modules")
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "node_modules"))


def test_the_page_has_the_panel_and_an_import_map_that_the_csp_allows_by_hash(splat_run, installed):
    with ViewerServer([splat_run]) as server:
        status, headers, body = get(server, "/")
    page = body.decode()
    assert status == 200
    assert '<canvas id="splats" class="splats" data-src="/runs/gaussians/files/splats.ply" data-state="loading"' in page
    assert '<script type="module" src="/static/splats.js">' in page and "<model-viewer" in page  # beside the mesh
    [text] = IMPORT_MAP.findall(page)
    assert page.index('type="importmap"') < page.index('type="module"')  # a map after a module script is ignored
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    script_src = headers["Content-Security-Policy"].split("script-src ")[1].split(";")[0].split()
    assert script_src == ["'self'", "'wasm-unsafe-eval'", f"'sha256-{digest}'"]  # this map, and no other inline script
    targets = json.loads(text)["imports"]
    assert set(targets) == {"three", "three/addons/postprocessing/Pass.js", "three/addons/controls/OrbitControls.js", "@sparkjsdev/spark"}
    assert {url.rsplit("/", 1)[1] for url in targets.values()} <= set(modules.SPLAT_FILES)


def test_the_vendored_modules_are_served_from_the_allow_list_only(splat_run, installed):
    with ViewerServer([splat_run]) as server:
        assert server.app.splats == installed
        for name in modules.SPLAT_FILES:
            status, headers, body = get(server, f"/vendor/splats/{name}")
            assert status == 200 and body == f"// {name}".encode() and headers["Content-Type"].startswith("text/javascript")
        for path in ("/vendor/splats/three.webgpu.min.js", "/vendor/splats/", "/vendor/splats/..%2fmodel-viewer.js", "/vendor/splats/x/Pass.js"):
            assert get(server, path)[0] == 404, path
        assert get(server, "/static/splats.js")[0] == 200


def test_splats_ply_is_served_whole_or_by_range_and_a_link_out_of_the_run_is_refused(splat_run, installed, tmp_path):
    data = (splat_run / "splats.ply").read_bytes()
    with ViewerServer([splat_run]) as server:
        status, headers, body = get(server, "/runs/gaussians/files/splats.ply")
        assert status == 200 and body == data and headers["Content-Type"] == "application/octet-stream"
        status, headers, body = get(server, "/runs/gaussians/files/splats.ply", headers={"Range": "bytes=0-2"})
        assert status == 206 and body == b"ply" and headers["Content-Range"] == f"bytes 0-2/{len(data)}"
        assert get(server, "/runs/gaussians/files/splats.ply", headers={"Host": "evil.example:80"})[0] == 403
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "config.json").write_bytes((splat_run / "config.json").read_bytes())
    (linked / "splats.ply").symlink_to(splat_run / "splats.ply")  # outside this run's folder
    with ViewerServer([linked]) as server:
        assert get(server, "/runs/linked/files/splats.ply")[0] == 404
        page = get(server, "/")[2].decode()
        assert 'id="splats' not in page and "importmap" not in page and "splats.ply" not in page


def test_a_run_without_splats_loads_no_splat_script(text_run, installed):
    with ViewerServer([text_run]) as server:
        page = get(server, "/")[2].decode()
    assert "importmap" not in page and "splats.js" not in page and "<canvas" not in page and "<model-viewer" in page


def test_without_spark_the_page_says_so_and_keeps_the_rest(splat_run, without_spark):
    with ViewerServer([splat_run]) as server:
        assert server.app.splats is None and server.app.interactive
        page = get(server, "/")[2].decode()
        assert get(server, "/vendor/splats/spark.module.min.js")[0] == 404
        assert get(server, "/runs/gaussians/files/splats.ply")[0] == 200
    assert 'id="splats-missing"' in page and "Splat view not installed" in page and modules.INSTALL_HINT in page
    assert "importmap" not in page and "/vendor/splats/" not in page and "splats.js" not in page and "<canvas" not in page
    assert '<model-viewer id="model"' in page and 'href="/runs/gaussians/files/splats.ply" download' in page


@pytest.mark.parametrize("spark", [True, False], ids=["with-spark", "without"])
def test_view_notes_a_missing_splat_view_only_for_a_gaussian_run(spark, splat_run, text_run, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "node_modules"
    put_script(folder)
    if spark:
        put_splats(folder)
    monkeypatch.setenv(modules.ENV_VAR, str(folder))

    def stop(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ViewerServer, "serve_forever", stop)
    assert run_argv(["view", str(text_run)]) == 0
    assert modules.SPLATS_NOT_INSTALLED_NOTE not in capsys.readouterr().err
    assert run_argv(["view", str(splat_run)]) == 0
    assert (modules.SPLATS_NOT_INSTALLED_NOTE in capsys.readouterr().err) is not spark


def test_the_app_page_has_the_import_map_and_the_app_serves_the_splat_modules_and_splats_ply(splat_run, installed, tmp_path):
    from app_client import finished_job

    from dreamlift.web.app import AppServer

    with AppServer(tmp_path / "app", workers=0) as server:
        job_id = finished_job(server, splat_run, "red gaussians")
        status, headers, body = get(server, "/")
        page = body.decode()
        assert status == 200 and '<canvas id="splats" class="splats"' in page and 'id="splats-missing"' not in page
        [text] = IMPORT_MAP.findall(page)
        assert page.index('type="importmap"') < page.index('type="module"')
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in headers["Content-Security-Policy"].split("script-src ")[1].split(";")[0].split()
        for name in modules.SPLAT_FILES:
            status, _, body = get(server, f"/vendor/splats/{name}")
            assert status == 200 and body == f"// {name}".encode()
        assert get(server, "/vendor/splats/..%2fmodel-viewer.js")[0] == 404
        assert get(server, "/static/splats.js")[0] == 200
        status, _, body = get(server, f"/runs/{job_id}/files/splats.ply")
        assert status == 200 and body == (splat_run / "splats.ply").read_bytes()


def test_without_spark_the_app_page_has_the_note_and_no_import_map(without_spark, tmp_path):
    from dreamlift.web.app import AppServer

    with AppServer(tmp_path / "app", workers=0) as server:
        page = get(server, "/")[2].decode()
        assert get(server, "/vendor/splats/spark.module.min.js")[0] == 404
    assert 'id="splats-missing"' in page and "Splat view not installed" in page and modules.INSTALL_HINT in page
    assert "importmap" not in page and "<canvas" not in page and '<model-viewer id="model"' in page
