"""The numpy dumper of waveform samples writes exactly what psycopg's own real[] dumper
writes, so PostgreSQL reads the same array."""

from __future__ import annotations

import math

import psycopg
import pytest
from psycopg.adapt import Transformer
from psycopg.pq import Format

from storage.sample_arrays import FLOAT4_ARRAY_OID, Float4ArrayBinaryDumper


@pytest.mark.parametrize("samples", [[1.0], [0.0, -2.5, 3.25, 1e-3, -1200.0, 7.0e30],
                                     [float(i) for i in range(-500, 500)]])
def test_same_bytes_as_psycopg(samples: list[float]) -> None:
    reference = Transformer()  # what a binary COPY with set_types(["float4[]"]) uses
    reference.set_dumper_types([FLOAT4_ARRAY_OID], Format.BINARY)
    expected = bytes(reference.dump_sequence([samples], [Format.BINARY])[0])
    assert Float4ArrayBinaryDumper(list).dump(samples) == expected


@pytest.mark.parametrize("bad", [[1.0, math.nan], [math.inf], [1e39]])
def test_unstorable_samples_are_a_data_error(bad: list[float]) -> None:
    with pytest.raises(psycopg.DataError):
        Float4ArrayBinaryDumper(list).dump(bad)
