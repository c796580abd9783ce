"""Where <model-viewer> and the splat view (Spark, three.js) are looked for, ``dreamlift view --install-viewer``
(npm mocked), and both commands starting with and without them.

The lookup: ``$DREAMLIFT_WEB_MODULES`` alone when set; else the package's
``node_modules``, then the user cache's. The install copies the package's manifests
into a temporary folder beside ``<cache>/web``, runs ``npm ci`` there and renames the
folder into place only when npm succeeded.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dreamlift.commands import run_argv
from dreamlift.errors import DreamliftError
from dreamlift.web import modules

ROOT = Path(__file__).resolve().parents[2]


def put_script(node_modules: Path, text: str = "// stand-in") -> Path:
    """A stand-in model-viewer script in ``node_modules``; its path."""
    script = node_modules / modules.MODEL_VIEWER
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(text)
    return script


def put_splats(node_modules: Path, skip: str | None = None) -> dict[str, Path]:
    """Stand-ins for the splat view's modules in ``node_modules`` (all but ``skip``); served name → path."""
    written = {}
    for name, relative in modules.SPLAT_FILES.items():
        if name != skip:
            written[name] = node_modules / relative
            written[name].parent.mkdir(parents=True, exist_ok=True)
            written[name].write_text(f"// {name}")
    return written


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A package folder with the real manifests and no node_modules, an empty cache, and no ``$DREAMLIFT_WEB_MODULES``:
    ``(package node_modules, cache node_modules)``."""
    package = tmp_path / "package"
    package.mkdir()
    for name in modules.MANIFESTS:
        shutil.copyfile(modules.WEB_DIR / name, package / name)
    monkeypatch.setattr(modules, "WEB_DIR", package)
    monkeypatch.setenv("DREAMLIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(modules.ENV_VAR, raising=False)
    return package / "node_modules", tmp_path / "cache" / "web" / "node_modules"


# ---------------------------------------------------------------------- the lookup
def test_the_cache_folder_is_web_in_dreamlift_cache(places, tmp_path):
    assert modules.cache_web_dir() == tmp_path / "cache" / "web"
    assert modules.search_folders() == list(places)


def test_nothing_installed_is_none(places):
    assert modules.model_viewer_script() is None


def test_the_package_node_modules_comes_before_the_cache(places):
    package, cache = places
    in_cache = put_script(cache)
    assert modules.model_viewer_script() == in_cache
    in_package = put_script(package)
    assert modules.model_viewer_script() == in_package


def test_the_env_var_is_the_only_place_looked_when_set(places, tmp_path, monkeypatch):
    package, cache = places
    put_script(package)
    put_script(cache)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "empty"))
    assert modules.search_folders() == [(tmp_path / "empty").resolve()]
    assert modules.model_viewer_script() is None  # an empty folder hides both other installs
    chosen = put_script(tmp_path / "chosen")
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "chosen"))
    assert modules.model_viewer_script() == chosen.resolve()


def test_the_splat_view_comes_whole_from_the_first_folder_that_has_all_of_it(places):
    package, cache = places
    assert modules.splat_modules() is None
    put_splats(package, skip="Pass.js")  # an install without one of them is passed over, never mixed with another
    assert modules.splat_modules() is None
    in_cache = put_splats(cache)
    assert modules.splat_modules() == in_cache
    put_script(cache)
    assert modules.model_viewer_script() == cache / modules.MODEL_VIEWER  # the two parts are looked up apart
    assert modules.splat_modules() == in_cache and (package / modules.SPLAT_FILES["three.module.min.js"]).is_file()


# ---------------------------------------------------------------------- --install-viewer
@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """An ``npm`` on PATH (never run: subprocess.run is replaced) and the calls made: a list of ``(argv, cwd, seen)``.

    ``fake_npm.result`` sets what the mocked npm does: ``"ok"`` writes a stand-in
    model-viewer and splat view under ``cwd/node_modules`` and exits 0; ``"no-spark"``
    writes model-viewer alone and exits 0; ``"fail"`` exits 1.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\nexit 99\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    calls = []

    def run(argv, cwd=None, **kwargs):
        cwd = Path(cwd)
        seen = {
            "manifests": {name: (cwd / name).read_bytes() for name in modules.MANIFESTS},
            "target_exists": modules.cache_web_dir().exists(),
            "target_files": sorted(str(p.relative_to(modules.cache_web_dir())) for p in modules.cache_web_dir().rglob("*") if p.is_file()),
        }
        calls.append((list(argv), cwd, seen))
        if run.result == "fail":
            return subprocess.CompletedProcess(argv, 1, "", "npm ERR! code ENOTFOUND\nnpm ERR! network request to https://registry.npmjs.org failed\n")
        put_script(cwd / "node_modules", "// installed by npm")
        if run.result == "ok":
            put_splats(cwd / "node_modules")
        return subprocess.CompletedProcess(argv, 0, "added 1 package\n", "")

    run.result = "ok"
    run.npm = str(npm)
    run.calls = calls
    monkeypatch.setattr(modules.subprocess, "run", run)
    return run


def leftovers(cache: Path) -> list[str]:
    """Anything in the cache folder besides ``web`` (a temporary folder that was not cleaned up)."""
    return sorted(p.name for p in cache.iterdir() if p.name != "web") if cache.exists() else []


def test_install_runs_npm_ci_in_a_temporary_folder_then_renames_it_into_the_cache(places, fake_npm, tmp_path):
    _, cache_modules = places
    script = modules.install_model_viewer()
    [(argv, cwd, seen)] = fake_npm.calls
    assert argv == [fake_npm.npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"]
    assert cwd.parent == tmp_path / "cache" and cwd != modules.cache_web_dir()  # a temporary folder beside the target
    assert seen["manifests"] == {name: (modules.WEB_DIR / name).read_bytes() for name in modules.MANIFESTS}
    assert not seen["target_exists"]  # nothing in place while npm ran
    assert not cwd.exists() and leftovers(tmp_path / "cache") == []  # renamed, nothing left behind
    assert script == cache_modules / modules.MODEL_VIEWER and script.read_text() == "// installed by npm"
    assert (modules.cache_web_dir() / "package-lock.json").read_bytes() == (modules.WEB_DIR / "package-lock.json").read_bytes()
    assert modules.model_viewer_script() == script  # the lookup finds it
    assert modules.splat_modules() == {name: cache_modules / relative for name, relative in modules.SPLAT_FILES.items()}


def test_an_install_without_the_splat_view_is_one_line_and_leaves_the_earlier_install(places, fake_npm, tmp_path):
    _, cache_modules = places
    old = put_script(cache_modules, "// old")
    fake_npm.result = "no-spark"
    with pytest.raises(DreamliftError) as caught:
        modules.install_model_viewer()
    assert str(caught.value) == f"npm ci finished but installed no {modules.SPLAT_FILES['spark.module.min.js']}: run '{modules.INSTALL_HINT}' again"
    assert old.read_text() == "// old" and leftovers(tmp_path / "cache") == []


def test_a_new_install_replaces_an_earlier_one_whole(places, fake_npm, tmp_path):
    _, cache_modules = places
    put_script(cache_modules, "// old")
    (cache_modules / "stale.js").write_text("old")
    modules.install_model_viewer()
    [(_, _, seen)] = fake_npm.calls
    assert seen["target_files"] == [f"node_modules/{modules.MODEL_VIEWER}", "node_modules/stale.js"]  # the old one served meanwhile
    assert (cache_modules / modules.MODEL_VIEWER).read_text() == "// installed by npm"
    assert not (cache_modules / "stale.js").exists() and leftovers(tmp_path / "cache") == []


def test_a_failed_npm_is_one_line_and_leaves_the_earlier_install_and_no_temporary_folder(places, fake_npm, tmp_path):
    _, cache_modules = places
    old = put_script(cache_modules, "// old")
    fake_npm.result = "fail"
    with pytest.raises(DreamliftError) as caught:
        modules.install_model_viewer()
    message = str(caught.value)
    assert "\n" not in message and message.startswith("npm ci failed (exit 1): npm ERR! network request")
    assert modules.INSTALL_HINT in message
    assert old.read_text() == "// old" and leftovers(tmp_path / "cache") == []


def test_a_failed_rename_puts_the_earlier_install_back(places, fake_npm, tmp_path, monkeypatch):
    _, cache_modules = places
    old = put_script(cache_modules, "// old")
    real_replace = os.replace

    def replace(source, destination):
        if Path(source).name.startswith(".web-install-"):
            raise OSError(28, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(modules.os, "replace", replace)
    with pytest.raises(DreamliftError, match=r"^cannot put the install in place at .*/web \(No space left on device\)"):
        modules.install_model_viewer()
    assert old.read_text() == "// old" and leftovers(tmp_path / "cache") == []


def test_without_npm_install_viewer_is_one_line_saying_to_install_node_and_npm(places, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    called = []
    monkeypatch.setattr(modules.subprocess, "run", lambda *a, **k: called.append(a))
    assert run_argv(["view", "--install-viewer"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --install-viewer needs npm, which is not on PATH")
    assert "install Node.js and npm" in err
    assert called == [] and not (tmp_path / "cache").exists()  # nothing run, nothing written


def test_an_unwritable_cache_is_one_line_naming_dreamlift_cache(places, fake_npm, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("DREAMLIFT_CACHE", str(tmp_path / "a-file" / "cache"))
    with pytest.raises(DreamliftError, match=r"^cannot write the cache folder .*a-file/cache .*: set DREAMLIFT_CACHE to a writable folder$"):
        modules.install_model_viewer()
    assert fake_npm.calls == []


def test_install_viewer_installs_and_exits(places, fake_npm, capsys):
    assert run_argv(["view", "--install-viewer"]) == 0
    out = capsys.readouterr().out
    assert len(fake_npm.calls) == 1 and f"installed {modules.cache_web_dir() / 'node_modules' / modules.MODEL_VIEWER}" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["view"], "error: give a RUN folder (or a folder of runs) to view, or --install-viewer"),
        (["view", "somewhere", "--install-viewer"], "error: --install-viewer installs and exits: run it without RUN folders"),
    ],
)
def test_view_needs_runs_or_install_viewer_alone(argv, message, capsys):
    assert run_argv(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


# ---------------------------------------------------------------------- the commands start either way
def _interruptible() -> None:
    """In the child: SIGINT as a terminal's foreground job has it. A suite started in the background of a script
    (``cmd &`` without job control, or ``nohup``) hands its children an ignored SIGINT, and Python then never raises
    KeyboardInterrupt, so ``view`` would not stop on Ctrl-C for reasons of the harness, not of dreamlift."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str], env: dict) -> tuple[subprocess.Popen, int]:
    """``dreamlift COMMAND`` in a subprocess; the port of the URL it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dreamlift.cli", *command, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_interruptible,
    )
    for _ in range(3):
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if match:
            return process, int(match.group(1))
    process.kill()
    raise AssertionError(f"no URL printed: {line!r} {process.stderr.read()}")


def fetch(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.mark.parametrize("installed", [True, False], ids=["with-model-viewer", "without"])
@pytest.mark.parametrize("command", ["view", "app"])
def test_view_and_app_start_with_and_without_model_viewer(command, installed, text_run, tmp_path):
    chosen = tmp_path / "node_modules"
    chosen.mkdir()
    if installed:
        put_script(chosen)
    env = {
        **os.environ,
        modules.ENV_VAR: str(chosen),
        "DREAMLIFT_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }
    argv = ["view", str(text_run)] if command == "view" else ["app", "--folder", str(tmp_path / "app")]
    process, port = start(argv, env)
    try:
        status, page = fetch(port, "/")
        vendor_status, _ = fetch(port, "/vendor/model-viewer.js")
    finally:
        process.send_signal(signal.SIGINT if command == "view" else signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert status == 200 and process.returncode == 0, err
    if installed:
        assert '<script type="module" src="/vendor/model-viewer.js">' in page and "<model-viewer" in page
        assert vendor_status == 200 and "not installed" not in err
    else:
        assert "model-viewer" not in page and "Interactive 3D view not installed" in page
        assert vendor_status == 404 and modules.NOT_INSTALLED_NOTE in err
