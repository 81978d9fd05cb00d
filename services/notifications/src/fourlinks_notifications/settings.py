"""The notifier's own settings (`FOURLINKS_NOTIFY_*`) and its channels file.

The channels file (JSON, a mounted secret: it holds webhook secrets and passwords) says where
messages go: group robots by org unit (the most specific unit configured wins), the secretaries'
e-mail addresses by org unit, the SMTP server, the SMS provider. A recipient no channel reaches
is not sent to; with no channels file at all, notices are kept and nothing is sent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Robot(BaseModel):
    """A DingTalk or WeCom group robot: its webhook address and, for DingTalk, its signing secret."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["dingtalk", "wecom"]
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr | None = None


class Smtp(BaseModel):
    """The mail server the secretaries' e-mail goes through."""

    model_config = ConfigDict(extra="forbid")
    host: str
    port: int = 25
    sender: str
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False


class AliyunSms(BaseModel):
    """Alibaba Cloud's SMS service: one approved template whose `content` variable holds the text."""

    model_config = ConfigDict(extra="forbid")
    provider: Literal["aliyun"] = "aliyun"
    access_key_id: str
    access_key_secret: SecretStr
    sign_name: str
    template_code: str
    endpoint: str = Field(default="https://dysmsapi.aliyuncs.com/", pattern=r"^https?://")
    region: str = "cn-hangzhou"


class Channels(BaseModel):
    """Where messages go (the channels file)."""

    model_config = ConfigDict(extra="forbid")
    robots: dict[str, Robot] = Field(default_factory=dict, description="org unit path ('' for all) → robot")
    secretaries_email: dict[str, list[str]] = Field(
        default_factory=dict, description="org unit path ('' for all) → the secretaries' addresses"
    )
    smtp: Smtp | None = None
    sms: AliyunSms | None = None

    @property
    def reaches_staff(self) -> bool:
        """Whether members and secretaries can be told (a robot, or e-mail through a mail server)."""
        return bool(self.robots) or (bool(self.secretaries_email) and self.smtp is not None)

    @property
    def reaches_residents(self) -> bool:
        """Whether households and enterprises can be texted."""
        return self.sms is not None

    @classmethod
    def read(cls, path: Path | None) -> Channels:
        """The channels file, or none configured; a broken file is refused with what to fix."""
        if path is None:
            return cls()
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ValueError(f"FOURLINKS_NOTIFY_CHANNELS_FILE: {path} does not exist") from None
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ValueError(
                f"FOURLINKS_NOTIFY_CHANNELS_FILE: {path} is not a valid channels file: {exc}"
            ) from None


class NotifySettings(BaseSettings):
    """When and how notices go out."""

    model_config = SettingsConfigDict(
        env_prefix="FOURLINKS_NOTIFY_", extra="ignore", secrets_dir=os.environ.get("FOURLINKS_SECRETS_DIR")
    )

    channels_file: Path | None = Field(default=None, description="the channels file (JSON)")
    quiet_hours: str = Field(default="22:00-07:00", description="local time; empty for none")
    locale: Literal["zh_CN", "en"] = "zh_CN"
    console_url: str = Field(default="http://127.0.0.1:8100", description="links in messages point here")
    stale_hours: float = Field(default=24.0, gt=0, description="a notice not sent by then is dropped")
    attempts: int = Field(default=5, ge=1, le=50, description="tries before a notice is a dead letter")
    first_retry_seconds: float = Field(default=30.0, gt=0)
    longest_retry_seconds: float = Field(default=3600.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0, description="how long one attempt holds a notice")
    scan_seconds: float = Field(default=2.0, gt=0)
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    link_hours: float = Field(
        default=72.0, gt=0, le=720, description="how long a household's sign-in link works"
    )
