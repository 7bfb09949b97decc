"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where embedded services keep their data "
        "(default: $TRIALWIRE_DATA_DIR or the user data directory).",
        file_okay=False,
    ),
]
