"""Console output shared by the CLI commands (rich on stderr for messages, stdout for data)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console(stderr=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print an error in red and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
