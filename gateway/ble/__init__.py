"""bleak backends: the default (BlueZ on a real hub) or bumble (virtual wearables)."""

from enum import StrEnum


class Backend(StrEnum):
    """Which bleak backend reaches the devices (a light module: the CLI imports it)."""

    BLEAK_DEFAULT = "bleak-default"  # BlueZ over D-Bus on a real hub
    BUMBLE = "bumble"  # a bumble host on a virtual Bluetooth hub (simulated wearables)


__all__ = ["Backend"]
