"""Where snapshot versions live: the data directory (the default) or S3-compatible object
storage. One seam: what a version's files are called (`file`), opening, writing and listing
them, installing a staged version, and removing one. Everything else in the data plane reads
and writes snapshot files only through it (docs/decisions/0037-snapshots-on-object-storage.md).

A version is staged on local disk either way (`ingest.layout.new_staging_dir`): Parquet and
sealed columns are streamed there, then `install` publishes the directory.

* `LocalStore`: `data_dir/snapshots/<partner>/<dataset>/v<N>/`, installed by one rename.
* `S3Store`: `s3://bucket/prefix/snapshots/<partner>/<dataset>/v<N>/`. S3 has no rename, so a
  version's files are uploaded under a fresh attempt key (`v<N>/<attempt>/data.parquet`, ...)
  and published by writing `v<N>/manifest.json` last: the snapshot's manifest with a
  `published` entry naming the attempt. A reader resolves a version through its manifest, so
  it sees either a whole version or none; an upload that dies leaves only unpublished
  objects under an attempt no manifest names.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from civicshare.config import Settings
from civicshare.dataplane.ingest.layout import fsync_dir
from civicshare.private import private_dir

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PUBLISHED = "published"  # the manifest's entry naming the attempt (object storage only)


class StoreError(OSError):
    """The snapshot store cannot do what was asked (said in plain words)."""


class SnapshotStore:
    """The seam. A `version` is the path of a version relative to the data root
    (`snapshots/<partner>/<dataset>/v<N>`, what `DatasetSnapshot.path` holds); a `location`
    is what `file` gives: a string `open`, `exists` and `scan` accept."""

    def file(self, version: str | Path, name: str) -> str | None:
        """The location of `name` (`data.parquet`, `sealed/0.bin`, `derived`, ...) inside a
        version. Object storage: None when the version has no manifest (never published, or
        removed); the data directory gives the path whether or not it exists."""
        raise NotImplementedError

    def open(self, location: str) -> BinaryIO:
        raise NotImplementedError

    def reachable(self) -> str | None:
        """None when the store answers; else why not (for /readyz: no identifiers)."""
        return None  # the data directory: /readyz checks it on its own

    def exists(self, location: str) -> bool:
        raise NotImplementedError

    def write_table(
        self, location: str, table: pa.Table, row_group_size: int | None = None
    ) -> None:
        """Write a Parquet file whole or not at all (a reader never sees part of it)."""
        raise NotImplementedError

    def listing(self, version: str | Path) -> dict[str, int]:
        """Every object or file left under a version (published or not): location -> bytes."""
        raise NotImplementedError

    def install(self, staged: Path, version: str | Path) -> None:
        """Publish a staged local directory as `version` (replacing anything an uncommitted
        earlier attempt left there); the staged directory is gone afterwards, either way."""
        raise NotImplementedError

    def remove(self, version: str | Path) -> bool:
        """Remove a version: unpublished first, so a crash never leaves half of one visible.
        False when nothing was there."""
        raise NotImplementedError

    def scan(self, connection: Any, locations: list[str]) -> Any:
        """A DuckDB relation over Parquet files of this store (projection and filters pushed
        down to the files)."""
        raise NotImplementedError

    def read_manifest(self, version: str | Path) -> dict[str, Any] | None:
        location = self.file(version, MANIFEST)
        if location is None or not self.exists(location):
            return None
        with self.open(location) as handle:
            manifest = json.loads(handle.read())
        manifest.pop(PUBLISHED, None)
        return manifest

    def parquet_rows(self, location: str) -> int:
        with self.open(location) as handle:
            return pq.ParquetFile(handle).metadata.num_rows


class LocalStore(SnapshotStore):
    """Versions as directories under `root` (the data directory). Without a root, locations
    are plain paths (a `SnapshotView` built by hand)."""

    def __init__(self, root: Path | None = None, staging: Path | None = None) -> None:
        self.root = root
        self.staging = staging

    def file(self, version: str | Path, name: str) -> str:
        return str(self._directory(version) / name)

    def _directory(self, version: str | Path) -> Path:
        if self.root is None:
            raise StoreError("this snapshot store has no root directory")
        return self.root / version

    def open(self, location: str) -> BinaryIO:
        return open(location, "rb")  # noqa: SIM115

    def exists(self, location: str) -> bool:
        return Path(location).is_file()

    def write_table(
        self, location: str, table: pa.Table, row_group_size: int | None = None
    ) -> None:
        path = Path(location)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            pq.write_table(table, partial, compression="zstd", row_group_size=row_group_size)
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)

    def scan(self, connection: Any, locations: list[str]) -> Any:
        return connection.read_parquet(list(locations))

    def listing(self, version: str | Path) -> dict[str, int]:
        directory = self._directory(version)
        if not directory.is_dir():
            return {}
        return {str(p): p.stat().st_size for p in directory.rglob("*") if p.is_file()}

    def install(self, staged: Path, version: str | Path) -> None:
        target = self._directory(version)
        try:
            private_dir(target.parent)
            if target.exists():
                # Left by a run that renamed but never committed: it was never a snapshot.
                self.remove(version)
            staged.rename(target)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        fsync_dir(target.parent)

    def remove(self, version: str | Path) -> bool:
        """Renamed into staging first, so a crash leaves an orphan that
        `ingest.sweep_staging` removes, never half a snapshot in place."""
        directory = self._directory(version)
        if not directory.exists():
            return False
        if self.staging is None:
            raise StoreError("this snapshot store has no staging directory")
        aside = private_dir(self.staging) / f"orphan-purge-{uuid.uuid4().hex[:12]}"
        directory.rename(aside)
        fsync_dir(directory.parent)
        shutil.rmtree(aside, ignore_errors=True)
        return True


class S3Store(SnapshotStore):
    """Versions on S3-compatible object storage (AWS S3, MinIO, Ceph, ...). Reads go through
    pyarrow's own S3 client (C++: a Parquet scan is a handful of ranged GETs); uploads,
    listings and deletions through s3fs."""

    def __init__(self, url: str, filesystem: Any, reader: Any) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StoreError(f"snapshot_store {url!r} is not s3://bucket/prefix")
        self.url = url
        self.base = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        self.fs = filesystem
        self.reader = reader  # pyarrow.fs.S3FileSystem
        # version -> its published attempt. A committed version is never published again
        # (a number is reused only when its governance row was never committed), so what a
        # reader resolved once stays true until `remove` or `install` of that version here.
        self._attempts: dict[str, str] = {}
        self._lock = threading.Lock()

    def _key(self, version: str | Path, *parts: str) -> str:
        return "/".join([self.base, Path(version).as_posix(), *parts])

    def _attempt(self, version: str | Path) -> str | None:
        name = Path(version).as_posix()
        attempt = self._attempts.get(name)
        if attempt is None:
            try:
                manifest = json.loads(self.fs.cat_file(self._key(version, MANIFEST)))
            except FileNotFoundError:
                return None
            attempt = manifest[PUBLISHED]["attempt"]
            with self._lock:
                self._attempts[name] = attempt
        return attempt

    def file(self, version: str | Path, name: str) -> str | None:
        if name == MANIFEST:
            return "s3://" + self._key(version, MANIFEST)
        attempt = self._attempt(version)
        if attempt is None:
            return None
        return "s3://" + self._key(version, attempt, name)

    def open(self, location: str) -> BinaryIO:
        return self.reader.open_input_file(location.removeprefix("s3://"))

    def reachable(self) -> str | None:
        from pyarrow import fs

        bucket = self.base.split("/", 1)[0]
        try:
            info = self.reader.get_file_info(bucket)
        except OSError as exc:
            return type(exc).__name__
        return None if info.type == fs.FileType.Directory else "no such bucket"

    def exists(self, location: str) -> bool:
        from pyarrow import fs

        info = self.reader.get_file_info(location.removeprefix("s3://"))
        return info.type == fs.FileType.File

    def write_table(
        self, location: str, table: pa.Table, row_group_size: int | None = None
    ) -> None:
        # Written whole in memory, then one PUT: the object appears whole or not at all (a
        # streamed upload that failed half-way would be completed with what it had).
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", row_group_size=row_group_size)
        self.fs.pipe_file(location, sink.getvalue().to_pybytes())

    def scan(self, connection: Any, locations: list[str]) -> Any:
        import pyarrow.dataset as ds

        keys = [location.removeprefix("s3://") for location in locations]
        # Each request costs a round trip: read a row group's wanted column chunks in one
        # ranged GET (gaps up to 8 MiB read through rather than asked for apart).
        options = ds.ParquetFragmentScanOptions(
            pre_buffer=True,
            cache_options=pa.CacheOptions(
                hole_size_limit=8 << 20, range_size_limit=64 << 20, lazy=False
            ),
        )
        file_format = ds.ParquetFileFormat(default_fragment_scan_options=options)
        return connection.from_arrow(ds.dataset(keys, filesystem=self.reader, format=file_format))

    def listing(self, version: str | Path) -> dict[str, int]:
        found = self.fs.find(self._key(version), detail=True)
        return {"s3://" + key: int(info.get("size") or 0) for key, info in found.items()}

    def install(self, staged: Path, version: str | Path) -> None:
        attempt = uuid.uuid4().hex
        try:
            manifest = json.loads((staged / MANIFEST).read_text())
            objects = {}
            for path in sorted(p for p in staged.rglob("*") if p.is_file()):
                name = path.relative_to(staged).as_posix()
                if name == MANIFEST:
                    continue
                self.fs.put_file(str(path), self._key(version, attempt, name))
                objects[name] = path.stat().st_size
            manifest[PUBLISHED] = {"attempt": attempt, "objects": objects}
            # Published: the one PUT that makes the version visible, last.
            self.fs.pipe_file(self._key(version, MANIFEST), json.dumps(manifest).encode())
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm(self._key(version, attempt), recursive=True)
            raise
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        with self._lock:
            self._attempts[Path(version).as_posix()] = attempt
        # Attempts an earlier, uncommitted run published or left at this number: unreachable
        # now, so a failure to remove them fails nothing (the next install here tries again).
        try:
            for key in self.fs.ls(self._key(version), detail=False):
                if key.rsplit("/", 1)[-1] not in (attempt, MANIFEST):
                    self.fs.rm(key, recursive=True)
        except Exception:  # noqa: BLE001
            log.warning("could not remove earlier attempts at %s", version, exc_info=True)

    def remove(self, version: str | Path) -> bool:
        with self._lock:
            self._attempts.pop(Path(version).as_posix(), None)
        keys = self.fs.find(self._key(version))
        if not keys:
            return False
        manifest = self._key(version, MANIFEST)
        if manifest in keys:
            self.fs.rm_file(manifest)  # unpublished first
        rest = [k for k in keys if k != manifest]
        if rest:
            self.fs.rm(rest)
        return True


# -- the store in force ----------------------------------------------------------------------

_stores: dict[tuple, S3Store] = {}
_stores_lock = threading.Lock()


def snapshot_store(settings: Settings) -> SnapshotStore:
    """The store `settings` name: `snapshot_store` empty (the default) is the data directory;
    `s3://bucket/prefix` is object storage at `s3_endpoint_url` (AWS when empty)."""
    url = settings.snapshot_store.strip()
    if not url:
        from civicshare.dataplane.ingest.layout import snapshots_root

        return LocalStore(settings.data_dir, snapshots_root(settings) / ".tmp")
    secret = settings.s3_secret_access_key.get_secret_value()
    key = (url, settings.s3_endpoint_url, settings.s3_region, settings.s3_access_key_id, secret)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = S3Store(url, _s3_filesystem(settings), _s3_reader(settings))
    return store


def _s3_filesystem(settings: Settings):
    import s3fs

    options: dict[str, Any] = {
        # Another process may publish or remove a version at any time: never answer from a
        # listing cached in this one.
        "use_listings_cache": False,
        "skip_instance_cache": True,
        "client_kwargs": {"region_name": settings.s3_region} if settings.s3_region else {},
    }
    if settings.s3_endpoint_url:
        options["endpoint_url"] = settings.s3_endpoint_url
    if settings.s3_access_key_id:
        options["key"] = settings.s3_access_key_id
        options["secret"] = settings.s3_secret_access_key.get_secret_value()
    return s3fs.S3FileSystem(**options)


def _s3_reader(settings: Settings):
    from pyarrow import fs

    options: dict[str, Any] = {"region": settings.s3_region or None}
    if settings.s3_endpoint_url:
        endpoint = urlparse(settings.s3_endpoint_url)
        options["endpoint_override"] = endpoint.netloc or endpoint.path
        options["scheme"] = endpoint.scheme or "https"
    if settings.s3_access_key_id:
        options["access_key"] = settings.s3_access_key_id
        options["secret_key"] = settings.s3_secret_access_key.get_secret_value()
    return fs.S3FileSystem(**options)
