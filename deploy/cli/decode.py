"""``trialwire decode``: decode GATT characteristic values to JSON (one value or a capture)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import msgspec
import typer

from deploy.cli.output import console
from devices.errors import DecodeError
from devices.gatt.registry import DecodeContext, decode


def _parse_hex(text: str) -> bytes:
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise DecodeError(f"{text!r} is not hexadecimal bytes", reason="bad_hex") from None


def _parse_context(raw: Any) -> DecodeContext:
    if raw is None:
        return DecodeContext()
    try:
        if isinstance(raw, str):
            return msgspec.json.decode(raw.encode(), type=DecodeContext)
        return msgspec.convert(raw, DecodeContext)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DecodeError(f"bad context: {exc}", reason="bad_context") from None


def decode_one(characteristic: str, hex_value: str, context: Any = None) -> dict[str, Any]:
    """The result object for one value: valid with fields/readings, or invalid with an error."""
    try:
        return decode(characteristic, _parse_hex(hex_value), _parse_context(context)).to_json()
    except DecodeError as exc:
        return {"valid": False, "error": str(exc), "reason": exc.reason}


def decode_line(line: str, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"valid": False, "error": f"line {number}: not JSON: {exc.msg}", "reason": "bad_json"}
    if not isinstance(item, dict) or not isinstance(item.get("characteristic"), str) \
            or not isinstance(item.get("hex"), str):
        return {"valid": False, "reason": "bad_line",
                "error": f'line {number}: expected {{"characteristic": ..., "hex": ...}}'}
    return decode_one(item["characteristic"], item["hex"], item.get("context"))


def command(
    characteristic: Annotated[
        str | None, typer.Argument(help="16-bit UUID like 0x2A37, or a 128-bit UUID.")
    ] = None,
    hex_value: Annotated[str | None, typer.Argument(metavar="HEX", help="The value in hex.")] = None,
    context: Annotated[
        str | None,
        typer.Option(help='JSON, e.g. {"e2e_crc_supported": true, "service": "cgm"}.'),
    ] = None,
    batch: Annotated[
        bool,
        typer.Option(help='Read JSON lines {"characteristic", "hex", "context"?} from stdin; '
                          "write one result per line."),
    ] = False,
) -> None:
    """Decode a characteristic value; invalid input prints {"valid": false, ...} and exits 2."""
    if batch:
        if characteristic or hex_value:
            console.print("[red]error:[/] --batch reads stdin; give no CHARACTERISTIC/HEX")
            raise typer.Exit(2)
        valid = invalid = 0
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            result = decode_line(line, number)
            valid, invalid = (valid + 1, invalid) if result["valid"] else (valid, invalid + 1)
            sys.stdout.write(json.dumps(result) + "\n")
        console.print(f"decoded {valid} value(s), {invalid} invalid")
        return
    if characteristic is None or hex_value is None:
        console.print("[red]error:[/] give CHARACTERISTIC and HEX, or --batch")
        raise typer.Exit(2)
    result = decode_one(characteristic, hex_value, context)
    print(json.dumps(result))
    if not result["valid"]:
        raise typer.Exit(2)
