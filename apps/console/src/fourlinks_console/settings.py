"""The console's settings: environment variables prefixed `FOURLINKS_CONSOLE_` (README)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SESSION_SECRET_FILE = "console.secret"  # noqa: S105 - a file name, not a secret


class ConsoleSettings(BaseSettings):
    """Where the services are, how people sign in, how sessions are kept."""

    model_config = SettingsConfigDict(
        env_prefix="FOURLINKS_CONSOLE_",
        extra="ignore",
        secrets_dir=os.environ.get("FOURLINKS_SECRETS_DIR"),
    )

    members_url: str = "http://127.0.0.1:8101"
    assignments_url: str = "http://127.0.0.1:8102"
    feedback_url: str = "http://127.0.0.1:8103"
    notifications_url: str = "http://127.0.0.1:8104"
    province_url: str | None = Field(
        default=None,
        description="the province service: a city's or province's console (it then waits for that service "
        "alone, and its local sign-in offers the province's and its cities' readers)",
    )
    province_code: str = Field(
        default="330000",
        pattern=r"^[1-9]\d{5}$",
        description="the province (GB/T 2260 code) whose readers a province console's local sign-in offers",
    )
    audit_url: str | None = Field(
        default=None, description="the checkpointer's /integrity (the auditor's page shows the latest)"
    )
    environment: Literal["embedded", "production"] = Field(
        default="embedded", description="production: secure cookies, no local sign-in"
    )
    local_signin: bool = Field(
        default=False, description="a sign-in page listing the district's people (embedded use only)"
    )
    district: str = Field(default="yuhang", description="the root unit the local sign-in page lists")
    public_url: str | None = Field(
        default=None,
        description="where residents reach the console: printed cards' QR codes point here "
        "(default: the address the secretary printed from)",
    )
    session_secret: SecretStr | None = None
    session_hours: float = Field(
        default=8.0, gt=0, le=24, description="a session ends this long after sign-in, whatever happens"
    )
    session_idle_minutes: float = Field(
        default=60.0, gt=0, le=24 * 60, description="... or after this long without a request"
    )
    session_store: Literal["auto", "memory", "nats"] = Field(
        default="auto",
        description="memory: this process only; nats: a bucket every replica shares (survives restarts); "
        "auto: nats when the console knows a NATS (FOURLINKS_NATS_URL, or `fourlinks up`), else memory",
    )
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    recurring_times: int = Field(
        default=3, ge=2, description="a building and category raised this often is a recurring problem ..."
    )
    recurring_days: int = Field(default=30, ge=1, le=365, description="... within this many days")
    service_timeout_seconds: float = Field(default=10.0, gt=0)
    oidc_discovery_url: str | None = Field(default=None, description="the identity provider's metadata")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_roles_claim: str = "fourlinks_roles"
    oidc_scope_claim: str = "fourlinks_scope"
    oidc_name_claim: str = "name"

    @model_validator(mode="after")
    def _local_signin_only_embedded(self) -> ConsoleSettings:
        if self.local_signin and self.environment == "production":
            raise ValueError(
                "FOURLINKS_CONSOLE_LOCAL_SIGNIN is refused in production: people sign in through the "
                "identity provider (FOURLINKS_CONSOLE_OIDC_DISCOVERY_URL)"
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        """Whether sign-in through the identity provider is configured."""
        return bool(self.oidc_discovery_url and self.oidc_client_id)

    @property
    def serves_province(self) -> bool:
        """Whether this is a city's or a province's console (over the province service)."""
        return self.province_url is not None

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS (production sits behind TLS)."""
        return self.environment == "production"

    def session_secret_value(self, var_dir: Path) -> str:
        """The key signing session cookies: set, or (embedded) kept in var/console.secret."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        if self.environment == "production":
            raise ValueError("FOURLINKS_CONSOLE_SESSION_SECRET is required in production")
        path = var_dir / SESSION_SECRET_FILE
        if not path.exists():
            var_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()
