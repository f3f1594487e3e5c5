"""An encrypted spool for uploads: bytes on disk under a key held only in memory."""

from __future__ import annotations

import io
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from civicshare.config import Settings
from civicshare.dataplane.ingest.layout import new_staging_dir

# -- an encrypted spool for uploads --------------------------------------------------------


class EncryptedSpool(io.RawIOBase):
    """A temporary file whose bytes on disk are AES-256-CTR under a key held only in memory.

    Uploads are written here before validation so no plaintext identifier touches the disk;
    after a crash the file is unreadable noise and is swept with the staging directory.
    Readable and seekable (CTR allows random access), so Parquet and XLSX work from it too."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._key = os.urandom(32)
        self._nonce = os.urandom(16)
        self._file = open(path, "w+b")  # noqa: SIM115
        os.chmod(path, 0o600)
        self._size = 0
        self._pos = 0

    @classmethod
    def in_staging(cls, settings: Settings) -> EncryptedSpool:
        """A spool for an upload, in a staging directory of its own."""
        return cls(new_staging_dir(settings) / "upload")

    def discard(self) -> None:
        """Close the spool and remove it with its staging directory."""
        self.close()  # closing removes the file
        self.path.parent.rmdir()

    def _cipher(self, offset: int):
        block, skip = divmod(offset, 16)
        counter = (int.from_bytes(self._nonce, "big") + block) % (1 << 128)
        ctx = Cipher(algorithms.AES(self._key), modes.CTR(counter.to_bytes(16, "big"))).encryptor()
        if skip:
            ctx.update(b"\x00" * skip)
        return ctx

    def append(self, chunk: bytes) -> None:
        self._file.seek(self._size)
        self._file.write(self._cipher(self._size).update(chunk))
        self._size += len(chunk)

    def finish(self) -> None:
        self._file.flush()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), max(0, self._size - self._pos))
        if n == 0:
            return 0
        self._file.seek(self._pos)
        data = self._cipher(self._pos).update(self._file.read(n))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self.path.unlink(missing_ok=True)
        super().close()
