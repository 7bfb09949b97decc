"""Console output shared by the CLI commands (rich on stderr for messages, stdout for data)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape


class _MessageConsole(Console):
    """rich's console, except that a reader gone away (a closed pipe or terminal) raises
    BrokenPipeError, which a long-running command handles by shutting down in order,
    instead of rich's immediate SystemExit(1); later messages are dropped."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError("the output's reader went away")


console = _MessageConsole(stderr=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print an error in red and exit with ``code``; the message is shown as written (its
    brackets, e.g. an extra's name or an exception's text, are not read as markup)."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)
