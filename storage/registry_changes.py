"""Changing the registry after creation: one record's fields (each entity names the
columns that may change), and a device's enrollments ended or moved to another subject
at one instant (``[start, at)`` then ``[at, …)``: no gap, no overlap). Each returns the
old and new values for the caller's audit entry, and tells the ingest service's caches
when a gateway's enrollments changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.range import Range

from storage import audit, credential_events


@dataclass(frozen=True, slots=True)
class Entity:
    table: str
    key: str  # the code column, unique within the study
    study_column: str
    columns: tuple[str, ...]  # what may change


# A column's name where the API and the CLI say it differently ("site": ``site_code``).
FIELD_COLUMNS = {"site": "site_code"}


def column_of(field: str) -> str:
    return FIELD_COLUMNS.get(field, field)


def field_of(column: str) -> str:
    return next((f for f, c in FIELD_COLUMNS.items() if c == column), column)


ENTITIES: dict[str, Entity] = {
    "study": Entity("studies", "code", "code", ("name", "withdrawal_policy")),
    "site": Entity("sites", "code", "study_code", ("name", "time_zone")),
    "subject": Entity("subjects", "code", "study_code", ("arm", "site_code")),
    "device": Entity("devices", "id", "study_code", ("model", "serial", "firmware", "mac")),
    "gateway": Entity("gateways", "id", "study_code", ("site_code", "status")),
}


def _select(spec: Entity, columns: tuple[str, ...], *, lock: bool = False) -> sql.Composed:
    """``columns`` of the one record with a key in a study (parameters: key, study)."""
    return sql.SQL("SELECT {cols} FROM {table} WHERE {key} = %s AND {study} = %s{lock}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, columns)), table=sql.Identifier(spec.table),
        key=sql.Identifier(spec.key), study=sql.Identifier(spec.study_column),
        lock=sql.SQL(" FOR UPDATE" if lock else ""))


async def read(conn: AsyncConnection[Any], *, entity: str, study: str,
               key: str) -> dict[str, Any] | None:
    """The record's changeable fields (and its key), or None if the study has none."""
    spec = ENTITIES[entity]
    columns = (spec.key, *spec.columns)
    row = await (await conn.execute(_select(spec, columns), (key, study))).fetchone()
    return None if row is None else dict(zip(columns, row, strict=True))


async def update(conn: AsyncConnection[Any], *, entity: str, study: str, key: str,
                 changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Apply ``changes`` (only the entity's changeable columns) to one record, locked
    meanwhile; returns (old, new) values of the changed fields, or None if not found."""
    spec = ENTITIES[entity]
    unknown = set(changes) - set(spec.columns)
    if unknown:
        raise ValueError(f"{entity} has no changeable field {', '.join(sorted(unknown))}")
    row = await (await conn.execute(_select(spec, spec.columns, lock=True),
                                    (key, study))).fetchone()
    if row is None:
        return None
    current = dict(zip(spec.columns, row, strict=True))
    changed = {c: v for c, v in changes.items() if current[c] != v}
    if changed:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in changed)
        await conn.execute(
            sql.SQL("UPDATE {table} SET {assign} WHERE {key} = %s AND {study} = %s").format(
                table=sql.Identifier(spec.table), assign=assignments,
                key=sql.Identifier(spec.key), study=sql.Identifier(spec.study_column)),
            (*changed.values(), key, study))
        if entity == "gateway":
            await credential_events.announce(conn, credential_events.gateway_changed(key))
    return {c: current[c] for c in changed}, changed


@dataclass(frozen=True, slots=True)
class EnrollmentRow:
    id: int
    subject: str
    device_id: str
    gateway_id: str
    start: datetime | None
    end: datetime | None


_ENROLLMENT_COLUMNS = "id, subject_code, device_id, gateway_id, lower(valid), upper(valid)"


async def enrollments(conn: AsyncConnection[Any], *, study: str, device_id: str | None = None,
                      subject: str | None = None) -> list[EnrollmentRow]:
    """The study's enrollments (of one device or subject), oldest first."""
    cur = await conn.execute(
        f"SELECT {_ENROLLMENT_COLUMNS} FROM enrollments WHERE study_code = %(study)s"
        " AND (%(device)s::text IS NULL OR device_id = %(device)s)"
        " AND (%(subject)s::text IS NULL OR subject_code = %(subject)s)"
        " ORDER BY lower(valid) NULLS FIRST, id",
        {"study": study, "device": device_id, "subject": subject})
    return [EnrollmentRow(*row) for row in await cur.fetchall()]


async def end_enrollment(conn: AsyncConnection[Any], *, study: str, device_id: str,
                         at: datetime) -> EnrollmentRow | None:
    """End the device's enrollment that covers ``at`` (and began before it) at ``at``;
    returns it as it was, or None when none covers ``at``."""
    cur = await conn.execute(
        f"SELECT {_ENROLLMENT_COLUMNS} FROM enrollments"
        " WHERE study_code = %s AND device_id = %s AND valid @> %s::timestamptz"
        " AND (lower_inf(valid) OR lower(valid) < %s) FOR UPDATE",
        (study, device_id, at, at))
    row = await cur.fetchone()
    if row is None:
        return None
    ended = EnrollmentRow(*row)
    await conn.execute("UPDATE enrollments SET valid = tstzrange(lower(valid), %s, '[)')"
                       " WHERE id = %s", (at, ended.id))
    await credential_events.announce(conn, credential_events.gateway_changed(ended.gateway_id))
    return ended


class EnrollmentConflict(ValueError):
    """The device is enrolled again later than the instant of a move: the new open-ended
    enrollment would overlap it. Raised before the caller commits: roll back."""


async def move_device(conn: AsyncConnection[Any], *, study: str, device_id: str, at: datetime,
                      subject: str, gateway_id: str) -> tuple[EnrollmentRow | None, int]:
    """End the device's enrollment covering ``at`` (if any) and enroll it to ``subject``
    through ``gateway_id`` from ``at`` on, in the caller's transaction: (the ended one,
    the new one's id). Raises EnrollmentConflict if the device is enrolled again later than
    ``at`` (the caller's transaction must then be rolled back)."""
    ended = await end_enrollment(conn, study=study, device_id=device_id, at=at)
    cur = await conn.execute(
        "INSERT INTO enrollments (study_code, subject_code, device_id, gateway_id, valid)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (study, subject, device_id, gateway_id, Range(at, None, "[)")))
    row = await cur.fetchone()
    if row is None:
        raise EnrollmentConflict(f"device {device_id} is already enrolled after "
                                 f"{at.isoformat()}; nothing changed")
    await credential_events.announce(conn, credential_events.gateway_changed(gateway_id))
    return ended, int(row[0])


@dataclass(frozen=True, slots=True)
class ZonePeriod:
    zone: str
    start: datetime | None  # None: from the beginning
    end: datetime | None  # None: still in force


async def zone_periods(conn: AsyncConnection[Any], *, subject: str) -> list[ZonePeriod]:
    """The subject's time zones over time (their site's before any of their own)."""
    cur = await conn.execute(
        "SELECT zone, CASE WHEN lower_inf(valid) OR lower(valid) = '-infinity' THEN NULL"
        " ELSE lower(valid) END, CASE WHEN upper(valid) = 'infinity' THEN NULL"
        " ELSE upper(valid) END FROM subject_zone_periods"
        " WHERE subject_code = %s AND NOT isempty(valid) ORDER BY lower(valid)", (subject,))
    return [ZonePeriod(*row) for row in await cur.fetchall()]


async def set_subject_zone(conn: AsyncConnection[Any], *, study: str, subject: str, zone: str,
                           since: datetime) -> str | None:
    """The subject lives in ``zone`` from ``since`` on (a move, a journey; in the caller's
    transaction); returns the zone in force at ``since`` before, or None if the study
    has no such subject. The zone name is the caller's to check (an IANA name)."""
    cur = await conn.execute(
        "SELECT p.zone FROM subjects s JOIN subject_zone_periods p ON p.subject_code = s.code"
        " AND p.valid @> %s::timestamptz WHERE s.code = %s AND s.study_code = %s"
        " FOR UPDATE OF s", (since, subject, study))
    row = await cur.fetchone()
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO subject_time_zones (subject_code, since, zone) VALUES (%s, %s, %s)"
        " ON CONFLICT (subject_code, since) DO UPDATE SET zone = excluded.zone",
        (subject, since, zone))
    return str(row[0])


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and why (every change here is one audit entry)."""

    id: str
    role: str
    reason: str


async def update_audited(conn: AsyncConnection[Any], *, entity: str, study: str, key: str,
                         changes: dict[str, Any], actor: Actor,
                         ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """:func:`update` with an audit entry of the old and new values (none when nothing
    changed); in the caller's transaction."""
    done = await update(conn, entity=entity, study=study, key=key, changes=changes)
    if done is not None and done[1]:
        await audit.append(conn, actor=actor.id, role=actor.role, action="update",
                           entity_type=entity, entity_id=key, reason=actor.reason,
                           details={"study": study, "old": done[0], "new": done[1]})
    return done


async def move_device_audited(conn: AsyncConnection[Any], *, study: str, device_id: str,
                              at: datetime, subject: str, gateway_id: str, actor: Actor,
                              ) -> tuple[EnrollmentRow | None, int]:
    """:func:`move_device` with its audit entry; in the caller's transaction."""
    ended, new_id = await move_device(conn, study=study, device_id=device_id, at=at,
                                      subject=subject, gateway_id=gateway_id)
    await audit.append(conn, actor=actor.id, role=actor.role, action="move",
                       entity_type="device", entity_id=device_id, reason=actor.reason,
                       details={"study": study, "at": at.isoformat(),
                                "from_subject": ended.subject if ended else None,
                                "ended_enrollment": ended.id if ended else None,
                                "to_subject": subject, "gateway": gateway_id,
                                "new_enrollment": new_id})
    return ended, new_id


async def end_enrollment_audited(conn: AsyncConnection[Any], *, study: str, device_id: str,
                                 at: datetime, actor: Actor) -> EnrollmentRow | None:
    """:func:`end_enrollment` with its audit entry; in the caller's transaction."""
    ended = await end_enrollment(conn, study=study, device_id=device_id, at=at)
    if ended is not None:
        await audit.append(conn, actor=actor.id, role=actor.role, action="end_enrollment",
                           entity_type="enrollment", entity_id=str(ended.id),
                           reason=actor.reason,
                           details={"study": study, "device": device_id,
                                    "subject": ended.subject,
                                    "old_end": ended.end.isoformat() if ended.end else None,
                                    "new_end": at.isoformat()})
    return ended


async def set_subject_zone_audited(conn: AsyncConnection[Any], *, study: str, subject: str,
                                   zone: str, since: datetime, actor: Actor) -> str | None:
    """:func:`set_subject_zone` with its audit entry; in the caller's transaction."""
    before = await set_subject_zone(conn, study=study, subject=subject, zone=zone, since=since)
    if before is not None:
        await audit.append(conn, actor=actor.id, role=actor.role, action="time_zone",
                           entity_type="subject", entity_id=subject, reason=actor.reason,
                           details={"study": study, "since": since.isoformat(),
                                    "old": before, "new": zone})
    return before
