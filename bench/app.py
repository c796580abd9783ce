"""Time from submitting a job to its first preview in ``dreamlift app``, and the kill experiment's steps lost.

Starts the app on a fresh folder in this process (one worker), then, ``--repeats``
times: submits ``--prompt`` with default settings through the JSON API, follows
its server-sent events until the first ``preview`` event (the trainer writes one
every ``preview_every`` steps, 300 by default), records the seconds since the POST,
and cancels the job. The first repeat builds the toy prior's render cache unless it
is warm. Prints each time, the median, and the load average (the machine may be shared)::

    python bench/app.py --repeats 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def first_preview_seconds(host: str, port: int, prompt: str) -> tuple[float, int]:
    """Seconds from the POST to the first preview event, and that preview's step (the job is cancelled after)."""
    connection = http.client.HTTPConnection(host, port, timeout=600)
    started = time.perf_counter()
    connection.request("POST", "/api/jobs", body=json.dumps({"prompt": prompt}), headers={"Content-Type": "application/json"})
    job_id = json.loads(connection.getresponse().read())["id"]
    connection.close()
    stream = http.client.HTTPConnection(host, port, timeout=600)
    stream.request("GET", f"/api/jobs/{job_id}/events")
    response = stream.getresponse()
    name, step, seconds = None, None, None
    for raw in response:
        line = raw.decode().strip()
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name == "preview":
            seconds, step = time.perf_counter() - started, json.loads(line[6:])["step"]
            break
        elif line.startswith("data: ") and name == "end":
            raise SystemExit(f"job {job_id} ended before its first preview: {line[6:][:300]}")
    stream.close()
    cancel = http.client.HTTPConnection(host, port, timeout=60)
    cancel.request("DELETE", f"/api/jobs/{job_id}")
    cancel.getresponse().read()
    cancel.close()
    return seconds, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt", default="a red cube")
    parser.add_argument("--folder", type=Path, default=None, help="app folder (default: a temporary one)")
    args = parser.parse_args()
    from dreamlift.web.app import AppServer

    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench-app-"))
    times = []
    with AppServer(folder, workers=1) as server:
        host, port = server.address
        for i in range(args.repeats):
            load = os.getloadavg()[0]
            seconds, step = first_preview_seconds(host, port, args.prompt)
            times.append(seconds)
            print(f"repeat {i + 1}: first preview (step {step}) {seconds:.1f} s after the submit; load average before {load:.1f}", flush=True)
            while any(job.status == "running" for job in server.app.queue.jobs()):
                time.sleep(0.2)  # the cancelled run stops at its next step
    print(f"median {statistics.median(times):.1f} s over {len(times)} (load average now {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
