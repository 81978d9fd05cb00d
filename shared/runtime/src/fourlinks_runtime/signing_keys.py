"""The services' event signing keys on one machine: one key file per service under var/signing
(0700, files 0600) and the signers file of their public keys, made once, rotated on request."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fourlinks_kernel.signing import EventSigner, new_seed, write_signers


def ensure_signing_keys(var_dir: Path, services: Iterable[str]) -> Path:
    """Make each service's key if it has none and list every public key in var/signers.json; a
    log that existed before its events were signed is checked from its first signed event on."""
    fresh = not (var_dir / "nats").exists()
    folder = var_dir / "signing"
    folder.mkdir(mode=0o700, exist_ok=True)
    for service in services:
        path = folder / f"{service}.key"
        if not path.exists():
            _write_secret(path, new_seed())
    return _list_public_keys(var_dir, services, signed_from=1 if fresh else None)


def rotate_signing_key(var_dir: Path, service: str) -> EventSigner:
    """A new key for one service; the old public key stays listed, so its events still verify
    (the old private key is overwritten: nothing can sign with it any more)."""
    _write_secret(var_dir / "signing" / f"{service}.key", new_seed())
    _list_public_keys(var_dir, [service], signed_from=None)
    return _signer(var_dir, service)


def _list_public_keys(var_dir: Path, services: Iterable[str], *, signed_from: int | None) -> Path:
    signers = var_dir / "signers.json"
    known: dict[str, Any] = (
        json.loads(signers.read_text()) if signers.exists() else {"signed_from": signed_from}
    )
    entries = {entry["key_id"]: entry for entry in known.get("signers", [])}
    for service in services:
        signer = _signer(var_dir, service)
        entries.setdefault(signer.key_id, signer.public_entry())
    write_signers(signers, list(entries.values()), signed_from=known.get("signed_from"))
    return signers


def _signer(var_dir: Path, service: str) -> EventSigner:
    return EventSigner.from_seed(service, (var_dir / "signing" / f"{service}.key").read_text())


def _write_secret(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
    tmp.replace(path)
