"""A gateway told that its subject no longer collects (``Gateway.stop_collection``): its
device sessions are asked to end, nothing new is kept in the spool, and it stays stopped
after a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from devices.catalog import DeviceType
from gateway.runner import Gateway
from gateway.spool import PendingItem
from stream.contract.envelope import WireReading
from stream.contract.gateway_config import DeviceEntry, GatewayConfig

CONFIG = GatewayConfig(gateway_id="GW-1", study="ST-1", subject="S-1",
                       api_url="http://127.0.0.1:9", upload="ingest",
                       devices=[DeviceEntry(id="W-1", type=DeviceType.SMARTWATCH,
                                            address="AA:00:00:00:00:01")])


def _item() -> PendingItem:
    at = datetime.now(UTC)
    return PendingItem("W-1", WireReading(seq=1, metric="heart_rate", value=70.0, unit="/min",
                                          time=at, received_at=at))


async def test_a_stopped_gateway_keeps_nothing_new_and_stays_stopped(tmp_path: Path) -> None:
    gateway = Gateway(config=CONFIG, kafka=None, data_dir=tmp_path, token="tw_a_b")
    try:
        gateway.writer.put([_item()])
        gateway.stop_collection("subject S-1 is withdrawn since 2026-12-07T10:00:00+00:00")
        assert all(s._stopping.is_set() for s in gateway.sessions)
        gateway.writer.put([_item(), _item()])
        assert (gateway.writer.discarded, await gateway.writer.flush()) == (2, 1)
    finally:
        gateway.spool.close()
    again = Gateway(config=CONFIG, kafka=None, data_dir=tmp_path, token="tw_a_b")
    try:
        assert again.collection_stopped is not None and "withdrawn" in again.collection_stopped
        assert again.writer.closed
    finally:
        again.spool.close()
