"""The gateway's Prometheus metrics are read from its status at scrape time."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from gateway.metrics import GatewayCollector
from stream.contract.status import DeviceStatus, GatewayStatus, SpoolStatus, UploadStatus


def test_status_figures_become_metrics() -> None:
    status = GatewayStatus(
        gateway_id="GW-1", subject="S-1", at=datetime(2026, 12, 1, tzinfo=UTC),
        devices=[DeviceStatus(device_id="DEV-CGM-1", device_type="cgm", connected=True,
                              battery=81.0, readings=42, malformed={"truncated": 2})],
        spool=SpoolStatus(items=7, unbatched=3, dropped={"low": 1}),
        upload=UploadStatus(broker_reachable=True, batches_sent=5,
                            ack_latency_ms={"p50": 210.0, "p99": 320.0, "count": 9}))
    registry = CollectorRegistry()
    registry.register(GatewayCollector(lambda: status))
    value = registry.get_sample_value
    assert value("trialwire_gateway_readings_total", {"device": "DEV-CGM-1"}) == 42
    assert value("trialwire_gateway_malformed_total",
                 {"device": "DEV-CGM-1", "reason": "truncated"}) == 2
    assert value("trialwire_gateway_device_connected", {"device": "DEV-CGM-1"}) == 1
    assert value("trialwire_gateway_spool", {"state": "items"}) == 7
    assert value("trialwire_gateway_spool_dropped_total", {"priority": "low"}) == 1
    assert value("trialwire_gateway_batches_sent_total") == 5
    assert value("trialwire_gateway_broker_reachable") == 1
    assert value("trialwire_gateway_ack_latency_ms", {"quantile": "p99"}) == 320
