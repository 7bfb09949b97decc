"""A device record store answering Record Access Control Point requests (GLS and CGMS).

Records are kept with their key (GLS sequence number, CGMS time offset). "Report stored
records" notifies each matching record oldest first, then indicates the response code;
a request while one runs is refused; "abort" stops a transfer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from devices.errors import DecodeError
from devices.gatt import racp


@dataclass
class RecordStore:
    service: racp.Service
    send_record: Callable[[int, bytes], Awaitable[bool]]  # (key, payload) -> sent
    send_response: Callable[[bytes], Awaitable[bool]]
    records: dict[int, bytes] = field(default_factory=dict)
    # The next N requests are refused as "server busy": a store still serving a request
    # whose link is gone (for tests of the collector's retry).
    busy_next: int = 0
    _busy: bool = False
    _abort: bool = False

    def add(self, key: int, payload: bytes) -> None:
        self.records[key] = payload

    def _select(self, request: racp.RacpRequest) -> list[int]:
        keys = sorted(self.records)
        op = request.operator
        if op == racp.Operator.ALL:
            return keys
        if op == racp.Operator.FIRST:
            return keys[:1]
        if op == racp.Operator.LAST:
            return keys[-1:]
        values = [int(v) for v in request.values]  # type: ignore[arg-type]
        if op == racp.Operator.GREATER_OR_EQUAL:
            return [k for k in keys if k >= values[0]]
        if op == racp.Operator.LESS_OR_EQUAL:
            return [k for k in keys if k <= values[0]]
        return [k for k in keys if values[0] <= k <= values[1]]

    async def _respond(self, op: int, code: racp.ResponseCode) -> None:
        await self.send_response(bytes(racp.RacpResponse(
            racp.OpCode.RESPONSE_CODE, request_op_code=op, response=code)))

    async def handle(self, data: bytes) -> None:
        try:
            request = racp.RacpRequest.from_bytes(data, self.service)
        except DecodeError as exc:
            op = data[0] if data else 0
            code = (racp.ResponseCode.OP_CODE_NOT_SUPPORTED if exc.reason == "unsupported"
                    and "op code" in str(exc) else racp.ResponseCode.INVALID_OPERAND)
            await self._respond(op, code)
            return
        if request.op_code == racp.OpCode.ABORT_OPERATION:
            self._abort = True
            await self._respond(request.op_code, racp.ResponseCode.SUCCESS)
            return
        if request.filter_type == racp.FilterType.USER_FACING_TIME:
            await self._respond(request.op_code, racp.ResponseCode.OPERAND_NOT_SUPPORTED)
            return
        if self._busy or self.busy_next > 0:
            self.busy_next = max(0, self.busy_next - 1)
            await self._respond(request.op_code, racp.ResponseCode.SERVER_BUSY)
            return
        selected = self._select(request)
        if request.op_code == racp.OpCode.REPORT_NUMBER_OF_RECORDS:
            await self.send_response(bytes(racp.RacpResponse(
                racp.OpCode.NUMBER_OF_RECORDS_RESPONSE, number_of_records=len(selected))))
            return
        if request.op_code == racp.OpCode.DELETE_STORED_RECORDS:
            for key in selected:
                del self.records[key]
            await self._respond(request.op_code, racp.ResponseCode.SUCCESS)
            return
        if not selected:
            await self._respond(request.op_code, racp.ResponseCode.NO_RECORDS_FOUND)
            return
        self._busy, self._abort = True, False
        try:
            for key in selected:
                if self._abort:
                    await self._respond(request.op_code, racp.ResponseCode.PROCEDURE_NOT_COMPLETED)
                    return
                if not await self.send_record(key, self.records[key]):
                    return  # link gone: the collector will ask again after reconnecting
            await self._respond(request.op_code, racp.ResponseCode.SUCCESS)
        finally:
            self._busy = False
