"""``trialwire subject``: a subject's participation (screening, active, paused, withdrawn,
completed), changed with a reason that goes to the audit trail, as
``POST /v1/studies/{study}/subjects/{subject}/status`` does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from deploy.cli.connections import run_on_database
from deploy.cli.options import DataDirOption
from deploy.cli.output import fail

app = typer.Typer(help="A subject's participation in a study.", no_args_is_help=True)


@app.command("status")
def change_status(
    study: Annotated[str, typer.Option(help="Study code.")],
    subject: Annotated[str, typer.Option(help="Subject code.")],
    to: Annotated[str, typer.Option(
        help="screening, active, paused, withdrawn or completed.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    operator: Annotated[str, typer.Option(
        help="Who makes the change (recorded as the audit entry's actor).")] = "cli",
    data_dir: DataDirOption = None,
) -> None:
    """Change the subject's status now; prints the change as JSON. Withdrawing applies the
    study's withdrawal policy (retain, or delete with the counts recorded)."""
    from storage.subject_lifecycle import STATUSES, LifecycleError, change_status_audited

    if to not in STATUSES:
        fail(f"--to must be one of {', '.join(STATUSES)}")
    if not reason.strip() or "\x00" in reason:
        fail("--reason must say why (it goes to the audit trail)")
    done = run_on_database(data_dir, lambda conn: change_status_audited(
        conn, study=study, subject=subject, to=to, at=datetime.now(UTC),
        actor=f"cli:{operator}", role="admin", reason=reason), refused=(LifecycleError,))
    if done is None:
        fail(f"no subject {subject} in study {study}")
    print(json.dumps({"subject": done.subject, "previous": done.previous, "status": done.status,
                      "since": done.since.isoformat(), "withdrawal_policy": done.policy,
                      "deleted": done.deleted, "gateways_told": done.gateways}))
