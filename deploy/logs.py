"""Log output of every trialwire process: one line per event, JSON (for collectors) or
plain text (for a terminal), configured once by the entry point.

Modules keep using ``logging.getLogger(__name__)`` with %-style arguments; structlog's
``ProcessorFormatter`` renders those stdlib records, so library logs (faust, aiokafka,
uvicorn) come out in the same format. Log lines carry pseudonymous codes only (subject,
device, gateway ids): the platform holds no names or dates of birth to leak.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]
# Tracebacks as JSON, without local variables: locals may hold readings or tokens.
_DICT_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False))


class LogSettings(BaseSettings):
    """``TRIALWIRE_LOG_FORMAT`` (auto: console on a terminal, else JSON) and ``_LEVEL``."""

    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_LOG_", extra="ignore")

    format: LogFormat = "auto"
    level: str | None = None  # overrides the command's default level


def configure_logging(default_level: str = "INFO", *, process: str,
                      settings: LogSettings | None = None) -> None:
    """Route every stdlib log record to stderr in the configured format.

    ``process`` names the emitting process (``stream-worker``, ``api``, ``gateway``) in
    every line, so logs merged by a collector stay attributable.
    """
    settings = settings or LogSettings()
    json_lines = settings.format == "json" or (settings.format == "auto"
                                               and not sys.stderr.isatty())
    level = (settings.level or default_level).upper()
    shared: list[structlog.typing.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder(
            {structlog.processors.CallsiteParameter.PROCESS}),
        lambda _logger, _name, event: {**event, "service": process},
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *((_DICT_TRACEBACKS, structlog.processors.JSONRenderer())
              if json_lines else
              (structlog.processors.format_exc_info, structlog.dev.ConsoleRenderer(colors=False))),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO: a gateway's uploads and long-polls would bury its
    # own lines. DEBUG shows them again.
    quiet = logging.getLevelName(level) != logging.DEBUG
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING if quiet else logging.DEBUG)

