"""``python -m gateway --config F --data-dir D``: the gateway daemon without the platform's
CLI (a systemd unit on a hub with only the ``gateway`` extra can use either)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gateway.ble import Backend
from gateway.config import load_config
from gateway.daemon import DaemonOptions, run
from gateway.errors import GatewayError
from stream.kafka.settings import KafkaSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="gateway config (YAML/JSON)")
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="where the spool and status.json live")
    parser.add_argument("--backend", type=Backend, choices=list(Backend),
                        default=Backend.BLEAK_DEFAULT)
    parser.add_argument("--hub", help="HOST:PORT of the Bluetooth hub (bumble backend)")
    parser.add_argument("--metrics-port", type=int)
    parser.add_argument("--metrics-host", default="127.0.0.1")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the daemon; exit 2 with a message on a bad configuration."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    try:
        options = DaemonOptions(config=load_config(args.config), kafka=KafkaSettings(),
                                data_dir=args.data_dir, backend=args.backend, hub=args.hub,
                                metrics_port=args.metrics_port, metrics_host=args.metrics_host)
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    run(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
