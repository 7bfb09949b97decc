"""Record Access Control Point 0x2A52, shared by GLS, CGMS and PLXS (``ble-profiles.md`` §3.4).

Requests: ``op code | operator | operand``. The operand's filter values depend on the
service: GLS filters by sequence number (u16) or user-facing time (Date Time); CGMS by
time offset (u16 minutes). Responses arrive as indications on the same characteristic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Literal

from devices.gatt._codec import Reader, Writer
from devices.gatt.date_time import read_date_time
from devices.model import Reading

UUID_RACP = 0x2A52

Service = Literal["glucose", "cgm", "plx"]


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_RECORDS = 0x04
    NUMBER_OF_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class Operator(IntEnum):
    NULL = 0x00
    ALL = 0x01
    LESS_OR_EQUAL = 0x02
    GREATER_OR_EQUAL = 0x03
    WITHIN_RANGE = 0x04
    FIRST = 0x05
    LAST = 0x06


class FilterType(IntEnum):
    SEQUENCE_NUMBER = 0x01  # GLS; for CGMS 0x01 means time offset
    USER_FACING_TIME = 0x02


class ResponseCode(IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09
    SERVER_BUSY = 0x0A


FilterValue = int | datetime


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request written by the collector (op codes 0x01-0x04)."""

    op_code: OpCode
    operator: Operator
    filter_type: FilterType | None = None
    values: tuple[FilterValue, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes, service: Service = "glucose") -> RacpRequest:
        r = Reader(data, "Record Access Control Point request")
        op = r.u8("op code")
        try:
            op_code = OpCode(op)
        except ValueError:
            raise r.fail(f"op code 0x{op:02X} is not defined", "unsupported") from None
        if op_code in (OpCode.NUMBER_OF_RECORDS_RESPONSE, OpCode.RESPONSE_CODE):
            raise r.fail(f"op code 0x{op:02X} is a response, not a request")
        raw_operator = r.u8("operator")
        try:
            operator = Operator(raw_operator)
        except ValueError:
            raise r.fail(f"operator 0x{raw_operator:02X} is not defined", "unsupported") from None
        if op_code == OpCode.ABORT_OPERATION:
            if operator != Operator.NULL:
                raise r.fail("abort takes the Null operator")
            r.done()
            return cls(op_code, operator)
        if operator == Operator.NULL:
            raise r.fail(f"{op_code.name.lower()} needs an operator other than Null")
        if operator in (Operator.ALL, Operator.FIRST, Operator.LAST):
            r.done()
            return cls(op_code, operator)
        raw_filter = r.u8("filter type")
        filter_type = _filter_type(r, raw_filter, service)
        count = 2 if operator == Operator.WITHIN_RANGE else 1
        values = tuple(_read_filter_value(r, filter_type, i) for i in range(count))
        r.done()
        if count == 2 and values[0] > values[1]:  # type: ignore[operator]
            raise r.fail("range minimum is greater than its maximum")
        return cls(op_code, operator, filter_type, values)

    def __bytes__(self) -> bytes:
        w = Writer().u8(int(self.op_code)).u8(int(self.operator))
        if self.filter_type is not None:
            w.u8(int(self.filter_type))
            for value in self.values:
                if isinstance(value, datetime):
                    w.date_time(value)
                else:
                    w.u16(value)
        return bytes(w)

    def readings(self) -> list[Reading]:
        return []


def _filter_type(r: Reader, raw: int, service: Service) -> FilterType:
    allowed = {FilterType.SEQUENCE_NUMBER} if service in ("cgm", "plx") else set(FilterType)
    if raw not in {int(f) for f in allowed}:
        raise r.fail(f"filter type 0x{raw:02X} is not defined for the {service} service",
                     "unsupported")
    return FilterType(raw)


def _read_filter_value(r: Reader, filter_type: FilterType, i: int) -> FilterValue:
    if filter_type == FilterType.USER_FACING_TIME:
        value = read_date_time(r, f"filter time {i}")
        if value is None:
            raise r.fail("filter time must not be 'unknown'")
        return value
    return r.u16(f"filter value {i}")


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """An indication from the server: number of records (0x05) or a response code (0x06)."""

    op_code: OpCode
    number_of_records: int | None = None
    request_op_code: int | None = None
    response: ResponseCode | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> RacpResponse:
        r = Reader(data, "Record Access Control Point response")
        op = r.u8("op code")
        operator = r.u8("operator")
        if operator != Operator.NULL:
            raise r.fail(f"responses carry the Null operator, got 0x{operator:02X}")
        if op == OpCode.NUMBER_OF_RECORDS_RESPONSE:
            count = r.u16("number of records")
            r.done()
            return cls(OpCode.NUMBER_OF_RECORDS_RESPONSE, number_of_records=count)
        if op == OpCode.RESPONSE_CODE:
            request = r.u8("request op code")
            code = r.u8("response code value")
            r.done()
            try:
                response = ResponseCode(code)
            except ValueError:
                raise r.fail(f"response code 0x{code:02X} is not defined", "unsupported") from None
            return cls(OpCode.RESPONSE_CODE, request_op_code=request, response=response)
        raise r.fail(f"op code 0x{op:02X} is not a response")

    def __bytes__(self) -> bytes:
        w = Writer().u8(int(self.op_code)).u8(0)
        if self.op_code == OpCode.NUMBER_OF_RECORDS_RESPONSE:
            w.u16(self.number_of_records or 0)
        else:
            w.u8(self.request_op_code or 0).u8(int(self.response or 0))
        return bytes(w)

    def readings(self) -> list[Reading]:
        return []


def decode_racp(data: bytes, service: Service = "glucose") -> RacpRequest | RacpResponse:
    """Requests and responses share the characteristic; the op code tells them apart."""
    if data[:1] in (b"\x05", b"\x06"):
        return RacpResponse.from_bytes(data)
    return RacpRequest.from_bytes(data, service)


def report_from(value: int) -> RacpRequest:
    """"Report stored records ≥ value" (GLS sequence number, CGMS time offset)."""
    return RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.GREATER_OR_EQUAL,
                       FilterType.SEQUENCE_NUMBER, (value,))
