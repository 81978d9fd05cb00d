"""Configuration from environment variables, all prefixed `FOURLINKS_`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fourlinks_contracts.assignments import DEFAULT_DEADLINE_DAYS, DEFAULT_REMINDER_FRACTION
from fourlinks_contracts.feedback import (
    DEFAULT_CALLBACK_ANSWER_HOURS,
    DEFAULT_CALLBACK_DELAY_HOURS,
    DEFAULT_FOLLOW_UP_DAYS,
)
from fourlinks_kernel.crypto import parse_master_key
from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_kernel.provisioning import REVOKED_BUCKET, REVOKED_HOURS, SESSIONS_BUCKET
from fourlinks_runtime.upstate import read_state


class MissingSecret(ValueError):
    """A secret the process needs is set nowhere."""


class Settings(BaseSettings):
    """Every knob of a Four Links process; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="FOURLINKS_",
        extra="ignore",
        # Secrets may also come as files (Docker or Kubernetes secrets): <dir>/fourlinks_nats_password ...
        secrets_dir=os.environ.get("FOURLINKS_SECRETS_DIR"),
    )

    var_dir: Path = Field(default=Path("var"), description="embedded data: NATS store, SQLite files, keys")
    nats_url: str = Field(default="nats://127.0.0.1:4222", description="comma-separated NATS server URLs")
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_password_file: Path | None = Field(default=None, description="... the password from a file")
    nats_creds_file: Path | None = Field(default=None, description="NATS .creds file (JWT + nkey seed)")
    nats_tls_ca_file: Path | None = None
    nats_tls_cert_file: Path | None = None
    nats_tls_key_file: Path | None = None
    stream: str = "FOURLINKS_EVENTS"
    subject_prefix: str = "fourlinks"
    key_bucket: str = "FOURLINKS_KEYS"
    idempotency_bucket: str = Field(
        default="FOURLINKS_IDEMPOTENCY", description="which request each Idempotency-Key was first used for"
    )
    idempotency_hours: float = Field(
        default=24.0, gt=0, description="how long an Idempotency-Key is remembered"
    )
    database_url: str | None = Field(default=None, description="read-model database for every service")
    members_database_url: str | None = None
    assignments_database_url: str | None = None
    feedback_database_url: str | None = None
    notifications_database_url: str | None = None
    audit_database_url: str | None = Field(default=None, description="the log's Merkle tiles and checkpoints")
    log_level: str = "INFO"
    master_key: SecretStr | None = Field(default=None, description="base64 32-byte master key")
    master_key_file: Path | None = None
    index_key: SecretStr | None = Field(
        default=None, description="the first master key, kept after a rotation"
    )
    jwt_algorithm: str = Field(default="HS256", description="HS256 (embedded) or RS256 (production)")
    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "fourlinks"
    jwt_audience: str = "fourlinks"
    jwt_max_hours: float = Field(
        default=12.0, gt=0, le=REVOKED_HOURS, description="longest a person's token may live (exp - iat)"
    )
    jwt_resident_max_hours: float = Field(
        default=72.0,
        gt=0,
        le=REVOKED_HOURS,
        description="... a household's token (the resident role only: the sign-in link a text carries)",
    )
    jwt_require_jti: bool = Field(
        default=False, description="refuse tokens without a jti (sign-out revokes the others by digest)"
    )
    revoked_bucket: str = Field(
        default=REVOKED_BUCKET, description="tokens signed out before they expire, checked by every service"
    )
    console_sessions_bucket: str = Field(
        default=SESSIONS_BUCKET, description="the console's sessions, when it keeps them in NATS"
    )
    projection_batch_size: int = 500
    process_role: Literal["all", "api"] = Field(
        default="all",
        description="all: HTTP, projections, policies and schedulers; api: HTTP only, beside a worker",
    )
    kept_aggregates: int = Field(
        default=4096, ge=0, description="folded aggregates a process keeps between commands (0: none)"
    )
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="largest request body; larger ones get 413 unread"
    )
    photos_dir: Path | None = Field(
        default=None, description="where evidence photos are kept as files (default var/photos)"
    )
    photos_s3_url: str | None = Field(
        default=None,
        description="an S3-compatible object store for evidence photos; unset: files under var/photos",
    )
    photos_s3_bucket: str = "fourlinks-evidence"
    photos_s3_region: str = "us-east-1"
    photos_s3_access_key: str | None = None
    photos_s3_secret_key: SecretStr | None = None
    deadline_days: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS),
        description='natural days per urgency, or per "category/urgency"',
    )
    deadline_reminder_fraction: float = Field(
        default=DEFAULT_REMINDER_FRACTION, gt=0, lt=1, description="remind this share before due"
    )
    deadline_scan_seconds: float = Field(default=30.0, gt=0)
    ranking_min_sample: int = Field(default=10, ge=1, description="tasks a group needs to be ranked")
    timezone: str = Field(default="Asia/Shanghai", description="months of KPIs are counted in this zone")
    callback_delay_hours: float = Field(
        default=DEFAULT_CALLBACK_DELAY_HOURS, ge=0, description="call-back after closure"
    )
    callback_answer_hours: float = Field(
        default=DEFAULT_CALLBACK_ANSWER_HOURS, gt=0, description="no answer by then: not reached"
    )
    follow_up_days: float = Field(
        default=DEFAULT_FOLLOW_UP_DAYS, gt=0, description="second call-back: did it stay fixed?"
    )
    response_limit_hours: float = Field(default=24.0, gt=0, description="acknowledge and assign within")
    restart_limit: int = Field(
        default=5, ge=1, description="fourlinks up gives up on a child restarted more often than this"
    )
    restart_window_seconds: float = Field(default=60.0, gt=0, description="... within this many seconds")
    signing_key: SecretStr | None = Field(
        default=None, description="this service's event signing key (base64 32-byte Ed25519 seed)"
    )
    signing_key_file: Path | None = Field(
        default=None, description="... from a file (default var/signing/<service>.key)"
    )
    signers_file: Path | None = Field(
        default=None, description="the public keys that sign each context's events (default var/signers.json)"
    )
    checkpoint_key: SecretStr | None = Field(
        default=None, description="the key checkpoints are signed with (PRIVATE+KEY+name+hash+base64)"
    )
    checkpoint_key_file: Path | None = Field(
        default=None, description="... from a file (default var/checkpoint.key)"
    )
    checkpoint_public_key: str | None = Field(
        default=None,
        description="the key checkpoints are verified with (name+hash+base64); default: the signing key's",
    )
    log_origin: str | None = Field(
        default=None,
        description="the log's name in its checkpoints, e.g. yuhang.fourlinks.example/events (= the "
        "checkpoint key's name); fixed by the first checkpoint. Default: the key's name",
    )
    witnesses: str | None = Field(
        default=None,
        description="the witnesses that cosign each checkpoint (C2SP tlog-witness): `KEY URL` entries, "
        "separated by commas or newlines; KEY is the witness's vkey (`fourlinks witness public-key`)",
    )
    witness_quorum: int | None = Field(
        default=None,
        ge=0,
        description="cosignatures a checkpoint needs to be published; default a majority of the witnesses",
    )
    checkpoint_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="sign the published checkpoint this long after events arrived, at the latest",
    )
    checkpoint_every_events: int = Field(
        default=10_000, ge=1, description="keep a checkpoint for good after this many events"
    )
    checkpoint_every_minutes: float = Field(
        default=10.0, gt=0, description="... or after this long, if any arrived"
    )
    integrity_check_hours: float = Field(
        default=24.0, gt=0, description="the checkpointer runs the whole integrity check this often"
    )
    rate_limits: bool = Field(
        default=True, description="rate limits on public and resident routes (off only for benchmarks)"
    )
    member_default_capacity: int = Field(default=20, ge=1, le=500, description="contacts a member serves")

    @field_validator("witness_quorum", mode="before")
    @classmethod
    def _quorum_left_empty(cls, value: object) -> object:
        """An empty FOURLINKS_WITNESS_QUORUM (compose passes an unset variable on so) is unset."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _embedded_nats(self) -> Settings:
        """Without FOURLINKS_NATS_URL, the NATS a `fourlinks up` on this var dir runs (if any)."""
        if "nats_url" not in self.model_fields_set:
            state = read_state(self.var_dir)
            if state is not None:
                self.nats_url = state.nats_url
                self._embedded_user()
        return self

    def _embedded_user(self) -> None:
        """On the machine of a `fourlinks up`: its server admits users only; a command run by
        hand there (an operator's) signs in as the administrator, from var/nats-users."""
        if self.nats_user is None and self.nats_password is None and self.nats_password_file is None:
            admin = self.var_dir / "nats-users" / "admin.password"
            if admin.exists():
                self.nats_user, self.nats_password_file = "admin", admin

    def nats_password_value(self) -> str:
        """The NATS password: given, or read from its file ("" for none)."""
        if self.nats_password is not None:
            return self.nats_password.get_secret_value()
        if self.nats_password_file is not None:
            return self.nats_password_file.read_text().strip()
        return ""

    def jetstream(self) -> JetStreamSettings:
        """Stream names as the event store uses them."""
        return JetStreamSettings(
            stream=self.stream,
            prefix=self.subject_prefix,
            key_bucket=self.key_bucket,
            idempotency_bucket=self.idempotency_bucket,
            idempotency_hours=self.idempotency_hours,
        )

    def database_url_for(self, service: str) -> str:
        """The async SQLAlchemy URL of one service's read models (SQLite under var/ by default)."""
        return self.read_model_database(service)[0]

    def read_model_database(self, service: str) -> tuple[str, str | None]:
        """URL and PostgreSQL schema of one service's read models.

        A service-specific URL is used as it is. The shared FOURLINKS_DATABASE_URL gives each service
        its own schema (PostgreSQL) or its own file (SQLite), so services never share a table.
        """
        specific = getattr(self, f"{service}_database_url", None)
        if specific:
            return async_database_url(specific), None
        if not self.database_url:
            return async_database_url(f"sqlite:///{self.var_dir / service}.db"), None
        url = async_database_url(self.database_url)
        if url.startswith("sqlite"):
            stem, dot, suffix = url.rpartition(".")
            return (f"{stem}-{service}.{suffix}" if dot else f"{url}-{service}"), None
        return url, service

    def master_key_bytes(self) -> bytes:
        """The master key that wraps every per-person key."""
        if self.master_key is not None:
            return parse_master_key(self.master_key.get_secret_value())
        path = self.master_key_file or self.var_dir / "master.key"
        if path.exists():
            return parse_master_key(path.read_text().strip())
        raise MissingSecret(
            f"no master key: {path} does not exist (`make up` makes one); or set FOURLINKS_MASTER_KEY "
            "or FOURLINKS_MASTER_KEY_FILE (`fourlinks keygen` makes a key)"
        )

    def index_key_bytes(self) -> bytes | None:
        """The key blind indexes derive from, when it differs from the master key."""
        return parse_master_key(self.index_key.get_secret_value()) if self.index_key else None

    def checkpoint_key_text(self) -> str:
        """The checkpoint signing key as text (PRIVATE+KEY+...)."""
        if self.checkpoint_key is not None:
            return self.checkpoint_key.get_secret_value()
        path = self.checkpoint_key_file or self.var_dir / "checkpoint.key"
        if path.exists():
            return path.read_text().strip()
        raise MissingSecret(
            f"no checkpoint signing key: {path} does not exist (`make up` makes one; "
            "`fourlinks audit keygen` prints one); "
            "or set FOURLINKS_CHECKPOINT_KEY or FOURLINKS_CHECKPOINT_KEY_FILE"
        )

    def signing_key_path(self, service: str) -> Path:
        """Where a service's event signing key is kept."""
        return self.signing_key_file or self.var_dir / "signing" / f"{service}.key"

    def signing_seed(self, service: str) -> str | None:
        """A service's event signing key (base64 seed), or None where none is configured."""
        if self.signing_key is not None:
            return self.signing_key.get_secret_value()
        path = self.signing_key_path(service)
        return path.read_text().strip() if path.exists() else None

    def signers_path(self) -> Path:
        """The signers file: the public keys `audit verify` checks events against."""
        return self.signers_file or self.var_dir / "signers.json"

    def jwt_secret_value(self) -> str:
        """The HS256 signing secret."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.jwt_secret_file or self.var_dir / "jwt.secret"
        if path.exists():
            return path.read_text().strip()
        raise MissingSecret(
            f"no token secret: {path} does not exist (`make up` makes one); "
            "or set FOURLINKS_JWT_SECRET or FOURLINKS_JWT_SECRET_FILE"
        )


def async_database_url(url: str) -> str:
    """Pick the async driver for a plain `postgresql://` or `sqlite://` URL."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
