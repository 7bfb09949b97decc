"""``trialwire study``: a study's flag rules (list, change: the rule's next version) and
its daily wear minimums, each change audited with the reason, as the API's
``…/rules`` and ``…/wear-minimums`` routes do."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from deploy.cli.connections import run_on_database
from deploy.cli.options import DataDirOption
from deploy.cli.output import fail

T = TypeVar("T")

app = typer.Typer(help="A study's flag rules and wear minimums.", no_args_is_help=True)


def _run(data_dir: Any, work: Callable[[Any], Awaitable[T]]) -> T:
    from stream.flags.rule_changes import RuleChangeError

    return run_on_database(data_dir, work, refused=(RuleChangeError,))


def _value(text: str) -> Any:
    """A ``--set`` value: JSON (130, 0.5, true, "<"), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@app.command("rules")
def list_rules(study: Annotated[str, typer.Option(help="Study code.")],
               data_dir: DataDirOption = None) -> None:
    """The rules as they apply to the study now, one JSON line each."""
    from storage import study_rules
    from stream.flags.config import default_definitions, merged_definitions, study_overrides

    found = _run(data_dir, lambda conn: study_rules.settings(conn, study=study))
    if found is None:
        fail(f"no study {study!r}")
    overrides = study_overrides(found)
    for rule_id, raw in sorted(merged_definitions(overrides, default_definitions()).items()):
        print(json.dumps({"rule_id": rule_id, **raw, "changed_for_study": rule_id in overrides}))


@app.command("rule")
def change_rule(
    study: Annotated[str, typer.Option(help="Study code.")],
    rule: Annotated[str, typer.Option(help="Rule id, e.g. hr_tachycardia.")],
    set_: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE (repeatable), e.g. "
                                            "threshold=130 or enabled=false.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    operator: Annotated[str, typer.Option(help="Who makes the change.")] = "cli",
    data_dir: DataDirOption = None,
) -> None:
    """Change some fields of a study's rule: its next version, validated as the worker
    loads it; prints the new definition as JSON."""
    from stream.flags.rule_changes import change_rule as apply

    fields: dict[str, Any] = {}
    for item in set_:
        name, eq, text = item.partition("=")
        if not eq or not name.strip():
            fail(f"--set {item!r}: expected FIELD=VALUE")
        fields[name.strip()] = _value(text)
    if not reason.strip() or "\x00" in reason:
        fail("--reason must say why (it goes to the audit trail)")
    done = _run(data_dir, lambda conn: apply(conn, study=study, rule_id=rule, fields=fields,
                                             actor=f"cli:{operator}", role="admin",
                                             reason=reason))
    print(json.dumps({"rule_id": rule, **done.after}))


@app.command("wear-minimums")
def wear_minimums(
    study: Annotated[str, typer.Option(help="Study code.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    wear_minutes: Annotated[int | None, typer.Option(
        min=0, max=1440, help="Minimum daily wear time in minutes (omit: none).")] = None,
    completeness: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Minimum daily completeness, 0..1 (omit: none).")] = None,
    operator: Annotated[str, typer.Option(help="Who makes the change.")] = "cli",
    data_dir: DataDirOption = None,
) -> None:
    """Set the daily minimums under which a subject's day becomes a protocol deviation."""
    from storage import study_rules

    done = _run(data_dir, lambda conn: study_rules.change_wear_minimums(
        conn, study=study, actor=f"cli:{operator}", role="admin", reason=reason,
        minimums={"min_daily_wear_minutes": wear_minutes,
                  "min_daily_completeness": completeness}))
    if done is None:
        fail(f"no study {study!r}")
    print(json.dumps({"old": done[0], "new": done[1]}))
