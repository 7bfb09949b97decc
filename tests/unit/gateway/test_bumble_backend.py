"""The bumble backend: its errors reach the gateway as the errors bleak raises on BlueZ
(a GATT timeout escaped the session's handling before and ended a device's capture for
good), and every gateway on a hub has its own address."""

from __future__ import annotations

import pytest
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, core

from gateway.ble.bumble_backend import _att_errors, static_address_for


def test_a_gatt_timeout_is_the_builtin_timeout() -> None:
    with pytest.raises(TimeoutError, match="GATT timeout"), _att_errors():
        raise core.TimeoutError("GATT timeout for ATT_READ_REQUEST")


def test_an_att_error_response_keeps_its_code() -> None:
    with pytest.raises(BleakGATTProtocolError) as caught, _att_errors():
        raise att.ATT_Error(att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR)
    assert caught.value.code == att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR


def test_other_bumble_errors_are_bleak_errors() -> None:
    with pytest.raises(BleakError), _att_errors():
        raise core.InvalidStateError("not connected")


def test_each_gateway_gets_its_own_static_address() -> None:
    first, second = static_address_for("gateway GW-0001"), static_address_for("gateway GW-0002")
    assert first != second
    assert first == static_address_for("gateway GW-0001")  # stable across restarts
    assert int(first[:2], 16) & 0xC0 == 0xC0  # a random static address
