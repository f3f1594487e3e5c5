"""The request mix of benchmarks/load.py, for locust (`locust -f benchmarks/locustfile.py`).

Analysts pull the acute trust's admissions under the discharge agreement (every row decided,
executed, audited and receipted) and read who they are; residents read the public register.
The token comes from the environment (CIVICSHARE_LOAD_PULL_TOKEN). `Floor`, run alone by the
benchmark (`locust ... Floor`), asks only /healthz: the server with no governance work at all."""

from __future__ import annotations

import os

from locust import HttpUser, constant, task

PULL_PATH = "/api/share/worcs-acute/acute-admissions"
PURPOSE = "discharge-planning"


class Analyst(HttpUser):
    weight = 3
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['CIVICSHARE_LOAD_PULL_TOKEN']}"

    @task(4)
    def pull(self) -> None:
        self.client.get(PULL_PATH, params={"purpose": PURPOSE}, name="GET /api/share/{p}/{d}")

    @task(1)
    def me(self) -> None:
        self.client.get("/api/me")


class Resident(HttpUser):
    weight = 1
    wait_time = constant(0)

    @task
    def register(self) -> None:
        self.client.get("/register.json")


class Floor(HttpUser):
    weight = 1
    wait_time = constant(0)

    @task
    def health(self) -> None:
        self.client.get("/healthz")
