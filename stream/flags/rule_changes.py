"""Changing a study's rule: the study's override of it merged with the fields set, under
the rule's next version, validated as the worker will load it (``config.py``), stored
with who and why (``storage/study_rules.py``) and audited with the old and new
definitions. Shared by the API (``PUT …/rules/{rule_id}``) and ``trialwire study rule``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from storage import audit, study_rules
from stream.flags.config import (
    RuleConfigError,
    default_definitions,
    load_rules,
    merged_definitions,
    study_overrides,
)

FIXED = ("kind", "version")  # the kind is the rule's; the version is counted here


class RuleChangeError(ValueError):
    """A change that cannot be made; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RuleChanged:
    rule_id: str
    before: dict[str, Any]  # the rule's whole definition before
    after: dict[str, Any]  # and after (with the new version)
    overrides: dict[str, Any]  # the study's overrides now


async def change_rule(conn: AsyncConnection[Any], *, study: str, rule_id: str,
                      fields: dict[str, Any], actor: str, role: str,
                      reason: str) -> RuleChanged:
    """Apply ``fields`` to the study's rule as its next version (in the caller's
    transaction). Raises RuleChangeError: ``no_study``, ``no_rule``, ``fixed_field``,
    ``invalid``."""
    if fixed := [k for k in FIXED if k in fields]:
        raise RuleChangeError("fixed_field", f"{', '.join(fixed)} cannot be set: the version "
                                             "is counted here, the kind is the rule's")
    settings = await study_rules.settings(conn, study=study, lock=True)
    if settings is None:
        raise RuleChangeError("no_study", f"study {study} not found")
    defaults = default_definitions()
    overrides = study_overrides(settings)
    before = merged_definitions(overrides, defaults)
    if rule_id not in before:
        raise RuleChangeError("no_rule", f"no rule {rule_id}")
    definition = {**overrides.get(rule_id, {}), **fields,
                  "version": int(before[rule_id].get("version", 1)) + 1}
    changed = {**overrides, rule_id: definition}
    try:
        load_rules(changed, defaults)
    except (RuleConfigError, ValueError) as exc:
        raise RuleChangeError("invalid", str(exc)) from None
    await study_rules.set_rule(conn, study=study, rule_id=rule_id, definition=definition,
                               actor=actor, reason=reason)
    after = merged_definitions(changed, defaults)[rule_id]
    await audit.append(conn, actor=actor, role=role, action="rule_change",
                       entity_type="study_rule", entity_id=f"{study}/{rule_id}", reason=reason,
                       details={"study": study, "old": before[rule_id], "new": after})
    return RuleChanged(rule_id, before[rule_id], after, changed)
