"""Every process logs one JSON object per line (or plain text on a terminal), library
records included, with the process named and tracebacks without local variables."""

from __future__ import annotations

import json
import logging

import pytest

from deploy.logs import LogSettings, configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_name_the_process_and_keep_percent_arguments(capsys) -> None:
    configure_logging("INFO", process="gateway", settings=LogSettings(format="json"))
    logging.getLogger("gateway.uploader").info("sent %d batch(es) for %s", 3, "S-0001")
    logging.getLogger("aiokafka").debug("not shown at INFO")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "sent 3 batch(es) for S-0001"
    assert (event["level"], event["logger"], event["service"]) == ("info", "gateway.uploader",
                                                                   "gateway")
    assert event["timestamp"].endswith("Z")


def test_tracebacks_carry_no_local_variables(capsys) -> None:
    configure_logging("INFO", process="api", settings=LogSettings(format="json"))
    secret = "tw_abc_should-not-appear"
    try:
        raise ValueError("bad input")
    except ValueError:
        logging.getLogger("api").exception("request failed (%d chars)", len(secret))
    text = capsys.readouterr().err
    event = json.loads(text)
    assert event["exception"][0]["exc_type"] == "ValueError"
    assert secret not in text


def test_the_level_setting_overrides_the_command_default(capsys) -> None:
    configure_logging("WARNING", process="gateway",
                      settings=LogSettings(format="console", level="debug"))
    logging.getLogger("gateway").debug("shown")
    assert "shown" in capsys.readouterr().err
