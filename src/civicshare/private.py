"""Private files: the gateway's store, keys, snapshots and staging are files 0600 in
directories 0700, made so when they are created (never readable by other users, even for a
moment) and tightened when found looser (a store created before this rule)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents 0700 (mkdir -p would make the parents with the
    umask's mode); an existing `path` is set to 0700. Returns `path`."""
    path = Path(path)
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIR_MODE)
    set_mode(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it does not exist, else set it to 0600."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        set_mode(path, FILE_MODE)
    else:
        os.close(fd)
    return path


def tighten_tree(root: Path) -> None:
    """Every directory under `root` (itself included) 0700, every file 0600."""
    root = Path(root)
    set_mode(root, DIR_MODE)
    for directory, subdirs, files in os.walk(root):
        for name in subdirs:
            set_mode(Path(directory) / name, DIR_MODE)
        for name in files:
            set_mode(Path(directory) / name, FILE_MODE)


def set_mode(path: Path, mode: int) -> None:
    """Set `path` to `mode` if it exists. A file owned by another account (a shared mount) is
    left as it is: the gateway's own files are what this protects."""
    with contextlib.suppress(PermissionError, FileNotFoundError):
        path.chmod(mode)
