"""Roles and the principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # study administration (platform-wide when the token has no study)
    MONITOR = "monitor"  # CRO remote monitoring staff
    EDC = "edc"  # EDC integration job
    ANALYST = "analyst"  # sponsor analytics
    GATEWAY = "gateway"  # one home gateway: ingest, its own config and watermarks


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    role: Role
    study: str | None  # None: platform administrator
    gateway_id: str | None = None

    def may_access_study(self, study: str) -> bool:
        return self.study is None or self.study == study
