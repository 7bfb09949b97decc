"""Console output shared by the CLI commands (rich on stderr for messages, stdout for data)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print an error in red and exit with ``code``; the message is shown as written (its
    brackets, e.g. an extra's name or an exception's text, are not read as markup)."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)
