"""Kafka client configuration shared by the gateway, the stream worker and the tools."""

from stream.kafka.settings import KafkaSettings, prepare_clients

__all__ = ["KafkaSettings", "prepare_clients"]
