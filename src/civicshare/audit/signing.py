"""The audit signing key: Ed25519, in keys_dir/audit-signing.key (0600), created on first use.

The public half is written beside it as audit-signing.pub (PEM). Keep a copy of the public key
away from the gateway: whoever can replace both the log and the key file could re-sign a
rewritten log, and an outside copy of the public key is what catches that."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from civicshare.audit.chain import utc_text
from civicshare.private import private_dir, private_file

PRIVATE_NAME = "audit-signing.key"
PUBLIC_NAME = "audit-signing.pub"
CHECKPOINT_PREFIX = "civicshare-audit-checkpoint-v1"

_keys_dir: Path | None = None


def use_keys_dir(path: Path | None) -> None:
    """Where the gateway's key lives (create_app and the CLI set it from the settings)."""
    global _keys_dir
    _keys_dir = Path(path) if path is not None else None


def keys_dir() -> Path:
    if _keys_dir is not None:
        return _keys_dir
    from civicshare.config import get_settings

    return get_settings().effective_keys_dir


def checkpoint_message(number: int, seq: int, record_hash: str, at: datetime) -> bytes:
    """What a checkpoint signs: its number, the last record's seq and hash, and when."""
    return f"{CHECKPOINT_PREFIX}\n{number}\n{seq}\n{record_hash}\n{utc_text(at)}".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_or_create_private_key(directory: Path | None = None) -> Ed25519PrivateKey:
    directory = directory or keys_dir()
    path = directory / PRIVATE_NAME
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    private_dir(directory)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: two processes starting at once must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_private_key(directory)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = private_file(directory / PUBLIC_NAME)
    public.write_text(public_pem(key.public_key()))
    return key


def load_public_key(path: Path | None = None) -> Ed25519PublicKey | None:
    """The public key from a PEM file (default keys_dir/audit-signing.pub, else derived from the
    private key there); None when there is neither."""
    if path is None:
        directory = keys_dir()
        path = directory / PUBLIC_NAME
        if not path.exists():
            private = directory / PRIVATE_NAME
            if private.exists():
                return load_or_create_private_key(directory).public_key()
            return None
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def sign(private_key: Ed25519PrivateKey, message: bytes) -> str:
    return private_key.sign(message).hex()


def signature_ok(public_key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True
