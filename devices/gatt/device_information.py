"""Device Information Service 0x180A: UTF-8 strings, System ID 0x2A23, PnP ID 0x2A50."""

from __future__ import annotations

from dataclasses import dataclass

from devices.gatt._codec import Reader, Writer
from devices.model import Reading

UUID_SERVICE = 0x180A
UUID_SYSTEM_ID = 0x2A23
UUID_MODEL_NUMBER = 0x2A24
UUID_SERIAL_NUMBER = 0x2A25
UUID_FIRMWARE_REVISION = 0x2A26
UUID_HARDWARE_REVISION = 0x2A27
UUID_SOFTWARE_REVISION = 0x2A28
UUID_MANUFACTURER_NAME = 0x2A29
UUID_PNP_ID = 0x2A50

STRING_CHARACTERISTICS = {
    UUID_MANUFACTURER_NAME: "manufacturer_name",
    UUID_MODEL_NUMBER: "model_number",
    UUID_SERIAL_NUMBER: "serial_number",
    UUID_HARDWARE_REVISION: "hardware_revision",
    UUID_FIRMWARE_REVISION: "firmware_revision",
    UUID_SOFTWARE_REVISION: "software_revision",
}
MAX_STRING_BYTES = 512  # an ATT attribute value is at most 512 octets


@dataclass(frozen=True, slots=True)
class DisString:
    """A DIS string: UTF-8, no terminator; a trailing NUL some devices send is stripped."""

    text: str

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "Device Information string") -> DisString:
        r = Reader(data, what)
        raw = r.rest()
        if len(raw) > MAX_STRING_BYTES:
            raise r.fail(f"{len(raw)} bytes exceed the 512-byte attribute limit", "overlong")
        raw = raw.rstrip(b"\x00")
        if b"\x00" in raw:
            raise r.fail("embedded NUL byte inside the string")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise r.fail(f"not valid UTF-8 at byte {exc.start}", "bad_encoding") from None
        return cls(text)

    def __bytes__(self) -> bytes:
        return self.text.encode("utf-8")

    def readings(self) -> list[Reading]:
        return []


@dataclass(frozen=True, slots=True)
class SystemId:
    """40-bit manufacturer-defined identifier (LSO first) then 24-bit OUI."""

    manufacturer_identifier: int
    organizationally_unique_identifier: int

    @classmethod
    def from_bytes(cls, data: bytes) -> SystemId:
        r = Reader(data, "System ID")
        ident = int.from_bytes(r.take(5, "manufacturer identifier"), "little")
        oui = r.u24("organizationally unique identifier")
        r.done()
        return cls(ident, oui)

    def __bytes__(self) -> bytes:
        return self.manufacturer_identifier.to_bytes(5, "little") + \
            self.organizationally_unique_identifier.to_bytes(3, "little")

    def readings(self) -> list[Reading]:
        return []


@dataclass(frozen=True, slots=True)
class PnpId:
    vendor_id_source: int  # 1 = Bluetooth SIG, 2 = USB-IF
    vendor_id: int
    product_id: int
    product_version: int

    @classmethod
    def from_bytes(cls, data: bytes) -> PnpId:
        r = Reader(data, "PnP ID")
        source = r.u8("vendor id source")
        if source not in (1, 2):
            raise r.fail(f"vendor id source {source} is reserved (1 SIG, 2 USB-IF)", "out_of_range")
        value = cls(source, r.u16("vendor id"), r.u16("product id"), r.u16("product version"))
        r.done()
        return value

    def __bytes__(self) -> bytes:
        return bytes(Writer().u8(self.vendor_id_source).u16(self.vendor_id).u16(self.product_id)
                     .u16(self.product_version))

    def readings(self) -> list[Reading]:
        return []
