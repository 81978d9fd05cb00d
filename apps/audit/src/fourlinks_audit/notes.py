"""Checkpoints as C2SP signed notes: the kernel's (`fourlinks_kernel.notes`), where services that
verify a district's checkpoint (the province) read them too; named here as the audit tools always
have."""

from __future__ import annotations

from fourlinks_kernel.notes import (
    ED25519,
    SIGNATURE_PREFIX,
    Checkpoint,
    NoteError,
    SignerKey,
    VerifierKey,
    open_note,
    read_checkpoint,
    signed_checkpoint,
)

__all__ = [
    "ED25519",
    "SIGNATURE_PREFIX",
    "Checkpoint",
    "NoteError",
    "SignerKey",
    "VerifierKey",
    "open_note",
    "read_checkpoint",
    "signed_checkpoint",
]
