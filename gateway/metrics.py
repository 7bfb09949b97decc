"""Prometheus metrics of the gateway, read from its status at scrape time (one source of
truth: the same figures go to the status topic and ``trialwire gateway status``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from stream.contract.status import GatewayStatus


class GatewayCollector(Collector):
    """Readings captured and malformed per device, spool depth, uploads, ack latency."""

    def __init__(self, status: Callable[[], GatewayStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self._status()
        device = ["device"]
        readings = CounterMetricFamily("trialwire_gateway_readings",
                                       "Readings captured and spooled, by device", labels=device)
        malformed = CounterMetricFamily("trialwire_gateway_malformed",
                                        "Malformed BLE values, by device and reason",
                                        labels=["device", "reason"])
        reconnects = CounterMetricFamily("trialwire_gateway_reconnects",
                                         "Sessions ended (link lost or stale)", labels=device)
        connected = GaugeMetricFamily("trialwire_gateway_device_connected",
                                      "1 while the device is connected", labels=device)
        battery = GaugeMetricFamily("trialwire_gateway_device_battery_percent",
                                    "Last battery level the device reported", labels=device)
        for d in s.devices:
            readings.add_metric([d.device_id], d.readings)
            reconnects.add_metric([d.device_id], d.reconnects)
            connected.add_metric([d.device_id], 1.0 if d.connected else 0.0)
            if d.battery is not None:
                battery.add_metric([d.device_id], d.battery)
            for reason, count in d.malformed.items():
                malformed.add_metric([d.device_id, reason], count)
        yield from (readings, malformed, reconnects, connected, battery)

        spool = GaugeMetricFamily("trialwire_gateway_spool",
                                  "Items in the spool, by state (the upload backlog)",
                                  labels=["state"])
        spool.add_metric(["items"], s.spool.items)
        spool.add_metric(["unbatched"], s.spool.unbatched)
        spool.add_metric(["batches_unacknowledged"], s.spool.batches_unacknowledged)
        spool.add_metric(["batches_unpersisted"], s.spool.batches_unpersisted)
        yield spool
        yield GaugeMetricFamily("trialwire_gateway_spool_used_bytes", "Spool size on disk",
                                value=s.spool.used_bytes)
        dropped = CounterMetricFamily("trialwire_gateway_spool_dropped",
                                      "Items dropped over the disk budget, by priority",
                                      labels=["priority"])
        for priority, count in s.spool.dropped.items():
            dropped.add_metric([priority], count)
        yield dropped
        yield CounterMetricFamily("trialwire_gateway_batches_sent",
                                  "Batches acknowledged by Kafka", value=s.upload.batches_sent)
        yield CounterMetricFamily("trialwire_gateway_resends",
                                  "Batches re-sent because the broker no longer held them",
                                  value=s.upload.resends)
        yield GaugeMetricFamily("trialwire_gateway_broker_reachable",
                                "1 while Kafka accepts uploads",
                                value=1.0 if s.upload.broker_reachable else 0.0)
        latency = GaugeMetricFamily("trialwire_gateway_ack_latency_ms",
                                    "Notification to Kafka ack, recent window",
                                    labels=["quantile"])
        for name, value in s.upload.ack_latency_ms.items():
            if name != "count":
                latency.add_metric([name], value)
        yield latency
