"""Virtual Bluetooth radio: bumble controllers on a shared link, in process or over TCP.

Two fixes over bumble's stock virtual controller (``shared/bleak-bumble.md``):
- LE Create Connection Cancel is answered with a Connection Complete (status 0x02), so a
  timed-out connect does not stay pending and wedge the host;
- :meth:`VirtualController.drop_links` ends every link with "connection timeout"
  (0x08) as a supervision timeout would — used when a device goes out of range and when a
  remote controller's TCP connection drops — so the peer's disconnect callback fires.
"""

from __future__ import annotations

import asyncio
import logging

from bumble import hci, ll
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

logger = logging.getLogger(__name__)

CONNECTION_TIMEOUT = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR  # 0x08


class VirtualController(Controller):
    """bumble's virtual controller with cancel and supervision-timeout behaviour fixed."""

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is not None:
            self.pending_le_connection = None
            peer = pending.peer_address
            # Command Complete goes out first; the cancelled connect completes after it.
            asyncio.get_running_loop().call_soon(
                self.send_hci_packet,
                hci.HCI_LE_Connection_Complete_Event(
                    status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                    connection_handle=0, role=hci.Role.CENTRAL,
                    peer_address_type=peer.address_type, peer_address=peer,
                    connection_interval=0, peripheral_latency=0, supervision_timeout=0,
                    central_clock_accuracy=0),
            )
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def drop_links(self, reason: int = CONNECTION_TIMEOUT) -> int:
        """Terminate every LE link on both ends (as a supervision timeout would)."""
        dropped = 0
        for connection in list(self.le_connections.values()):
            try:
                connection.send_ll_control_pdu(ll.TerminateInd(reason))
            except Exception:  # the peer controller may already be gone
                logger.debug("peer of %s already gone", connection.peer_address)
            self.on_le_disconnected(connection, reason)
            dropped += 1
        return dropped


class VirtualRadio:
    """One shared virtual link; each device gets its own controller and host."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]  # bumble leaves it unannotated
        self.controllers: dict[str, VirtualController] = {}

    def device(self, name: str, address: str) -> Device:
        """A bumble Device on this radio, at a static random address like ``C0:..``."""
        controller = VirtualController(name, link=self.link, public_address=address)
        self.controllers[address] = controller
        host = Host(controller, AsyncPipeSink(controller))
        return Device(name=name, address=hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS),
                      host=host)

    def controller(self, address: str) -> VirtualController:
        return self.controllers[address]
