"""``trialwire alerts``: clear one-line errors for bad options and an unreachable database."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from deploy.cli import app

runner = CliRunner()


def test_an_unreachable_database_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("TRIALWIRE_DATABASE_URL", f"postgresql://u:p@127.0.0.1:{port}/db")
    result = runner.invoke(app, ["alerts", "run"])
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "says"), [
    (["--webhook", "https://x.example/h", "--email", "a@b.example"], "exactly one of"),
    (["--webhook", "ftp://x.example/h"], "http(s) URL"),
    (["--email", "nobody"], "e-mail address"),
    (["--webhook", "https://x.example/h", "--min-severity", "urgent"], "--min-severity"),
    (["--webhook", "https://x.example/h", "--quiet", "22:00-07:00@Mars/Olympus"], "--quiet"),
])
def test_bad_channel_options_are_refused_before_any_connection(args: list[str],
                                                               says: str) -> None:
    result = runner.invoke(app, ["alerts", "channel", "add", "--study", "ST-1", "--name", "n",
                                 *args])
    assert result.exit_code == 1
    assert says in result.output
