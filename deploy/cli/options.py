"""Options shared by several commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from deploy.cli.output import fail

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where embedded services keep their data "
        "(default: $TRIALWIRE_DATA_DIR or the user data directory).",
        file_okay=False,
    ),
]


def parse_utc(text: str, option: str) -> datetime:
    """An ISO date-time with a time zone, or a clean CLI error naming ``option``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO date-time")
    if value.tzinfo is None:
        fail(f"{option} needs a time zone (e.g. +00:00)")
    return value
