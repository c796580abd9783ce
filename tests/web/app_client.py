"""A small client of the app's JSON API for the tests (plain http.client, like a script would use), and a finished
job made without running it."""

from __future__ import annotations

import http.client
import json
import shutil
import time
import uuid
from pathlib import Path


def finished_job(server, run: Path, prompt: str) -> str:
    """The id of a new done job of the app ``server`` whose run folder is a copy of ``run`` (no worker runs it)."""
    from dreamlift.jobs.spec import JobSpec
    from dreamlift.jobs.worker import run_folder
    from dreamlift.web.app import new_job_id

    queue = server.app.queue
    job_id = new_job_id(prompt)
    queue.submit(job_id, JobSpec(kind="text", prompt=prompt).to_dict())
    assert queue.claim(worker=1).id == job_id and queue.finish(job_id, worker=1, status="done")
    shutil.copytree(run, run_folder(server.app.folder, job_id))
    return job_id


class Client:
    """Requests to the app at ``host:port``; ``origin`` is sent as the Origin header when given."""

    def __init__(self, host: str, port: int, origin: str | None = None):
        self.host, self.port, self.origin = host, port, origin

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 60.0):
        """``(status, headers, body bytes)``."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            sent = {"Host": f"127.0.0.1:{self.port}", **({"Origin": self.origin} if self.origin else {}), **(headers or {})}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, value=None, headers: dict | None = None):
        """``(status, parsed JSON answer)``."""
        body = None if value is None else json.dumps(value).encode()
        status, _, data = self.request(method, path, body, {"Content-Type": "application/json", **(headers or {})})
        return status, json.loads(data)

    def upload(self, fields: dict, filename: str, data: bytes, headers: dict | None = None):
        """A multipart form with ``fields`` and the file ``image``: ``(status, parsed JSON answer)``."""
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        status, _, answer = self.request("POST", "/api/jobs", body, {"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})})
        return status, json.loads(answer)

    def job(self, job_id: str) -> dict:
        status, job = self.json("GET", f"/api/jobs/{job_id}")
        assert status == 200, job
        return job

    def wait(self, job_id: str, until, timeout: float = 240.0, poll: float = 0.1) -> dict:
        """Poll the job until ``until(job)`` holds; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if until(job):
                return job
            assert time.monotonic() < deadline, f"job {job_id} never reached the state: {job}"
            time.sleep(poll)

    def events(self, job_id: str, timeout: float = 240.0) -> list[tuple[str, dict]]:
        """Every server-sent event of the job's stream, until the server ends it."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request("GET", f"/api/jobs/{job_id}/events", headers={"Host": f"127.0.0.1:{self.port}"})
            response = connection.getresponse()
            assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
            events, name = [], None
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[len("event: "):]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[len("data: "):])))
            return events
        finally:
            connection.close()
