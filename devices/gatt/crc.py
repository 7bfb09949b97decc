"""CGMS E2E-CRC: CRC-16/MCRF4XX (reflected 0x1021 = 0x8408, init 0xFFFF), little-endian.

Three vendor stacks (Nordic, Cypress, Silicon Labs) agree on this form; check value for
b"123456789" is 0x6F91 (see shared/ble-profiles.md §4.2).
"""

from __future__ import annotations


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc16_mcrf4xx(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc
