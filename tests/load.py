"""A gateway served in its own process, and concurrent API clients against it.

Shared by the concurrency tests and `benchmarks/concurrency.py`. The server runs as
`civicshare serve` would (uvicorn, one process), so a stalled event loop shows as requests
that never answer, and the clients' threads cannot hide or cause it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

import civicshare
from civicshare import demo
from civicshare.config import Settings
from tests.browser import free_port
from tests.conftest import api_token, demo_store

PULLER = "analyst@worcestershire-cc.example"
PUSHER = "provider@worcs-acute.example"
PROVIDER, DATASET = "worcs-acute", "acute-admissions"
PULL_PATH = f"/api/share/{PROVIDER}/{DATASET}"
PUSH_PATH = f"/api/datasets/{PROVIDER}/{DATASET}/snapshots"
PURPOSE = "discharge-planning"  # one of ISA-0001's permitted purposes


@dataclass(frozen=True)
class Store:
    settings: Settings
    pull_token: str
    push_token: str
    push_file: Path


def prepare_store(settings: Settings, *, people: int = 300, seed: int = 5) -> Store:
    """The demo partnership on a small synthetic county, with a token for each kind of client."""
    demo_store(settings, people=people, seed=seed)
    push_file = demo.county_dir(settings) / "datasets" / f"{DATASET}.csv"
    return Store(
        settings,
        api_token(settings, PULLER, ["share:read"], "load"),
        api_token(settings, PUSHER, ["datasets:write"], "load"),
        push_file,
    )


@contextmanager
def serve(
    settings: Settings, extra_env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[str]:
    """`civicshare serve [--workers N]` in a child process on a free port; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "CIVICSHARE_DATA_DIR": str(settings.data_dir),
        "CIVICSHARE_DATABASE_URL": settings.effective_database_url,
        "CIVICSHARE_RETENTION_INTERVAL_MINUTES": "0",
        # The child serves the same code as this process imported, wherever that lives.
        "PYTHONPATH": os.pathsep.join(
            [str(Path(civicshare.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
        **(extra_env or {}),
    }
    command = [sys.executable, "-c", "from civicshare.cli import app; app()", "serve"]
    command += ["--port", str(port), "--workers", str(workers)]
    log = settings.data_dir.parent / f"serve-{port}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded machine imports slowly
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start within 180 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Outcome:
    kind: str  # "pull", "push" or "health"
    status: int  # 0: no answer within the timeout (or the connection failed)
    seconds: float
    detail: str = ""


@dataclass
class Load:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, kind: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == kind]

    def failures(self) -> list[Outcome]:
        """No answer at all, or a server error."""
        return [o for o in self.outcomes if o.status == 0 or o.status >= 500]

    def count(self, kind: str, status: int) -> int:
        return sum(1 for o in self.of(kind) if o.status == status)

    def p95(self, kind: str) -> float:
        times = sorted(o.seconds for o in self.of(kind))
        return times[min(len(times) - 1, int(0.95 * len(times)))] if times else 0.0

    def summary(self, kinds=("pull", "push", "health")) -> dict:
        return {
            "requests": len(self.outcomes),
            "requests_per_s": round(len(self.outcomes) / self.seconds, 1) if self.seconds else 0,
            "server_errors": sum(1 for o in self.outcomes if o.status >= 500),
            "no_answer": sum(1 for o in self.outcomes if o.status == 0),
            **{f"{kind}_p95_ms": round(self.p95(kind) * 1000, 1) for kind in kinds},
            **{f"{kind}_count": len(self.of(kind)) for kind in kinds},
        }


def run_load(
    url: str,
    store: Store,
    *,
    seconds: float,
    pullers: int = 8,
    pushers: int = 2,
    timeout: float = 30.0,
    rounds: int | None = None,
) -> Load:
    """`pullers` clients pulling and `pushers` pushing with one token each kind, and a probe
    of /healthz twice a second, for `seconds` (or `rounds` requests per client).

    Every request gets `timeout` seconds to answer; one that does not counts as status 0."""
    load = Load()
    lock = threading.Lock()
    stop = threading.Event()
    body = store.push_file.read_bytes()

    def note(kind: str, started: float, status: int, detail: str = "") -> None:
        with lock:
            load.outcomes.append(Outcome(kind, status, time.perf_counter() - started, detail))

    def client(kind: str) -> None:
        token = store.pull_token if kind == "pull" else store.push_token
        headers = {"Authorization": f"Bearer {token}"}
        done = 0
        with httpx.Client(base_url=url, timeout=timeout, headers=headers) as http:
            # every client asks at least once, however late its thread starts on a busy machine
            while done == 0 or (not stop.is_set() and (rounds is None or done < rounds)):
                started = time.perf_counter()
                try:
                    if kind == "pull":
                        response = http.get(PULL_PATH, params={"purpose": PURPOSE})
                    else:
                        response = http.put(
                            PUSH_PATH, params={"filename": store.push_file.name}, content=body
                        )
                    note(kind, started, response.status_code, response.text[:300])
                except httpx.HTTPError as error:
                    note(kind, started, 0, f"{type(error).__name__}: {error}")
                done += 1

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=timeout) as http:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    note("health", started, http.get("/healthz").status_code)
                except httpx.HTTPError as error:
                    note("health", started, 0, f"{type(error).__name__}: {error}")
                stop.wait(0.5)

    workers = [threading.Thread(target=client, args=("pull",)) for _ in range(pullers)]
    workers += [threading.Thread(target=client, args=("push",)) for _ in range(pushers)]
    prober = threading.Thread(target=probe)
    started = time.perf_counter()
    for thread in [*workers, prober]:
        thread.start()
    if rounds is None:
        stop.wait(seconds)
        stop.set()
    for thread in workers:
        thread.join()
    load.seconds = time.perf_counter() - started
    stop.set()
    prober.join()
    return load
