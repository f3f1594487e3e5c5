"""The gateway's keys, as files in `Settings.effective_keys_dir` (a 0700 directory).

* `kek.key` — the key-encryption key: 32 random bytes. It wraps each snapshot's data key
  (envelope encryption); it never encrypts data itself.
* `pseudonymisation-v<N>.key` — 32 random bytes each. Base tokens are
  HMAC-SHA256(key vN, normalised value). New snapshots use the highest version; old snapshots
  record the version they used and stay readable. `civicshare keys rotate --pseudonymisation`.
* `agreement-master.key` — 32 random bytes from which each agreement's token key is derived
  (HKDF-SHA256, info = the agreement reference), so two recipients' extracts do not join.

Every file is created on first use with O_EXCL and mode 0600; a file that exists is never
overwritten. Losing a file is described in docs/keys.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from civicshare.private import private_dir

KEY_BYTES = 32
KEK_FILE = "kek.key"
AGREEMENT_MASTER_FILE = "agreement-master.key"
PSEUDONYMISATION_PATTERN = re.compile(r"^pseudonymisation-v(\d+)\.key$")


class KeyError_(Exception):
    """A key file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class KeyInfo:
    name: str
    path: Path
    fingerprint: str  # first 16 hex digits of SHA-256 of the key: safe to show and log
    created_at: datetime
    mode: str


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"civicshare key fingerprint\x00" + key).hexdigest()[:16]


class KeyStore:
    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir)
        self._cache: dict[str, bytes] = {}

    # -- files -------------------------------------------------------------------------

    def _ensure_dir(self) -> None:
        private_dir(self.dir)

    def _create(self, name: str) -> bytes:
        """Write a new random key; O_EXCL so two processes never both create it."""
        self._ensure_dir()
        key = os.urandom(KEY_BYTES)
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return key

    def _read(self, name: str) -> bytes:
        if name in self._cache:
            return self._cache[name]
        path = self.dir / name
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            raise KeyError_(f"the key file {path} is missing") from None
        if len(key) != KEY_BYTES:
            raise KeyError_(f"the key file {path} is not {KEY_BYTES} bytes")
        self._cache[name] = key
        return key

    def _get_or_create(self, name: str) -> bytes:
        try:
            return self._read(name)
        except KeyError_:
            if (self.dir / name).exists():
                raise
        with contextlib.suppress(FileExistsError):  # another process made it a moment ago
            self._cache[name] = self._create(name)
        return self._read(name)

    # -- the keys ----------------------------------------------------------------------

    def kek(self) -> bytes:
        return self._get_or_create(KEK_FILE)

    def agreement_master(self) -> bytes:
        return self._get_or_create(AGREEMENT_MASTER_FILE)

    def pseudonymisation_versions(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        versions = []
        for path in self.dir.iterdir():
            match = PSEUDONYMISATION_PATTERN.match(path.name)
            if match:
                versions.append(int(match.group(1)))
        return sorted(versions)

    def current_pseudonymisation_version(self) -> int:
        """The version new snapshots use; v1 is created on first use."""
        versions = self.pseudonymisation_versions()
        if not versions:
            self._get_or_create("pseudonymisation-v1.key")
            return 1
        return versions[-1]

    def pseudonymisation_key(self, version: int) -> bytes:
        if version == 1 and not self.pseudonymisation_versions():
            self.current_pseudonymisation_version()
        return self._read(f"pseudonymisation-v{version}.key")

    def rotate_pseudonymisation(self) -> int:
        """Create version N+1; snapshots ingested from now on use it."""
        version = self.current_pseudonymisation_version() + 1
        self._create(f"pseudonymisation-v{version}.key")
        return version

    def status(self) -> list[KeyInfo]:
        self.kek()
        self.agreement_master()
        self.current_pseudonymisation_version()
        names = [KEK_FILE, AGREEMENT_MASTER_FILE] + [
            f"pseudonymisation-v{v}.key" for v in self.pseudonymisation_versions()
        ]
        out = []
        for name in names:
            path = self.dir / name
            stat = path.stat()
            out.append(
                KeyInfo(
                    name=name,
                    path=path,
                    fingerprint=fingerprint(self._read(name)),
                    created_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                    mode=oct(stat.st_mode & 0o777),
                )
            )
        return out


_stores: dict[Path, KeyStore] = {}


def store_for(keys_dir: Path) -> KeyStore:
    """One KeyStore per directory per process (keys are cached after the first read)."""
    keys_dir = Path(keys_dir).resolve()
    if keys_dir not in _stores:
        _stores[keys_dir] = KeyStore(keys_dir)
    return _stores[keys_dir]
