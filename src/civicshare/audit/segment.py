"""The first part of a SQLite audit chain, checked in a second process.

`verification.verify` runs this as `python -m civicshare.audit.segment PATH LAST BATCH` while it
walks the rest of the chain itself: on SQLite the store builds every record's canonical text in
its own VM (most of verify's time) and Python must hash it, so two processes on two cores take
about half the time of one. This process opens the store read-only, walks records seq 1 to LAST
with the same loop (`chain.walk`) and prints where it stopped as one line of JSON. It imports
nothing but the standard library and `audit.chain`, so it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from civicshare.audit import chain


def walk_first(path: str, last: int, batch: int) -> chain.Walked:
    """Records with seq ≤ `last`, in chain order, from the start of the chain."""
    connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        connection.execute("PRAGMA busy_timeout=5000")
        cursor = connection.execute(chain.verify_sql("sqlite", "seq <= ?"), (last,))
        return chain.walk(iter(lambda: cursor.fetchmany(batch), []))
    finally:
        connection.close()


def main(argv: list[str]) -> int:
    path, last, batch = argv[1], int(argv[2]), int(argv[3])
    walked = walk_first(path, last, batch)
    print(
        json.dumps(
            {
                "expected": walked.expected,
                "prev": walked.prev,
                "last_id": walked.last_id,
                "bad": walked.bad,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
