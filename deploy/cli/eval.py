"""``trialwire eval``: whole-pipeline evaluations that print JSON."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deploy.cli.output import fail

app = typer.Typer(help="Whole-pipeline evaluations; each prints one JSON object.",
                  no_args_is_help=True)


@app.command()
def flags(
    scenarios: Annotated[str, typer.Option(
        help="Comma-separated scenarios (hypo, hyper, tachycardia, bradycardia, "
             "desaturation, af, fever, baseline).")] = "hypo,tachycardia,desaturation",
    seeds: Annotated[int, typer.Option(help="Homes (subjects) per scenario.")] = 3,
) -> None:
    """Run scenarios through the real pipeline; score flags against ground truth."""
    from deploy.eval.flags import run

    names = [s.strip() for s in scenarios.split(",") if s.strip()]
    if seeds < 1:
        fail("--seeds must be at least 1")
    try:
        result = run(names, seeds)
    except ValueError as exc:
        fail(str(exc))
    print(json.dumps(result, indent=2, default=str))
