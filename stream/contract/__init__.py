"""The wire contract that home gateways and the platform both speak: the envelope of
readings, gateway status, persisted watermarks, the flag message, topic names and the
gateway's configuration. A leaf: it imports only ``devices`` (the metric vocabulary and
device types), so the gateway, storage and the API can share it without importing each
other's internals (``docs/architecture.md``)."""
