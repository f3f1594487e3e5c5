"""Signed webhooks, both ways: what the gateway signs its notifications with, and what a
partner runs to check them. Standard library only, so a partner can copy this one file.

A delivery is an HTTP POST of a JSON body with two headers:

    Civicshare-Delivery-Id: 6f1c0c8e-...          (stable across retries of one notification)
    Civicshare-Signature: t=1764777600,v1=k_3f9a1c2e:9b1d...,v1=k_77aa0b14:04e2...

`t` is the Unix time of sending; each `v1` is `<key id>:<hex HMAC-SHA256>` under one active key
(two during a key rotation) over the bytes `<delivery id>.<t>.<body>`. A receiver accepts the
request when one signature made with a key it holds matches (compared in constant time), `t` is
within its replay window of its own clock, and it has not seen the delivery id before.

A registration system posting events to the gateway signs the same way with its inbound key.

    receiver = Receiver({"k_3f9a1c2e": b"...secret..."}, window_seconds=300)
    try:
        payload = receiver.verify(request_headers, request_body)
    except Refused as refused:
        ...  # answer 401 (or 200 without acting again when refused.reason == "replay")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "Civicshare-Signature"
DELIVERY_HEADER = "Civicshare-Delivery-Id"
DEFAULT_WINDOW_SECONDS = 300


class Refused(Exception):
    """The request is not to be acted on. `reason`: malformed, timestamp, signature or replay."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _secret(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def signature(secret: bytes | str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<delivery id>.<timestamp>.<body>` under `secret`."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    return hmac.new(_secret(secret), message, hashlib.sha256).hexdigest()


def sign(
    body: bytes,
    delivery_id: str,
    keys: Iterable[tuple[str, bytes | str]],
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers for one request: a signature under every (key id, secret) given."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    parts = [f"t={t}"] + [
        f"v1={kid}:{signature(secret, delivery_id, t, body)}" for kid, secret in keys
    ]
    return {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: ",".join(parts),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def parse_signature(header: str) -> tuple[int, list[tuple[str, str]]]:
    """(timestamp, [(key id, hex)]) from a Civicshare-Signature header."""
    timestamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and ":" in value:
            kid, _, digest = value.partition(":")
            signatures.append((kid, digest))
    if timestamp is None or not signatures:
        raise Refused("malformed", f"{SIGNATURE_HEADER} needs t=<unix time> and v1=<key id>:<hex>")
    return timestamp, signatures


class Receiver:
    """Checks signed requests against the keys it holds (key id -> secret), refuses those
    outside the replay window or already seen. Thread-safe."""

    def __init__(
        self,
        keys: Mapping[str, bytes | str],
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        self.keys = {kid: _secret(secret) for kid, secret in keys.items()}
        self.window = window_seconds
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> str:
        """The delivery id of a correctly signed, timely request (Refused otherwise); it does not
        mark the id seen (`verify` does)."""
        now = time.time() if now is None else now
        delivery_id = _header(headers, DELIVERY_HEADER)
        header = _header(headers, SIGNATURE_HEADER)
        if not delivery_id or not header:
            raise Refused("malformed", f"{DELIVERY_HEADER} and {SIGNATURE_HEADER} are required")
        timestamp, signatures = parse_signature(header)
        if abs(now - timestamp) > self.window:
            raise Refused(
                "timestamp",
                f"the signature's time is {int(now - timestamp)} s from ours, outside the "
                f"{self.window} s replay window",
            )
        known = [(kid, digest) for kid, digest in signatures if kid in self.keys]
        if not known:
            raise Refused("signature", "signed with no key this receiver holds")
        for kid, digest in known:
            expected = signature(self.keys[kid], delivery_id, timestamp, body)
            if hmac.compare_digest(expected, digest):
                return delivery_id
        raise Refused("signature", "the signature does not match the body")

    def verify(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> Any:
        """The JSON body of a correctly signed, timely request not seen before; marks it seen."""
        now = time.time() if now is None else now
        delivery_id = self.check(headers, body, now)
        with self._lock:
            # Ids older than twice the window can be forgotten: their timestamps are refused.
            if len(self._seen) > 10_000:
                horizon = now - 2 * self.window
                self._seen = {k: v for k, v in self._seen.items() if v >= horizon}
            if delivery_id in self._seen:
                raise Refused("replay", f"delivery {delivery_id} was received before")
            self._seen[delivery_id] = now
        try:
            return json.loads(body)
        except ValueError:
            raise Refused("malformed", "the body is not JSON") from None


class ReceiverServer:
    """A small webhook receiver on 127.0.0.1 (tests, the benchmark, a partner trying it out):
    verifies each POST with a `Receiver` and keeps every payload it applied, once each.

    Answers 200 when applied, 200 with {"status": "duplicate"} to a replay of a delivery it
    already applied (not applied again, so the sender stops retrying), 401 when refused."""

    def __init__(self, keys: Mapping[str, bytes | str], port: int = 0, **options) -> None:
        self.receiver = Receiver(keys, **options)
        self.applied: list[Any] = []
        self.refused: list[str] = []  # the reasons, in order
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self) -> ReceiverServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = owner.receiver.verify(dict(self.headers.items()), body)
                except Refused as refused:
                    with owner._lock:
                        owner.refused.append(refused.reason)
                    if refused.reason == "replay":
                        return self._answer(200, {"status": "duplicate"})
                    return self._answer(401, {"status": "refused", "reason": refused.reason})
                with owner._lock:
                    owner.applied.append(payload)
                return self._answer(200, {"status": "applied"})

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # quiet
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
