"""The viewer's HTTP server: pages, allowed files, path traversal, bind address, the pages without model-viewer."""

from __future__ import annotations

import http.client
import socket

import pytest

from dreamlift.errors import DreamliftError
from dreamlift.web import modules
from dreamlift.web.server import ViewerServer

needs_model_viewer = pytest.mark.skipif(
    modules.model_viewer_script() is None, reason=f"model-viewer is not installed: run {modules.INSTALL_COMMAND}"
)


def get(server: ViewerServer, path: str, method: str = "GET", headers: dict | None = None):
    """One raw request (the path is sent exactly as given, no normalisation)."""
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for key, value in {"Host": f"127.0.0.1:{port}", **(headers or {})}.items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def server(text_run):
    with ViewerServer([text_run]) as running:
        yield running


@needs_model_viewer
def test_run_page_shows_everything(server, text_run):
    status, headers, body = get(server, "/")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert '<model-viewer id="model" src="/runs/snowman/files/mesh.glb"' in page
    assert '<video src="/runs/snowman/files/turntable.mp4"' in page
    assert "a red &lt;b&gt;snowman&lt;/b&gt; &amp; friends" in page and "<b>snowman</b>" not in page
    assert page.count("<svg") == 3  # loss, t, seconds
    assert "<th>steps</th><td>60</td>" in page and "<th>kind</th><td>text</td>" in page
    assert '<script type="module" src="/vendor/model-viewer.js">' in page
    assert "http://" not in page.replace(str(text_run), "") and "https://" not in page  # nothing external


@needs_model_viewer
def test_allowed_files_are_served_whole_or_by_range(server, text_run):
    glb = (text_run / "mesh.glb").read_bytes()
    status, headers, body = get(server, "/runs/snowman/files/mesh.glb")
    assert status == 200 and body == glb and headers["Content-Type"] == "model/gltf-binary"
    status, headers, body = get(server, "/runs/snowman/files/mesh.glb", headers={"Range": "bytes=4-11"})
    assert status == 206 and body == glb[4:12] and headers["Content-Range"] == f"bytes 4-11/{len(glb)}"
    status, headers, body = get(server, "/runs/snowman/files/mesh.glb", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(glb)
    status, _, body = get(server, "/vendor/model-viewer.js")
    assert status == 200 and len(body) > 100_000
    status, _, _ = get(server, "/static/viewer.js")
    assert status == 200
    status, _, _ = get(server, "/runs/snowman/files/previews/step-000060.png")
    assert status == 200
    status, _, _ = get(server, "/", method="POST")
    assert status == 405


@pytest.mark.parametrize(
    "path",
    [
        "/runs/snowman/files/../config.json",
        "/runs/snowman/files/../../../../etc/passwd",
        "/runs/snowman/files/%2e%2e/%2e%2e/etc/passwd",
        "/runs/snowman/files/..%2f..%2fetc%2fpasswd",
        "/runs/snowman/files//etc/passwd",
        "/runs/snowman/files/checkpoints/secret.txt",
        "/runs/snowman/files/previews/escape.png",
        "/runs/snowman/files/previews/../../secret-outside.txt",
        "/runs/snowman/files/previews/%2e%2e%2fconfig.json",
        "/static/../server.py",
        "/static/..%2fserver.py",
        "/static/%2e%2e/server.py",
        "/vendor/../../pyproject.toml",
        "//etc/passwd",
        "/etc/passwd",
        "/runs/../../etc/passwd",
        "/runs/snowman/files/mesh.glb%00.png",
        "/runs/snowman/files/..\\config.json",
    ],
)
def test_path_traversal_is_refused(server, text_run, path):
    secret = b"top secret"
    (text_run / "checkpoints").mkdir(exist_ok=True)
    (text_run / "checkpoints" / "secret.txt").write_bytes(secret)
    outside = text_run.parent / "secret-outside.txt"
    outside.write_bytes(secret)
    link = text_run / "previews" / "escape.png"
    if not link.is_symlink():
        link.symlink_to(outside)
    status, _, body = get(server, path)
    assert status in (400, 404) and secret not in body and b"root:" not in body


def test_foreign_host_header_is_refused(server):
    status, _, body = get(server, "/", headers={"Host": "attacker.example:80"})
    assert status == 403 and b"snowman" not in body
    assert get(server, "/", headers={"Host": "localhost"})[0] == 200


def test_binds_loopback_by_default(text_run):
    with ViewerServer([text_run]) as running:
        host, port = running.address
        assert host == "127.0.0.1" and port > 0 and running.url == f"http://127.0.0.1:{port}/"
        try:  # this machine's outward address, if it has one: the server must not answer there
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.connect(("10.255.255.255", 1))  # no packet is sent for a UDP connect
            outward = probe.getsockname()[0]
            probe.close()
        except OSError:
            outward = None
        if outward and not outward.startswith("127."):
            with pytest.raises(OSError):
                socket.create_connection((outward, port), timeout=2).close()


def test_port_in_use_is_a_clear_error(text_run):
    with ViewerServer([text_run]) as running:
        with pytest.raises(DreamliftError, match="--port"):
            ViewerServer([text_run], port=running.address[1])


def test_gallery_lists_runs(gallery):
    with ViewerServer([gallery]) as running:
        assert sorted(running.app.runs) == ["from-image", "snowman"]
        status, _, body = get(running, "/")
        page = body.decode()
        assert status == 200 and 'href="/runs/snowman/"' in page and 'href="/runs/from-image/"' in page
        assert "model-viewer" not in page
        status, _, body = get(running, "/runs/from-image/")
        page = body.decode()
        assert status == 200 and '<img class="input" src="/runs/from-image/files/input.png"' in page
        assert "No turntable.mp4 yet" in page and "← all runs" in page
        assert get(running, "/runs/not-a-run/")[0] == 404


def test_without_model_viewer_the_run_page_shows_the_note_and_the_turntable_and_loads_no_vendor_script(text_run, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "empty"))  # looked in alone: the package's node_modules is not used
    with ViewerServer([text_run]) as running:
        assert running.app.model_viewer is None and not running.app.interactive
        status, _, body = get(running, "/")
        page = body.decode()
        assert status == 200
        assert 'id="model-missing"' in page and "Interactive 3D view not installed" in page and modules.INSTALL_HINT in page
        assert "model-viewer" not in page and "/vendor/" not in page and "viewer.js" not in page  # no script that would 404
        assert page.count('<video src="/runs/snowman/files/turntable.mp4"') == 1  # in the model's place, not twice
        assert page.index("model-missing") < page.index("<video")
        assert 'href="/runs/snowman/files/mesh.glb" download' in page and "<svg" in page and "<th>steps</th>" in page
        assert get(running, "/vendor/model-viewer.js")[0] == 404
        assert get(running, "/runs/snowman/files/turntable.mp4")[0] == 200


def test_without_model_viewer_a_run_with_no_turntable_says_so(gallery, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "empty"))
    with ViewerServer([gallery]) as running:
        page = get(running, "/runs/from-image/")[2].decode()
        assert "Interactive 3D view not installed" in page and "No turntable.mp4 yet" in page and "model-viewer" not in page


def test_env_var_points_at_another_node_modules(text_run, tmp_path, monkeypatch):
    script = tmp_path / "nm" / modules.MODEL_VIEWER
    script.parent.mkdir(parents=True)
    script.write_text("// stand-in")
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "nm"))
    assert modules.model_viewer_script() == script.resolve()
    with ViewerServer([text_run]) as running:
        page = get(running, "/")[2].decode()
        assert '<script type="module" src="/vendor/model-viewer.js">' in page and "model-missing" not in page
        assert get(running, "/vendor/model-viewer.js")[2] == b"// stand-in"


def test_not_a_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DreamliftError, match="neither a run folder"):
        ViewerServer([tmp_path])
    with pytest.raises(DreamliftError, match="not a folder"):
        ViewerServer([tmp_path / "missing"])


@needs_model_viewer
def test_a_refined_run_shows_both_stages_side_by_side_and_serves_its_previews(text_run, tmp_path):
    import shutil

    run = shutil.copytree(text_run, tmp_path / "refined")
    shutil.copy(run / "mesh.glb", run / "mesh-stage1.glb")
    preview = sorted((run / "previews").glob("*.png"))[-1]
    (run / "refine" / "previews").mkdir(parents=True)
    shutil.copy(preview, run / "refine" / "previews" / "step-000300.png")
    with ViewerServer([run]) as running:
        status, _, body = get(running, "/")
        page = body.decode()
        assert status == 200 and '<div class="stages">' in page
        assert page.index("/files/mesh-stage1.glb") < page.index('<model-viewer id="model" src="/runs/refined/files/mesh.glb"')
        assert "Stage 1" in page and "Refined" in page and "Latest refinement preview" in page
        status, _, body = get(running, "/runs/refined/files/refine/previews/step-000300.png")
        assert status == 200 and body == preview.read_bytes()
        status, _, _ = get(running, "/runs/refined/files/refine/checkpoints/x.png")
        assert status == 404
