"""The audit trail's hash chain: intact when appended, broken where someone tampered."""

from __future__ import annotations

import psycopg
import pytest

from storage import audit

pytestmark = pytest.mark.integration


async def test_chain_verifies_and_detects_tampering(db: psycopg.AsyncConnection[object]) -> None:
    for i in range(5):
        await audit.append(db, actor=f"tok{i}", role="monitor", action="acknowledge",
                           entity_type="flag", entity_id=str(i), reason="reviewed",
                           details={"from": "open", "to": "acknowledged", "n": i})
    await db.commit()
    assert await audit.verify(db) == audit.Verification(True, 5)
    # Updates are refused by the trigger ...
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        await db.execute("UPDATE audit_log SET reason = 'x' WHERE id = 3")
    await db.rollback()
    # ... so a tamperer must switch it off first; the chain still tells.
    await db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    await db.execute("UPDATE audit_log SET reason = 'nothing to see' WHERE entity_id = '2'")
    await db.commit()
    result = await audit.verify(db)
    assert (result.ok, result.problem) == (False, "hash does not match the entry's content")
    third = await (await db.execute("SELECT id FROM audit_log WHERE entity_id = '2'")).fetchone()
    assert result.first_bad_id == third[0]
    await db.execute("DELETE FROM audit_log WHERE entity_id = '2'")
    await db.commit()
    gone = await audit.verify(db)
    assert (gone.ok, gone.problem) == (False, "prev_hash does not match the entry before")
