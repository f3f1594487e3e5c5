"""Where snapshots and staging live, sweeping staging that crashed ingests left, fsync."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

from civicshare.config import Settings
from civicshare.private import private_dir

# -- where things live --------------------------------------------------------------------


SNAPSHOTS_DIR = "snapshots"  # under the data directory
DATA_FILE = "data.parquet"
QUARANTINE_FILE = "quarantine.parquet"
MANIFEST_FILE = "manifest.json"


def snapshots_root(settings: Settings) -> Path:
    return settings.data_dir / SNAPSHOTS_DIR


def staging_root(settings: Settings) -> Path:
    return snapshots_root(settings) / ".tmp"


def new_staging_dir(settings: Settings) -> Path:
    root = private_dir(staging_root(settings))
    path = root / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_staging(settings: Settings) -> int:
    """Remove staging left by ingests that died (this host, process gone). Returns how many."""
    root = staging_root(settings)
    if not root.is_dir():
        return 0
    host = socket.gethostname()
    removed = 0
    for path in root.iterdir():
        parts = path.name.rsplit("-", 2)
        orphan = path.name.startswith("orphan-")
        dead = (
            len(parts) == 3
            and parts[0] == host
            and parts[1].isdigit()
            and not _alive(int(parts[1]))
        )
        if orphan or dead:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def fsync_tree(path: Path) -> None:
    for item in [*path.rglob("*"), path]:
        flags = os.O_RDONLY
        fd = os.open(item, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
