"""The person index of `civicshare demo`."""

from __future__ import annotations

import time

from civicshare.config import Settings
from civicshare.linkage.person_index.run import run


def index_demo(settings: Settings, engine, console) -> None:
    """`civicshare demo`: build the person index over the demo datasets (once; a later start
    finds it up to date)."""
    from civicshare import db

    started = time.monotonic()
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        outcome = run(session, settings)
    if outcome.run is not None:
        console.print(f"Person index: {outcome.message} ({time.monotonic() - started:.0f} s)")
