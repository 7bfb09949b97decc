"""Which rules apply to which study: defaults (or a rules file) plus each study's overrides,
cached and re-read from the registry every ``max_age_s``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection

from storage.queries.registry import study_settings
from stream.flags.config import RuleSpec, default_definitions, load_rules, study_overrides


class RuleBook:
    def __init__(self, definitions: dict[str, dict[str, Any]] | None = None,
                 max_age_s: float = 60.0) -> None:
        self.definitions = definitions if definitions is not None else default_definitions()
        self.max_age_s = max_age_s
        self._default = load_rules(defaults=self.definitions)
        self._by_study: dict[str, dict[str, RuleSpec]] = {}
        self._loaded_at: dict[str, float] = {}

    async def refresh(self, conn: AsyncConnection[object], studies: Iterable[str]) -> None:
        """Re-read the settings of the given studies whose cached rules are stale."""
        now = time.monotonic()
        stale = sorted(s for s in set(studies)
                       if now - self._loaded_at.get(s, -1e9) > self.max_age_s)
        if not stale:
            return
        for code, settings in (await study_settings(conn, studies=stale)).items():
            overrides = study_overrides(settings)
            self._by_study[code] = (load_rules(overrides, self.definitions) if overrides
                                    else self._default)
        for code in stale:
            self._loaded_at[code] = now

    def rules(self, study: str) -> dict[str, RuleSpec]:
        return self._by_study.get(study, self._default)
