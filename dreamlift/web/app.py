"""The app's web server: the page, the JSON API under ``/api``, and the jobs' run files.

Routes (each under the guards of :class:`~dreamlift.web.server.GuardedHandler`):

* ``GET /``: the page (``static/app.html``, without <model-viewer> or the splat view where it is not
  installed: :func:`~dreamlift.web.pages.app_page`); ``/static/<name>``, ``/vendor/model-viewer.js`` and
  ``/vendor/splats/<name>`` (404 where it is not installed);
* ``GET /runs/<id>/files/<name>``: a job's run file (the viewer's allow-list, :mod:`dreamlift.web.runs`);
* ``POST /api/jobs``: a JSON object or a multipart form (fields as in
  :mod:`dreamlift.jobs.spec`, the image as the file field ``image``) → 201 ``{"id"}``;
* ``GET /api/jobs`` → ``{"jobs": [job, ...]}``; ``GET /api/jobs/<id>`` → a job:
  ``{"id", "status", "step", "steps", "error", "files", "previews", "eta_seconds", ...}``;
* ``GET /api/jobs/<id>/events``: server-sent events ``progress`` (the job),
  ``preview`` (``{"url", "step"}``, once per preview image) and ``end`` (the job,
  once it is done, failed or cancelled; then the stream closes);
* ``GET /api/jobs/<id>/loss.svg``: the loss curve as an SVG document;
* ``DELETE /api/jobs/<id>``: cancel (the run stops at a checkpoint);
  ``POST /api/jobs/<id>/resume``: queue a cancelled or failed job again.

Errors are JSON ``{"error": "one line"}``: 400 for a bad submission (nothing is
queued), 403 for a state-changing request whose ``Origin`` (or ``Sec-Fetch-Site``)
is another site's, 401 without the token, 404, 409 for a change the job's status
does not allow, 411/413 for a missing or too large body. An upload is decoded and
matted as ``dreamlift image`` would (:func:`~dreamlift.inputs.load_reference_image`)
before it is stored in ``DIR/uploads/``. When the app listens on a non-loopback
address it needs a token: ``?token=`` on the page's URL (then a SameSite=Strict,
HttpOnly cookie), or ``Authorization: Bearer <token>`` from a script.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from dreamlift.errors import DreamliftError
from dreamlift.jobs.progress import read_progress
from dreamlift.jobs.queue import FINISHED, Job, JobQueue
from dreamlift.jobs.spec import JobSpec, parse_submission
from dreamlift.jobs.worker import WorkerPool, output_log, run_folder
from dreamlift.web.forms import parse_json, parse_multipart
from dreamlift.web.modules import model_viewer_script, splat_modules
from dreamlift.web.pages import app_page
from dreamlift.web.plot import svg_plot
from dreamlift.web.runs import Run, served_file, served_files
from dreamlift.web.server import STATIC_DIR, GuardedHandler, LocalServer, PackageFiles

MAX_UPLOAD_BYTES = 16 << 20
"""Largest accepted request body with an image (16 MiB)."""
MAX_JSON_BYTES = 64 << 10
"""Largest accepted JSON request body."""
EVENT_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
COOKIE = "dreamlift_token"
UPLOAD_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class RequestError(Exception):
    """An API answer other than 200: a status and a one-line message."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())


def new_job_id(title: str) -> str:
    """A job id (its run folder's name): the title's slug and 6 random hex digits."""
    from dreamlift.pipeline.settings import slug

    return f"{slug(title, limit=32)}-{secrets.token_hex(3)}"


class JobsApp(PackageFiles):
    """What the app's server serves and changes: the queue of ``folder`` and its jobs' run folders."""

    def __init__(self, folder: Path, max_upload_bytes: int = MAX_UPLOAD_BYTES, token: str | None = None):
        self.folder = Path(folder)
        self.queue = JobQueue(self.folder)
        self.max_upload_bytes = max_upload_bytes
        self.token = token
        self.model_viewer = model_viewer_script()
        self.splats = splat_modules()
        self.static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        self.closing = threading.Event()

    # ----------------------------------------------------------------- reading
    def run(self, job_id: str) -> Run:
        return Run(id=job_id, path=run_folder(self.folder, job_id))

    def view(self, job: Job) -> dict[str, Any]:
        """A job as the API shows it."""
        spec = JobSpec.from_dict(job.spec)
        run = self.run(job.id)
        progress = read_progress(run.path, output_log(self.folder, job.id), spec.steps)
        base = f"/runs/{quote(job.id)}/files/"
        files = {name: base + quote(name) for name in sorted(served_files(run)) if not name.startswith(("previews/", "refine/previews/"))}
        return {
            "id": job.id,
            "kind": spec.kind,
            "title": spec.title,
            "prompt": spec.prompt,
            "prior": spec.prior,
            "seed": spec.seed,
            "status": job.status,
            "step": progress.step,
            "steps": progress.steps,
            "stage": progress.stage,
            "refine_step": progress.refine_step,
            "refine_steps": progress.refine_steps,
            "eta_seconds": None if job.status != "running" else progress.eta_seconds,
            "error": job.error,
            "files": files,
            "previews": [base + quote(name) for name in progress.previews],
            "resumed_at": progress.resumed_at,
            "attempts": job.attempts,
            "cancel_requested": job.cancel_requested,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
        }

    def job(self, job_id: str) -> Job:
        job = self.queue.get(job_id)
        if job is None:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no job {job_id!r}")
        return job

    def loss_svg(self, job_id: str) -> str:
        job = self.job(job_id)
        progress = read_progress(self.run(job.id).path)
        if not progress.loss:
            raise RequestError(HTTPStatus.NOT_FOUND, f"job {job_id} has logged no loss yet")
        return svg_plot("loss", progress.loss, standalone=True)

    # ----------------------------------------------------------------- changes
    def submit(self, fields: dict[str, Any], upload=None) -> Job:
        """Check a submission (see :func:`~dreamlift.jobs.spec.parse_submission`), store its image, queue it."""
        try:
            spec = parse_submission(fields, has_image=upload is not None)
        except DreamliftError as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(error)) from None
        job_id = new_job_id(Path(upload.filename).stem if upload is not None else spec.prompt)
        stored = None
        if upload is not None:
            stored = self.store_upload(job_id, upload)
            spec.image, spec.upload_name = str(stored), Path(upload.filename).name
        try:
            return self.queue.submit(job_id, spec.to_dict())
        except BaseException:
            if stored is not None:
                stored.unlink(missing_ok=True)
            raise

    def store_upload(self, job_id: str, upload) -> Path:
        """Check an uploaded image as ``dreamlift image`` would, then store it as ``DIR/uploads/<id><suffix>``."""
        from dreamlift.inputs import load_reference_image

        suffix = Path(upload.filename).suffix.lower()
        suffix = suffix if suffix in UPLOAD_SUFFIXES else ".png"
        uploads = self.folder / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=uploads)
        shown = Path(upload.filename).name or "the upload"
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(upload.data)
            try:
                load_reference_image(temporary)  # decoded, matted and framed: refused here, before it is stored
            except DreamliftError as error:
                raise RequestError(HTTPStatus.BAD_REQUEST, str(error).replace(temporary, shown)) from None
            final = uploads / f"{job_id}{suffix}"
            os.replace(temporary, final)
            return final.resolve()
        finally:
            Path(temporary).unlink(missing_ok=True)

    def cancel(self, job_id: str) -> Job:
        job = self.job(job_id)
        if job.status in FINISHED:
            raise RequestError(HTTPStatus.CONFLICT, f"job {job_id} is already {job.status}")
        return self.queue.cancel(job_id)

    def resume(self, job_id: str) -> Job:
        job = self.job(job_id)
        if job.status not in ("cancelled", "failed"):
            raise RequestError(HTTPStatus.CONFLICT, f"job {job_id} is {job.status}: only a cancelled or failed job can be resumed")
        return self.queue.resume(job_id)

    # ----------------------------------------------------------------- pages and files
    def resolve(self, path: str) -> tuple[str, object] | None:
        parts = path.split("/")[1:]
        if parts == [""]:
            return "html", app_page(interactive=self.model_viewer is not None, splats=self.splats is not None)
        if parts[:1] in (["static"], ["vendor"]):
            return self.package_file(parts)
        if parts[:1] == ["runs"] and len(parts) >= 4 and parts[2] == "files" and self.queue.get(parts[1]) is not None:
            found = served_file(self.run(parts[1]), "/".join(parts[3:]))
            return ("file", found) if found else None
        return None


def _is_public(path: str) -> bool:
    """Paths served without the token: the package's own static files (the token page needs them)."""
    return path.startswith("/static/") or path == "/vendor/model-viewer.js"


class AppHandler(GuardedHandler):
    """The app's requests (see the module docstring)."""

    server_version = "dreamlift-app"
    app: JobsApp

    def resolve(self, path: str) -> tuple[str, object] | None:
        return self.app.resolve(path)

    # ----------------------------------------------------------------- answers
    def _json(self, status: HTTPStatus, value: Any, body: bool = True) -> None:
        self._text(status, json.dumps(value) + "\n", "application/json", body=body)

    def _error(self, error: RequestError, body: bool = True) -> None:
        self._json(error.status, {"error": error.message}, body=body)

    # ----------------------------------------------------------------- guards
    def _token_ok(self, path: str, query: dict[str, list[str]]) -> bool:
        token = self.app.token
        if token is None or _is_public(path):
            return True
        offered = []
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            offered.append(authorization[len("Bearer "):].strip())
        for item in self.headers.get("Cookie", "").split(";"):
            name, _, value = item.strip().partition("=")
            if name == COOKIE:
                offered.append(value)
        offered += query.get("token", [])
        return any(hmac.compare_digest(value.encode(), token.encode()) for value in offered)

    def _same_origin(self) -> bool:
        """False for a browser request from another site (its Origin is not this server's, or Sec-Fetch-Site says so)."""
        origin = self.headers.get("Origin")
        own = "http://" + self.headers.get("Host", "")
        if origin is not None and origin.strip().lower() != own.lower():
            return False
        return self.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")

    def _admit(self, body: bool, changes: bool) -> str | None:
        """The request's path once every guard passed; None after answering the refusal."""
        path = self._guarded_path(body)
        if path is None:
            return None
        query = parse_qs(urlsplit(self.path).query)
        if not self._token_ok(path, query):
            if path.startswith("/api/"):
                self._error(RequestError(HTTPStatus.UNAUTHORIZED, "this app needs the token it printed when it started"), body)
            else:
                page = self.app.static_files["app-token.html"].read_text(encoding="utf-8")
                self._text(HTTPStatus.UNAUTHORIZED, page, "text/html; charset=utf-8", body=body)
            return None
        if self.app.token is not None and path == "/" and query.get("token"):
            cookie = f"{COOKIE}={self.app.token}; HttpOnly; SameSite=Strict; Path=/"
            self._text(HTTPStatus.SEE_OTHER, "", extra={"Location": "/", "Set-Cookie": cookie}, body=body)
            return None
        if changes and not self._same_origin():
            self._error(RequestError(HTTPStatus.FORBIDDEN, "forbidden: this request comes from another site (its Origin is not this app's)"), body)
            return None
        return path

    def _body(self, limit: int) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length")
        if int(length) > limit:
            if int(length) <= 2 * limit:  # read and drop it, so that the client gets to read the answer
                self.rfile.read(int(length))
            self.close_connection = True
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the request is {int(length)} bytes, over the limit of {limit} bytes")
        return self.rfile.read(int(length))

    # ----------------------------------------------------------------- methods
    def _serve(self, body: bool) -> None:
        path = self._admit(body, changes=False)
        if path is None:
            return
        parts = path.split("/")[1:]
        try:
            if parts[:2] == ["api", "jobs"]:
                self._api_get(parts[2:], body)
                return
            found = self.resolve(path)
        except RequestError as error:
            self._error(error, body)
            return
        except OSError:
            found = None
        self._send_found(found, body)

    def _api_get(self, rest: list[str], body: bool) -> None:
        if rest in ([], [""]):
            self._json(HTTPStatus.OK, {"jobs": [self.app.view(job) for job in self.app.queue.jobs()]}, body)
        elif len(rest) == 1:
            self._json(HTTPStatus.OK, self.app.view(self.app.job(rest[0])), body)
        elif len(rest) == 2 and rest[1] == "events":
            self._events(self.app.job(rest[0]).id, body)
        elif len(rest) == 2 and rest[1] == "loss.svg":
            self._text(HTTPStatus.OK, self.app.loss_svg(rest[0]), "image/svg+xml; charset=utf-8", body=body)
        else:
            raise RequestError(HTTPStatus.NOT_FOUND, "no such API path")

    def do_POST(self) -> None:  # noqa: N802
        path = self._admit(True, changes=True)
        if path is None:
            return
        parts = path.split("/")[1:]
        try:
            if parts in (["api", "jobs"], ["api", "jobs", ""]):
                job = self._submit()
                self._json(HTTPStatus.CREATED, {"id": job.id, "status": job.status})
            elif len(parts) == 4 and parts[:2] == ["api", "jobs"] and parts[3] == "resume":
                job = self.app.resume(parts[2])
                self._json(HTTPStatus.OK, {"id": job.id, "status": job.status})
            else:
                raise RequestError(HTTPStatus.NOT_FOUND, "no such API path")
        except RequestError as error:
            self._error(error)

    def _submit(self) -> Job:
        content_type = self.headers.get("Content-Type", "")
        kind = content_type.split(";")[0].strip().lower()
        if kind == "application/json":
            return self.app.submit(self._parsed(lambda: parse_json(self._body(MAX_JSON_BYTES))))
        if kind == "multipart/form-data":
            fields, upload = self._parsed(lambda: parse_multipart(content_type, self._body(self.app.max_upload_bytes)))
            return self.app.submit(fields, upload)
        raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the job as application/json or multipart/form-data")

    @staticmethod
    def _parsed(read):
        try:
            return read()
        except DreamliftError as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(error)) from None

    def do_DELETE(self) -> None:  # noqa: N802
        path = self._admit(True, changes=True)
        if path is None:
            return
        parts = path.split("/")[1:]
        try:
            if len(parts) != 3 or parts[:2] != ["api", "jobs"]:
                raise RequestError(HTTPStatus.NOT_FOUND, "no such API path")
            job = self.app.cancel(parts[2])
            self._json(HTTPStatus.OK, {"id": job.id, "status": job.status})
        except RequestError as error:
            self._error(error)

    def _refuse(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD, POST, DELETE")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    # ----------------------------------------------------------------- server-sent events
    def _events(self, job_id: str, body: bool) -> None:
        self._headers(HTTPStatus.OK, "text/event-stream; charset=utf-8", None, {"X-Accel-Buffering": "no"})
        if not body:
            return
        sent_previews: set[str] = set()
        last_state = None
        last_write = time.monotonic()
        try:
            while not self.app.closing.is_set():
                job = self.app.queue.get(job_id)
                if job is None:
                    return
                view = self.app.view(job)
                for url in view["previews"]:
                    if url not in sent_previews:
                        sent_previews.add(url)
                        step = int(url.rsplit("step-", 1)[-1].split(".")[0]) if "step-" in url else None
                        self._event("preview", {"url": url, "step": step})
                state = (view["status"], view["step"], view["steps"], view["refine_step"], len(view["files"]))
                if state != last_state:
                    self._event("progress", view)
                    last_state = state
                    last_write = time.monotonic()
                if job.status in FINISHED:
                    self._event("end", view)
                    return
                if time.monotonic() - last_write > KEEPALIVE_SECONDS:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    last_write = time.monotonic()
                self.app.closing.wait(EVENT_POLL_SECONDS)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _event(self, name: str, data: Any) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode("utf-8"))
        self.wfile.flush()


class AppLock:
    """``DIR/app.lock``, held while an app serves ``DIR`` (a second app on the same folder is refused)."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(folder / "app.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise DreamliftError(f"another dreamlift app already serves {folder}: stop it, or give another --folder") from None

    def release(self) -> None:
        os.close(self.fd)


class AppServer(LocalServer):
    """The app on ``folder``: its lock, the queue recovered, ``workers`` worker processes, and the server.

    ``workers`` 0 serves the queue without running it (for tests).
    ``token``: None on loopback (no token), else the token requests must carry;
    ``start()`` starts the workers and serves in a thread; ``close()`` stops both (a
    running job goes back to the queue at a checkpoint).
    """

    def __init__(
        self, folder: str | Path, host: str = "127.0.0.1", port: int = 0, workers: int = 1,
        token: str | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise DreamliftError(f"--workers must be a positive whole number, got {workers}")
        if not 0 <= int(port) <= 65535:  # before the folder is touched
            raise DreamliftError(f"port {port} is out of range: give 0 (any free port) to 65535")
        folder = Path(folder).expanduser().resolve()
        if folder.exists() and not folder.is_dir():
            raise DreamliftError(f"--folder {folder} is a file: give a folder for the app's jobs")
        self.lock = AppLock(folder)
        try:
            app = JobsApp(folder, max_upload_bytes=max_upload_bytes, token=token)
            self.recovered = app.queue.recover()  # jobs a dead app left running resume from their checkpoints
            super().__init__(type("Handler", (AppHandler,), {"app": app}), host, port, name="dreamlift-app")
        except BaseException:
            self.lock.release()
            raise
        self.app = app
        self.pool = WorkerPool(folder, workers)
        self._watching = threading.Event()
        self._watcher: threading.Thread | None = None

    def _watch(self) -> None:
        while not self._watching.wait(1.0):
            self.pool.check()

    def start_workers(self) -> None:
        self.pool.start()
        self._watcher = threading.Thread(target=self._watch, name="dreamlift-app-workers", daemon=True)
        self._watcher.start()

    def start(self) -> "AppServer":
        self.start_workers()
        return super().start()

    def close(self) -> None:
        self.app.closing.set()
        self._watching.set()
        if self._watcher:
            self._watcher.join(timeout=5)
        try:
            super().close()
        finally:
            self.pool.close()
            self.lock.release()
