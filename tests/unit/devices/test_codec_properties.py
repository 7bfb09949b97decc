"""Property tests: encode→decode is the identity for every codec, and random bytes never
raise anything but DecodeError from any decoder."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.gatt.registry import CODECS, DecodeContext, decode
from tests.unit.devices.strategies import ROUND_TRIPS

CONTEXTS = [
    DecodeContext(),
    DecodeContext(e2e_crc_supported=True, service="cgm"),
    DecodeContext(e2e_crc_supported=False, service="glucose"),
    DecodeContext(service="plx"),
]


@pytest.mark.parametrize(("name", "strategy", "decoder"), ROUND_TRIPS,
                         ids=[name for name, _, _ in ROUND_TRIPS])
def test_round_trip(name: str, strategy: st.SearchStrategy[Any], decoder: Any) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(strategy)
    def check(value: Any) -> None:
        encoded = bytes(value)
        assert decoder(encoded) == value
        assert bytes(decoder(encoded)) == encoded

    check()


@pytest.mark.parametrize("uuid", sorted(CODECS), ids=[c.name for _, c in sorted(CODECS.items())])
def test_random_bytes_only_raise_decode_error(uuid: str) -> None:
    codec = CODECS[uuid]

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=40), st.sampled_from(CONTEXTS))
    def check(data: bytes, ctx: DecodeContext) -> None:
        error: DecodeError | None = None
        try:
            value = codec.decode(data, ctx)  # the raw decoder: no catch-all in between
        except DecodeError as exc:
            error = exc
        if error is not None:
            assert str(error)
            assert error.reason
            return
        decoded = decode(uuid, data, ctx)  # readings/JSON of an accepted value work too
        decoded.to_json()
        assert value is not None

    check()
