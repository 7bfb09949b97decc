"""``trialwire registry``: change registry records after creation, as the API's ``PATCH``,
``…/move``, ``…/end-enrollment`` and ``…/time-zone`` routes do: every change with a
reason, one audit entry with the old and new values."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer

from deploy.cli.connections import run_on_database
from deploy.cli.options import DataDirOption
from deploy.cli.output import fail

T = TypeVar("T")

app = typer.Typer(help="Change studies, sites, subjects, devices, gateways and enrollments.",
                  no_args_is_help=True)

StudyOption = Annotated[str, typer.Option(help="Study code.")]
ReasonOption = Annotated[str, typer.Option(help="Why (kept in the audit trail).")]
OperatorOption = Annotated[str, typer.Option(help="Who makes the change.")]
AtOption = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
    help="When, with its UTC offset (e.g. 2026-12-07T09:00:00+01:00); default now.")]


def _run(data_dir: Any, work: Callable[[Any], Awaitable[T]]) -> T:
    return run_on_database(data_dir, work)


def _actor(operator: str, reason: str) -> Any:
    from storage.registry_changes import Actor

    if not reason.strip() or "\x00" in reason:
        fail("--reason must say why (it goes to the audit trail)")
    return Actor(f"cli:{operator}", "admin", reason)


def _zone(name: str) -> str:
    from api.time_zones import check_zone

    try:
        return check_zone(name)
    except ValueError as exc:
        fail(str(exc))


@app.command("update")
def update(
    study: StudyOption,
    entity: Annotated[str, typer.Option(help="study, site, subject, device or gateway.")],
    key: Annotated[str, typer.Option(help="Its code (the study's own for a study).")],
    set_: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE (repeatable), e.g. "
                                            "arm=placebo, time_zone=Europe/Paris.")],
    reason: ReasonOption,
    operator: OperatorOption = "cli",
    data_dir: DataDirOption = None,
) -> None:
    """Change fields of one record; prints the old and new values as JSON."""
    from storage.registry_changes import ENTITIES, column_of, update_audited

    if entity not in ENTITIES:
        fail(f"--entity must be one of {', '.join(ENTITIES)}")
    fields: dict[str, Any] = {}
    for item in set_:
        name, eq, value = item.partition("=")
        if not eq or "\x00" in value:
            fail(f"--set {item!r}: expected FIELD=VALUE")
        column = column_of(name.strip())
        if column not in ENTITIES[entity].columns:
            fail(f"a {entity} has no changeable field {name!r} "
                 f"(changeable: {', '.join(ENTITIES[entity].columns)})")
        fields[column] = _zone(value) if column == "time_zone" else (value or None)
    actor = _actor(operator, reason)
    done = _run(data_dir, lambda conn: update_audited(conn, entity=entity, study=study,
                                                      key=key, changes=fields, actor=actor))
    if done is None:
        fail(f"no {entity} {key} in study {study}")
    print(json.dumps({"entity": entity, "key": key, "old": done[0], "new": done[1]},
                     default=str))


@app.command("move-device")
def move_device(
    study: StudyOption,
    device: Annotated[str, typer.Option(help="Device id.")],
    subject: Annotated[str, typer.Option(help="The subject who wears it from now on.")],
    gateway: Annotated[str, typer.Option(help="The gateway it uploads through.")],
    reason: ReasonOption,
    at: AtOption = None,
    operator: OperatorOption = "cli",
    data_dir: DataDirOption = None,
) -> None:
    """End the device's enrollment at AT and start the new subject's there (no gap, no
    overlap)."""
    from storage.registry_changes import move_device_audited

    when = at or datetime.now(UTC)
    actor = _actor(operator, reason)
    moved = _run(data_dir, lambda conn: move_device_audited(
        conn, study=study, device_id=device, at=when, subject=subject, gateway_id=gateway,
        actor=actor))
    ended, new_id = moved
    print(json.dumps({"device": device, "from_subject": ended.subject if ended else None,
                      "to_subject": subject, "at": when.isoformat(), "enrollment": new_id}))


@app.command("time-zone")
def subject_time_zone(
    study: StudyOption,
    subject: Annotated[str, typer.Option(help="Subject code.")],
    zone: Annotated[str, typer.Option(help="IANA time zone, e.g. Asia/Tokyo.")],
    reason: ReasonOption,
    since: AtOption = None,
    operator: OperatorOption = "cli",
    data_dir: DataDirOption = None,
) -> None:
    """The participant lives in ZONE from SINCE on (a move, a journey): their local days."""
    from storage.registry_changes import set_subject_zone_audited

    when = since or datetime.now(UTC)
    actor = _actor(operator, reason)
    before = _run(data_dir, lambda conn: set_subject_zone_audited(
        conn, study=study, subject=subject, zone=_zone(zone), since=when, actor=actor))
    if before is None:
        fail(f"no subject {subject} in study {study}")
    print(json.dumps({"subject": subject, "old": before, "new": zone,
                      "since": when.isoformat()}))
