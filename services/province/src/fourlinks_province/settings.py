"""The province's own settings (`FOURLINKS_PROVINCE_*`) and its districts file.

The districts file (TOML or JSON, a mounted secret: it holds the districts' leaf passwords) lists
each district the province follows: its GB/T 2260 code, its name, the password (or nkey) its leaf
connection signs in with, and the public key of its audit log (the verifier key of the
checkpoints it signs)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fourlinks_contracts.figures import DISTRICT_CODE, PROVINCE_STREAM


class ProvinceSettings(BaseSettings):
    """Where the districts file is, and the stream the districts' figures are sourced into."""

    model_config = SettingsConfigDict(env_prefix="FOURLINKS_PROVINCE_", extra="ignore")
    districts_file: Path | None = Field(default=None, description="TOML or JSON: the districts followed")
    stream: str = PROVINCE_STREAM
    stale_minutes: float = Field(
        default=10.0, gt=0, description="a district heard from longer ago than this is shown as stale"
    )


class District(BaseModel):
    """One district the province follows."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=DISTRICT_CODE.pattern)
    name: str = Field(min_length=1)
    leaf_password: SecretStr | None = None
    leaf_nkey: str | None = None
    log_key: str | None = Field(default=None, description="the verifier key of its checkpoints")


class Districts(BaseModel):
    """Every district the province follows, by code."""

    model_config = ConfigDict(extra="forbid")
    districts: list[District] = []

    @model_validator(mode="after")
    def _each_once(self) -> Districts:
        codes = [d.code for d in self.districts]
        if len(codes) != len(set(codes)):
            raise ValueError("a district is listed twice in the districts file")
        return self

    def by_code(self) -> dict[str, District]:
        """The districts by their code."""
        return {d.code: d for d in self.districts}

    @classmethod
    def read(cls, path: Path | None) -> Districts:
        """The districts file (none: no district yet); a broken file stops the start, saying why."""
        if path is None:
            return cls()
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
            return cls.model_validate(data)
        except (ValueError, ValidationError) as exc:
            raise SystemExit(f"the districts file {path} cannot be read: {exc}") from exc
