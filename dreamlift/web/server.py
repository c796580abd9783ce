"""The viewer's local HTTP server (standard library only).

Routes (GET and HEAD; anything else is 405):

* ``/``: the run's page, or the gallery when several runs are served;
* ``/runs/<id>/``: a run's page; ``/runs/<id>/files/<name>``: one of the run's
  allowed files (:mod:`dreamlift.web.runs`); byte ranges are honoured for video;
* ``/static/<name>``: this package's ``static/`` files; ``/vendor/model-viewer.js``:
  the installed <model-viewer> (:mod:`dreamlift.web.modules`), and
  ``/vendor/splats/<name>``: the splat view's modules (Spark, three.js), each a 404
  where it is not installed (the pages then do not ask for it).

Everything else is 404: request paths are looked up in allow-lists, never joined to
the file system, so ``..``, encoded slashes and absolute paths cannot reach a file.
By default the server binds 127.0.0.1 and then also refuses requests whose ``Host``
header is not a loopback name (a guard against DNS rebinding). Every response
carries a Content Security Policy that allows only this origin, so the page cannot
fetch anything from the internet; its one inline script is the splat view's import
map, allowed by its hash.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dreamlift.errors import DreamliftError
from dreamlift.web.modules import model_viewer_script, splat_modules
from dreamlift.web.pages import IMPORT_MAP_HASH, gallery_page, run_page
from dreamlift.web.runs import Run, find_runs, read_run, served_file

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src 'self' 'wasm-unsafe-eval' {IMPORT_MAP_HASH}; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self'; "
    "connect-src 'self' data: blob:; worker-src 'self' blob:; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
CONTENT_TYPES = {
    ".glb": "model/gltf-binary",
    ".mp4": "video/mp4",
    ".gif": "image/gif",
    ".png": "image/png",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".jsonl": "text/plain; charset=utf-8",
    ".obj": "text/plain; charset=utf-8",
    ".mtl": "text/plain; charset=utf-8",
    ".ply": "application/octet-stream",
}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The host part of a Host header (``name``, ``name:port``, ``[v6]:port``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class PackageFiles:
    """What the viewer and the app serve from this package and its installs: ``/static/<name>``,
    ``/vendor/model-viewer.js`` and ``/vendor/splats/<name>`` (a subclass sets the three attributes)."""

    static_files: dict[str, Path]
    model_viewer: Path | None
    splats: dict[str, Path] | None

    def package_file(self, parts: list[str]) -> tuple[str, object] | None:
        """``("file", Path)`` for one of those paths (``parts``: the URL path split at ``/``), or None (404)."""
        found = None
        if parts[:1] == ["static"] and len(parts) == 2:
            found = self.static_files.get(parts[1])
        elif parts == ["vendor", "model-viewer.js"]:
            found = self.model_viewer
        elif parts[:2] == ["vendor", "splats"] and len(parts) == 3:
            found = (self.splats or {}).get(parts[2])
        return ("file", found) if found else None


class ViewerApp(PackageFiles):
    """What the server serves: the runs (found at start; their files are read on every request) and the script.

    ``model_viewer`` is the installed <model-viewer>'s script, or None: the pages then
    show the turntable and a note instead of the interactive model. ``splats`` is the
    splat view's modules by served name, or None: a Gaussian run's page then says so.
    """

    def __init__(self, paths: list[Path]):
        self.runs = {run.id: run for run in find_runs([Path(p) for p in paths])}
        self.model_viewer = model_viewer_script()
        self.splats = splat_modules()
        self.static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}

    @property
    def interactive(self) -> bool:
        """Whether the pages show the interactive model (<model-viewer> is installed)."""
        return self.model_viewer is not None

    def _run_page(self, run: Run, gallery: bool) -> str:
        return run_page(run, read_run(run), gallery=gallery, interactive=self.interactive, splats=self.splats is not None)

    def resolve(self, path: str) -> tuple[str, object] | None:
        """``("html", text)`` or ``("file", Path)`` for a URL path, or None (404)."""
        parts = path.split("/")[1:]
        if parts == [""]:
            if len(self.runs) == 1:
                return "html", self._run_page(next(iter(self.runs.values())), gallery=False)
            return "html", gallery_page([(run, read_run(run, curves=False)) for run in self.runs.values()])
        if parts[:1] in (["static"], ["vendor"]):
            return self.package_file(parts)
        if parts[:1] == ["runs"] and len(parts) >= 2 and parts[1] in self.runs:
            run = self.runs[parts[1]]
            if parts[2:] in ([], [""]):
                return "html", self._run_page(run, gallery=len(self.runs) > 1)
            if parts[2:3] == ["files"] and len(parts) >= 4:
                found = served_file(run, "/".join(parts[3:]))
                return ("file", found) if found else None
        return None


class GuardedHandler(BaseHTTPRequestHandler):
    """What every local page server shares (the viewer's and the app's).

    Responses carry the CSP and no-cache headers; files are sent whole or by byte
    range; a request whose ``Host`` is not a loopback name is refused when
    ``check_host`` is set; a request path with NUL bytes, backslashes or encoded
    slashes is a 404. A subclass gives :meth:`resolve` and the methods it accepts.
    """

    server_version = "dreamlift"
    sys_version = ""
    check_host = True
    """Refuse requests whose Host header is not a loopback name (set when bound to loopback)."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet by default
        pass

    def resolve(self, path: str) -> tuple[str, object] | None:
        """``("html", text)`` or ``("file", Path)`` for a decoded URL path, or None (404)."""
        raise NotImplementedError

    def _headers(self, status: int, content_type: str, length: int | None, extra: dict[str, str] | None = None) -> None:
        """Status line and headers; ``length`` None sends no Content-Length (a stream)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _text(self, status: HTTPStatus, text: str, content_type: str = "text/plain; charset=utf-8", body: bool = True, extra: dict[str, str] | None = None) -> None:
        data = text.encode("utf-8")
        self._headers(status, content_type, len(data), extra)
        if body:
            self.wfile.write(data)

    def _file(self, path: Path, body: bool) -> None:
        content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = path.stat().st_size
        start, end, status = 0, size - 1, HTTPStatus.OK
        match = _RANGE.match(self.headers.get("Range", "").strip())
        if match and size > 0 and (match.group(1) or match.group(2)):
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            else:
                start = max(0, size - int(match.group(2)))
            if start > end or start >= size:
                self._headers(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "text/plain", 0, {"Content-Range": f"bytes */{size}"})
                return
            status = HTTPStatus.PARTIAL_CONTENT
        extra = {"Accept-Ranges": "bytes"}
        if status == HTTPStatus.PARTIAL_CONTENT:
            extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._headers(status, content_type, end - start + 1, extra)
        if not body:
            return
        with open(path, "rb") as handle:
            handle.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = handle.read(min(1 << 20, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def _guarded_path(self, body: bool) -> str | None:
        """The decoded request path, or None after answering 403 (foreign Host) or 404 (a malformed path)."""
        if self.check_host and not is_loopback(_host_name(self.headers.get("Host", ""))):
            self._text(HTTPStatus.FORBIDDEN, "forbidden: this server only answers requests for localhost\n", body=body)
            return None
        raw = urlsplit(self.path).path
        path = unquote(raw)
        if "\x00" in path or "\\" in path or not path.startswith("/") or "%2f" in raw.lower():
            self._text(HTTPStatus.NOT_FOUND, "not found\n", body=body)
            return None
        return path

    def _send_found(self, found: tuple[str, object] | None, body: bool) -> None:
        """Answer with what :meth:`resolve` found (404 for None)."""
        if found is None:
            self._text(HTTPStatus.NOT_FOUND, "not found\n", body=body)
        elif found[0] == "html":
            self._text(HTTPStatus.OK, str(found[1]), "text/html; charset=utf-8", body=body)
        else:
            try:
                self._file(Path(found[1]), body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            except OSError:
                self._text(HTTPStatus.NOT_FOUND, "not found\n", body=body)

    def _serve(self, body: bool) -> None:
        path = self._guarded_path(body)
        if path is None:
            return
        try:
            found = self.resolve(path)
        except OSError:
            found = None
        self._send_found(found, body)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)


class ViewerHandler(GuardedHandler):
    """The viewer's requests: GET and HEAD of :class:`ViewerApp`'s pages and files; anything else is 405."""

    server_version = "dreamlift-viewer"
    app: ViewerApp

    def resolve(self, path: str) -> tuple[str, object] | None:
        return self.app.resolve(path)

    def _refuse(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def check_port(port: int) -> None:
    if not 0 <= int(port) <= 65535:
        raise DreamliftError(f"port {port} is out of range: give 0 (any free port) to 65535")


class LocalServer:
    """A :class:`GuardedHandler` subclass served on ``host:port`` (port 0 picks a free one); ``start()`` serves in a thread.

    The handler's ``check_host`` is set when ``host`` is a loopback address.
    """

    def __init__(self, handler: type[GuardedHandler], host: str = "127.0.0.1", port: int = 0, name: str = "dreamlift-server"):
        check_port(port)
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        handler = type(handler.__name__, (handler,), {"check_host": is_loopback(host)})
        try:
            self.httpd = server_class((host, int(port)), handler)
        except OSError as error:
            raise DreamliftError(
                f"cannot listen on {host}:{port} ({error.strerror or error}): give another --port, or --port 0 for any free one"
            ) from None
        self.httpd.daemon_threads = True
        self.name = name
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        shown = "127.0.0.1" if host == "0.0.0.0" else (f"[{host}]" if ":" in host else host)
        return f"http://{shown}:{port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread:
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class ViewerServer(LocalServer):
    """The viewer of ``paths`` (run folders or folders of runs) bound to ``host:port``."""

    def __init__(self, paths: list[Path], host: str = "127.0.0.1", port: int = 0):
        check_port(port)  # the arguments first, before the runs and <model-viewer> are looked for
        app = ViewerApp(paths)
        super().__init__(type("Handler", (ViewerHandler,), {"app": app}), host, port, name="dreamlift-viewer")
        self.app = app
