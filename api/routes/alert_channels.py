"""Where a study's flags are sent (``docs/alerts.md``): list and add channels, switch one
off or on. Each change is an audit entry with who and why; a webhook's signing key is in
the answer that creates it, and never again."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field, model_validator

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from api.time_zones import ZoneName
from storage import alerts, audit
from storage.alerts import Channel
from storage.queries import registry as registry_queries

router = APIRouter(prefix="/v1/studies/{study}/alert-channels", tags=["alerts"])

Viewer = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR))]
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]

Severity = Literal["info", "low", "medium", "high", "critical"]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,99}$")]
RuleOrSite = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]


class DailyRange(BaseModel):
    """A wall-clock range of every day in an IANA zone (across midnight when end < start)."""

    start: time
    end: time
    zone: ZoneName

    @model_validator(mode="after")
    def _valid(self) -> DailyRange:
        if self.start == self.end:
            raise ValueError("a daily range needs a start and an end that differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a daily range is in wall-clock times; the zone is given apart")
        return self


class NewChannel(BaseModel):
    name: Name
    kind: Literal["webhook", "email"]
    target: Annotated[str, Field(min_length=3, max_length=2000)]
    min_severity: Severity = "medium"
    rules: Annotated[list[RuleOrSite], Field(max_length=50)] = []
    sites: Annotated[list[RuleOrSite], Field(max_length=50)] = []
    quiet: DailyRange | None = None  # non-critical alerts wait for its end
    on_call: DailyRange | None = None  # only flags stored within it (None: always)
    # > 0: a later on-call level, sent a flag only if nobody acknowledged it this long
    escalate_after_min: Annotated[int, Field(ge=0, le=10_080)] = 0
    reason: Reason

    @model_validator(mode="after")
    def _target(self) -> NewChannel:
        if self.kind == "webhook" and not self.target.startswith("https://"):
            raise ValueError("a webhook target is an https:// URL")
        if self.kind == "email" and not _looks_like_address(self.target):
            raise ValueError("an e-mail target is one address, like name@example.org")
        if any(c in self.target for c in "\x00\r\n "):
            raise ValueError("the target holds a control character or a space")
        return self


def _looks_like_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    return bool(at and local and "." in domain and "@" not in domain)


class ChannelOut(BaseModel):
    id: int
    name: str
    kind: str
    target: str
    min_severity: str
    rules: list[str]
    sites: list[str]
    quiet: DailyRange | None
    on_call: DailyRange | None
    escalate_after_min: int
    enabled: bool


class CreatedChannel(ChannelOut):
    signing_secret: str | None  # a webhook's HMAC key: shown here once, never again


class Switch(BaseModel):
    enabled: bool
    reason: Reason


def _range(value: tuple[time, time, str] | None) -> DailyRange | None:
    return DailyRange(start=value[0], end=value[1], zone=value[2]) if value else None


def _out(channel: Channel) -> ChannelOut:
    quiet = _range(channel.quiet)
    return ChannelOut(id=channel.id, name=channel.name, kind=channel.kind,
                      target=channel.target, min_severity=channel.min_severity,
                      rules=channel.rules, sites=channel.sites, quiet=quiet,
                      on_call=_range(channel.on_call),
                      escalate_after_min=channel.escalate_after_s // 60,
                      enabled=channel.enabled)


@router.get("")
async def list_channels(study: str, conn: Conn, _: Viewer) -> list[ChannelOut]:
    """The study's channels (without their signing keys)."""
    return [_out(c) for c in await alerts.channels(conn, study=study)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def add_channel(study: str, new: NewChannel, conn: Conn, who: Admin) -> CreatedChannel:
    """A channel for the study's flags; a webhook's signing key is in this answer only."""
    if await registry_queries.get_study(conn, code=study) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"study {study} not found")
    async with conn.transaction():
        if await alerts.channel_by_name(conn, study=study, name=new.name) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"study {study} already has a channel named {new.name!r}")
        quiet = (new.quiet.start, new.quiet.end, new.quiet.zone) if new.quiet else None
        channel = await alerts.create_channel(
            conn, study=study, name=new.name, kind=new.kind, target=new.target,
            min_severity=new.min_severity, rules=new.rules, sites=new.sites, quiet=quiet,
            escalate_after_s=new.escalate_after_min * 60,
            on_call=(new.on_call.start, new.on_call.end, new.on_call.zone) if new.on_call else None)
        await audit.append(conn, actor=who.token_id, role=who.role, action="create",
                           entity_type="alert_channel", entity_id=str(channel.id),
                           reason=new.reason, details={
                               "study": study, "name": new.name, "kind": new.kind,
                               "target": new.target, "min_severity": new.min_severity,
                               "rules": new.rules, "sites": new.sites,
                               "escalate_after_min": new.escalate_after_min,
                               "on_call": new.on_call.model_dump(mode="json") if new.on_call else None,
                               "quiet": new.quiet.model_dump(mode="json") if new.quiet else None})
    return CreatedChannel(**_out(channel).model_dump(), signing_secret=channel.secret)


@router.post("/{channel_id}/switch")
async def switch_channel(study: str, channel_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                         change: Switch, conn: Conn, who: Admin) -> ChannelOut:
    """Switch a channel off (its flags are no longer planned for it) or on again."""
    async with conn.transaction():
        channel = await alerts.set_channel_enabled(conn, study=study, channel_id=channel_id,
                                                   enabled=change.enabled)
        if channel is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"no channel {channel_id} in study {study}")
        await audit.append(conn, actor=who.token_id, role=who.role,
                           action="enable" if change.enabled else "disable",
                           entity_type="alert_channel", entity_id=str(channel_id),
                           reason=change.reason, details={"study": study})
    return _out(channel)
