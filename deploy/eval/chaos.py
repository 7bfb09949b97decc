"""``trialwire eval chaos``: faults injected one after another into the whole system while
simulated homes stream, then the database is compared with the simulators' own record of
every reading they emitted.

The system: embedded PostgreSQL and an in-memory broker (so a broker restart loses
everything), one stream worker process, one ingest service process, a Bluetooth hub
process, and per home a virtual-wearable process and a gateway process over the bumble
backend. Gateways upload as in production: over HTTP to the ingest service, each with its
own enrolled token, holding no Kafka or database settings. A supervisor loop restarts
exited workers, ingest services and gateways, as systemd or Kubernetes would.

Faults, in order (each after a steady spell, each cleared before the next):

- ``worker_sigkill``: the stream worker is SIGKILLed; the supervisor starts another.
- ``database_restart``: PostgreSQL stops for a while and starts again.
- ``broker_restart``: the in-memory broker restarts empty; the worker notices and exits
  for a fresh start, gateways re-send every batch not reported persisted.
- ``gateway_sigkill``: home 1's gateway is SIGKILLed; the supervisor starts it again.
- ``ingest_restart``: the ingest service is SIGKILLed while gateways upload (twice, a few
  seconds apart, so one kill lands mid-request); the supervisor starts it again. Uploads it
  never answered are sent again; none may be lost or stored twice.
- ``ble_link_loss``: home 2's wearables go out of range, then come back.
- ``gateway_offline``: home 3's gateway is off for 30 simulated minutes.
- ``poison_records``: hostile records (a tombstone, garbage bytes, out-of-range integers,
  a NUL character, a reading 200 days ahead, an unenrolled subject) are put on the raw
  topic under each home's key, beside its real data: each must be dead-lettered alone.
- ``spool_overflow``: home 3's gateway restarts with a spool budget of
  ``OVERFLOW_BUDGET_MB`` and the worker is stopped for ``OVERFLOW_S``, so that spool
  overflows and drops ECG; every dropped value must lie in a range the gateway reported
  (a ``data_dropped`` flag): ``lost_reported``, not ``lost``. Then the budget is restored.
- ``hub_replaced``: home 1's hub is replaced under the same gateway id: its wearables go
  out of range, its gateway drains and stops, its data directory (spool included) is
  deleted, and a gateway with an empty spool takes over. Its data must be stored, not
  taken for duplicates of the old hub's ranges.
- ``up_sighup``: a separate ``trialwire up --homes 1`` (its own data directory) loses its
  terminal (SIGHUP, output closed); every process it started must be gone within 30 s
  (``orphans``, ``stopped_s``). The homes under test keep streaming meanwhile.
- ``worker_freeze``: the stream worker is stopped (SIGSTOP) for ``freeze_s`` real seconds
  (600 by default: a long pause, a locked table), then continued: the backlog drains and
  gateways must not have re-sent what the broker held.
- ``overload``: four times as many homes again join (5x the load) and a busy-loop process
  per core leaves the platform no spare CPU, for ``overload_s`` real seconds (300 by
  default); then the extra wearables stop (their gateways stay and drain) and the burn
  ends. The platform (PostgreSQL, broker, worker) and the burners run at a lower priority
  than the homes, which stand for hardware of their own. Nothing may be lost or doubled,
  the lag must be back within 10 minutes (``recovery_s``), and gateways must not answer a
  slow platform with re-sends.

Per fault: ``lost`` and ``doubled`` readings emitted while the fault was the latest one;
``recovery_s``, the wall time from clearing the fault until every home's newest stored
heart rate was measured after the clearing (the backlog before it is consumed first, so
this is also the time until the lag is back to normal); and ``sent`` / ``resent``, the
batches gateways had acknowledged, and of them re-sent, in the fault's phase (from
injecting it until the next fault, or the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console

from api.auth.tokens import enroll_gateway_token
from deploy.eval.cpu_burn import CpuBurn, lower_priority
from deploy.eval.homes import gateway_config, register
from deploy.eval.platform import Platform
from deploy.eval.poison import hostile_records
from deploy.eval.reconcile import ECG, Item, KillGap, Tally, kill_gaps, reconcile
from deploy.eval.up_hangup import Hangup, hang_up
from deploy.processes import ProcessGroup, home_env
from deploy.services.ports import free_port, wait_for_tcp
from devices.catalog import DeviceType
from devices.sim.emission import read_emissions, read_unsent
from gateway.config import dump_config
from gateway.enrollment import save as save_enrollment
from storage.queries import evaluation
from stream.contract import status as status_codec
from stream.contract.gateway_config import GatewayConfig

FAULTS = ("worker_sigkill", "database_restart", "broker_restart", "gateway_sigkill",
          "ingest_restart", "ble_link_loss", "gateway_offline", "poison_records",
          "spool_overflow", "hub_replaced", "up_sighup", "worker_freeze", "overload")
DEVICES = (DeviceType.SMARTWATCH, DeviceType.CGM, DeviceType.ECG_PATCH)
WORKER = "stream-worker"
INGEST = "ingest"
INGEST_KILLS = 2  # ingest_restart: SIGKILLs, the second once the service is back
INGEST_KILL_GAP_S = 3.0  # ... and has served gateways for this long
OFFLINE_SIM_S = 30 * 60.0  # gateway_offline: simulated seconds without a gateway
LINK_LOSS_SIM_S = 120.0  # ble_link_loss: simulated seconds out of range
DATABASE_DOWN_S = 15.0  # database_restart: real seconds without PostgreSQL
FREEZE_S = 600.0  # worker_freeze: real seconds the worker is stopped
OVERLOAD_S = 300.0  # overload: real seconds of 5x the homes on a machine with no spare CPU
OVERLOAD_HOMES_FACTOR = 5
OVERLOAD_NICE = 5  # the platform and the burners, below the homes (see ``overload``)
OVERFLOW_BUDGET_MB = 0.15  # spool_overflow: the small budget (an empty spool is ~40 kB)
OVERFLOW_S = 30.0  # spool_overflow: real seconds the worker is stopped meanwhile
IN_FLIGHT_S = 1.0  # real seconds from a notification to its receive stamp, at most
IN_FLIGHT_REACH_S = 5.0  # real seconds before a gateway SIGKILL a value can still be unspooled
LATE_S = 2.0  # real seconds: a value stamped later than this after an emission is not its copy

_stderr = Console(stderr=True, highlight=False)


def _progress(message: str) -> None:
    _stderr.print(f"[chaos] {message}", markup=False)


@dataclass
class ChaosHome:
    seed: int
    config: GatewayConfig
    emissions: Path

    @property
    def sim(self) -> str:
        return f"home-{self.seed}"

    @property
    def gateway(self) -> str:
        return f"gateway-{self.seed}"


@dataclass
class FaultRecord:
    name: str
    injected_at: datetime  # simulated time: the phase of this fault starts here
    recovery_s: float | None = None
    note: str = ""
    sent: int = 0  # batches gateways had acknowledged in this fault's phase
    resent: int = 0  # of which re-sent
    uploads_at_start: dict[str, tuple[int, int]] = field(default_factory=dict)
    poisoned: int = 0  # poison_records: hostile records put on the raw topic
    dead_lettered: int = 0  # ... and dead letters published from then until recovery
    hangup: Hangup | None = None  # up_sighup: how the hung-up `trialwire up` ended
    spool_dropped: int = 0  # spool_overflow: items the small spool dropped (its counters)
    extra_homes: int = 0  # overload: homes added for its duration
    burners: int = 0  # ... and busy-loop processes (one per core)
    reniced: int = 0  # ... and platform processes put below the homes' priority
    loss_reports: int = 0  # ... and the loss reports its gateway sent for them


@dataclass
class ChaosRun:
    root: Path
    homes: int = 3
    speed: float = 10.0
    steady_s: float = 15.0  # real seconds of normal streaming before each fault
    recovery_timeout_s: float = 240.0
    freeze_s: float = FREEZE_S
    overload_s: float = OVERLOAD_S
    report: Callable[[str], None] = _progress
    platform: Platform | None = None
    group: ProcessGroup | None = None
    hub: str = ""
    ingest_url: str = ""
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0)
                            - timedelta(days=1))
    real_start: datetime = field(default_factory=lambda: datetime.now(UTC))
    members: list[ChaosHome] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    held: set[str] = field(default_factory=set)  # children the supervisor leaves down
    departed: set[str] = field(default_factory=set)  # gateways whose wearables stopped
    kills: list[tuple[datetime, str]] = field(default_factory=list)  # (sim time, serial)

    # -- clock --------------------------------------------------------------------------

    def sim_now(self) -> datetime:
        return self.start + (datetime.now(UTC) - self.real_start) * self.speed

    async def sim_sleep(self, sim_s: float) -> None:
        await asyncio.sleep(sim_s / self.speed)

    # -- the system ---------------------------------------------------------------------

    async def start_system(self) -> None:
        self.report("starting PostgreSQL, an in-memory broker and a stream worker")
        self.platform = await Platform.start(self.root, partitions=4)
        self.group = ProcessGroup(self.root / "logs", self._env())
        self.group.start_cli(WORKER, ["stream", "worker", "--data-dir",
                                      str(self.root / "worker")])
        ingest_port = free_port()
        ingest = self.group.start_cli(INGEST, ["ingest", "serve", "--port", str(ingest_port)])
        if not await asyncio.to_thread(wait_for_tcp, ingest_port, timeout=60,
                                       alive=lambda: ingest.poll() is None):
            raise RuntimeError(f"the ingest service did not start; see "
                               f"{self.root / 'logs' / 'ingest.log'}")
        self.ingest_url = f"http://127.0.0.1:{ingest_port}"
        hub_port = free_port()
        self.group.start_cli("bluetooth-hub", ["sim", "hub", "--port", str(hub_port)])
        if not wait_for_tcp(hub_port, timeout=30):
            raise RuntimeError("the Bluetooth hub did not start")
        self.hub = f"127.0.0.1:{hub_port}"
        self.real_start = datetime.now(UTC)
        await self.add_homes(range(1, self.homes + 1))
        self.report(f"{self.homes} home(s) streaming at {self.speed:g}x "
                    f"({', '.join(d.value for d in DEVICES)})")

    async def add_homes(self, seeds: range) -> list[ChaosHome]:
        """Register a home per seed, then start its wearables and its gateway."""
        assert self.platform is not None
        assert self.group is not None
        homes = []
        conn = await self.platform.connect()
        try:
            for seed in seeds:
                config = gateway_config(seed, DEVICES, study="CHAOS", resend_after_s=20.0,
                                        status_interval_s=2.0)
                await register(conn, config, since=self.start - timedelta(hours=1),
                               study_name="Chaos evaluation")
                # Enrolled as a real hub is: its own token, its config naming the ingest
                # service and the token file, no Kafka settings.
                token = await enroll_gateway_token(conn, study=config.study,
                                                   gateway_id=config.gateway_id, name="chaos")
                await conn.commit()
                config_path = self.root / f"gateway-{seed}.yaml"
                token_path = save_enrollment(config, token, config_path,
                                             api_url=self.ingest_url)
                config = msgspec.structs.replace(config, api_url=self.ingest_url,
                                                 api_token_file=str(token_path),
                                                 upload="ingest")
                homes.append(ChaosHome(seed, config, self.root / f"emitted-{seed}.jsonl"))
        finally:
            await conn.close()
        for home in homes:
            config_path = self.root / f"{home.gateway}.yaml"
            self.group.start_cli(home.sim, [
                "sim", "run", "--hub", self.hub, "--seed", str(home.seed),
                "--speed", str(self.speed), "--devices", ",".join(d.value for d in DEVICES),
                "--emissions", str(home.emissions), "--start", self.start.isoformat(),
                "--real-start", self.real_start.isoformat(),
                "--link-loss-s", str(LINK_LOSS_SIM_S)])
            self.group.start_cli(home.gateway, [
                "gateway", "run", "--config", str(config_path), "--backend", "bumble",
                "--hub", self.hub, "--data-dir", str(self.root / home.gateway),
                "--time-scale", str(self.speed), "--time-origin", self.start.isoformat(),
                "--time-real-origin", self.real_start.isoformat(), "--log-level", "INFO"],
                env=home_env(self._env()))
        self.members.extend(homes)
        return homes

    async def overload(self, record: FaultRecord) -> None:
        """Four times as many homes again, and every core busy, for ``overload_s``; then
        the extra homes' wearables stop (their gateways stay to drain) and the burn ends."""
        assert self.group is not None
        extra = await self.add_homes(range(self.homes + 1,
                                           self.homes * OVERLOAD_HOMES_FACTOR + 1))
        record.extra_homes = len(extra)
        # The platform's processes and the burners share the CPU below the homes' priority:
        # the homes (wearables, radio hub, gateways) stand for their own hardware, which a
        # busy platform does not slow; only the platform is overloaded.
        assert self.platform is not None
        platform_pids = [h.pid for h in (self.platform.postgres.handle,
                                         self.platform.broker.handle) if h is not None]
        record.reniced = lower_priority(
            [*platform_pids, self.group.processes[WORKER].pid], OVERLOAD_NICE)
        with CpuBurn(self.overload_s + 60.0, nice=OVERLOAD_NICE) as burn:
            record.burners = burn.cores
            await asyncio.sleep(self.overload_s)
        await asyncio.to_thread(self.group.stop, *(h.sim for h in extra))
        self.departed.update(h.gateway for h in extra)

    def _env(self) -> dict[str, str]:
        assert self.platform is not None
        return {**self.platform.env(), "TRIALWIRE_LOG_FORMAT": "json"}

    async def supervise(self) -> None:
        """Restart exited workers, ingest services and gateways (not those held down by a
        fault; homes added meanwhile too)."""
        assert self.group is not None
        while True:
            restartable = {WORKER, INGEST} | {h.gateway for h in self.members}
            died = self.group.respawn(restartable - self.held)
            for name, code in died.items():
                self.report(f"{name} exited ({code}); restarted")
            await asyncio.sleep(0.5)

    def stop(self) -> None:
        if self.group is not None:
            self.group.stop_all()
        if self.platform is not None:
            self.platform.stop()

    # -- faults -------------------------------------------------------------------------

    async def inject(self, name: str) -> FaultRecord:
        assert self.platform is not None
        assert self.group is not None
        uploads = self.upload_counts()
        if self.faults:
            self.close_upload_window(uploads)
        record = FaultRecord(name, self.sim_now(), uploads_at_start=uploads)
        self.faults.append(record)
        self.report(f"{name}: injecting")
        if name == "worker_sigkill":
            self.group.kill(WORKER)
        elif name == "database_restart":
            await asyncio.to_thread(self.platform.postgres.stop)
            await asyncio.sleep(DATABASE_DOWN_S)
            await asyncio.to_thread(self.platform.postgres.start)
        elif name == "broker_restart":
            await asyncio.to_thread(self.platform.broker.restart)
        elif name == "gateway_sigkill":
            home = self.members[0]
            self.kills.append((self.sim_now(), home.config.subject))
            self.group.kill(home.gateway)
        elif name == "ingest_restart":
            await self.kill_ingest_mid_upload()
        elif name == "ble_link_loss":
            home = self.members[min(1, len(self.members) - 1)]
            self.group.kill(home.sim, signal.SIGUSR1)
            await self.sim_sleep(LINK_LOSS_SIM_S)
        elif name == "gateway_offline":
            home = self.members[min(2, len(self.members) - 1)]
            self.held.add(home.gateway)
            self.group.kill(home.gateway, signal.SIGTERM)
            await self.sim_sleep(OFFLINE_SIM_S)
            self.held.discard(home.gateway)  # the supervisor starts it again
        elif name == "poison_records":
            before = await self.platform.topic_size(self.platform.kafka.topics.dead_letter)
            records = hostile_records([(h.config.subject, h.config.gateway_id,
                                        h.config.devices[0].id) for h in self.members])
            await self.platform.produce(self.platform.kafka.topics.raw_readings, records)
            record.poisoned = len(records)
        elif name == "spool_overflow":
            home = self.members[min(2, len(self.members) - 1)]
            await self.restart_gateway(home, spool_budget_mb=OVERFLOW_BUDGET_MB)
            self.group.kill(WORKER, signal.SIGSTOP)
            try:
                await asyncio.sleep(OVERFLOW_S)
            finally:
                self.group.kill(WORKER, signal.SIGCONT)
            await asyncio.sleep(10.0)  # the backlog drains, the reports go out
            status = self._status(home)
            if status is not None:
                record.spool_dropped = sum(status.spool.dropped.values())
                record.loss_reports = status.upload.loss_reports
            await self.restart_gateway(home)
        elif name == "hub_replaced":
            await self.replace_hub(self.members[0])
        elif name == "up_sighup":
            record.hangup = await hang_up(self.root / "up-sighup")
        elif name == "overload":
            await self.overload(record)
        elif name == "worker_freeze":
            self.group.kill(WORKER, signal.SIGSTOP)
            try:
                await asyncio.sleep(self.freeze_s)
            finally:
                self.group.kill(WORKER, signal.SIGCONT)
        else:
            raise ValueError(f"unknown fault {name!r}; choose from {', '.join(FAULTS)}")
        cleared = self.sim_now()
        record.recovery_s = await self.recovered_after(cleared)
        if record.poisoned:  # every hostile record dead-lettered, or 30 s passed
            deadline = time.monotonic() + 30.0
            while record.dead_lettered < record.poisoned and time.monotonic() < deadline:
                after = await self.platform.topic_size(self.platform.kafka.topics.dead_letter)
                record.dead_lettered = after - before
                await asyncio.sleep(1.0)
        self.report(f"{name}: recovered in {record.recovery_s:.1f} s")
        return record

    def close_upload_window(self, uploads: dict[str, tuple[int, int]]) -> None:
        """Charge the batches gateways sent and re-sent since the latest fault was
        injected to that fault (its phase lasts until the next fault, like its readings)."""
        record = self.faults[-1]
        for gateway, (sent, resent) in uploads.items():
            sent_before, resent_before = record.uploads_at_start.get(gateway, (0, 0))
            if sent < sent_before:  # the gateway restarted: its counters began again
                sent_before = resent_before = 0
            record.sent += sent - sent_before
            record.resent += resent - resent_before
        self.report(f"{record.name}: gateways acknowledged {record.sent} batches in its "
                    f"phase, {record.resent} of them re-sent")

    async def replace_hub(self, home: ChaosHome) -> None:
        """Out of range, drained, stopped, wiped, started afresh (see ``hub_replaced``)."""
        assert self.group is not None
        self.group.kill(home.sim, signal.SIGUSR1)  # LINK_LOSS_SIM_S without the wearables
        deadline = time.monotonic() + LINK_LOSS_SIM_S / self.speed * 0.75
        while time.monotonic() < deadline:  # what the old hub holds reaches the platform
            status = self._status(home)
            if status is not None and status.spool.items == 0 and not any(
                    d.connected for d in status.devices):
                break
            await asyncio.sleep(0.2)
        self.held.add(home.gateway)
        self.group.kill(home.gateway, signal.SIGTERM)
        proc = self.group.processes[home.gateway]
        await asyncio.to_thread(proc.wait, 30)
        shutil.rmtree(self.root / home.gateway)  # the new hub's disk is empty
        self.held.discard(home.gateway)  # the supervisor starts the new hub's gateway

    async def kill_ingest_mid_upload(self) -> None:
        """SIGKILL the ingest service ``INGEST_KILLS`` times; each time after the
        supervisor's fresh one has served gateways for ``INGEST_KILL_GAP_S``."""
        assert self.group is not None
        port = int(self.ingest_url.rsplit(":", 1)[1])
        for kill in range(INGEST_KILLS):
            if kill:  # the supervisor starts a fresh one; it listens once it is ready
                if not await asyncio.to_thread(wait_for_tcp, port, timeout=60):
                    raise RuntimeError("the ingest service did not come back")
                await asyncio.sleep(INGEST_KILL_GAP_S)
            dying = self.group.processes[INGEST]
            self.group.kill(INGEST)
            await asyncio.to_thread(dying.wait, 10)

    async def restart_gateway(self, home: ChaosHome, **overrides: object) -> None:
        """Rewrite ``home``'s gateway config (its own, with ``overrides``) and stop the
        gateway; the supervisor starts it again on the new config."""
        assert self.group is not None
        config = msgspec.structs.replace(home.config, **overrides)
        (self.root / f"{home.gateway}.yaml").write_text(dump_config(config))
        before = self.group.restarts.get(home.gateway, 0)
        self.group.kill(home.gateway, signal.SIGTERM)
        deadline = time.monotonic() + 30.0
        while self.group.restarts.get(home.gateway, 0) == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{home.gateway} did not restart within 30 s")
            await asyncio.sleep(0.5)

    def _status(self, home: ChaosHome) -> status_codec.GatewayStatus | None:
        try:
            return status_codec.decode(self._status_path(home).read_bytes())
        except (OSError, ValueError):
            return None

    def upload_counts(self) -> dict[str, tuple[int, int]]:
        """Per gateway (batches acknowledged, batches re-sent) from its status file."""
        out = {}
        for home in self.members:
            status = self._status(home)
            if status is not None:
                out[home.gateway] = (status.upload.batches_sent, status.upload.resends)
        return out

    def _status_path(self, home: ChaosHome) -> Path:
        return self.root / home.gateway / f"gateway-{home.config.gateway_id}" / "status.json"

    async def recovered_after(self, cleared: datetime) -> float:
        """Seconds until every home's newest stored heart rate was measured after
        ``cleared`` (data flows from every home again)."""
        assert self.platform is not None
        began = time.monotonic()
        devices = [f"DEV-{d.serial}" for h in self.members for d in h.config.devices
                   if d.type == DeviceType.SMARTWATCH and h.gateway not in self.departed]
        deadline = began + self.recovery_timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the database may still be coming back
                conn = await self.platform.connect()
                try:
                    fresh = await evaluation.fresh_devices(conn, devices=devices,
                                                           metric="heart_rate", since=cleared)
                finally:
                    await conn.close()
                if fresh == len(devices):
                    return round(time.monotonic() - began, 1)
            await asyncio.sleep(0.5)
        raise TimeoutError(f"no fresh data from every home {self.recovery_timeout_s:.0f} s "
                           f"after clearing the fault; logs in {self.root / 'logs'}")

    # -- the reckoning ------------------------------------------------------------------

    async def settle(self, timeout_s: float = 240.0) -> None:
        """Stop the wearables, then wait until every gateway reports, in a status written
        after that, all its devices disconnected (their queues spooled) and an empty spool
        (everything it captured persisted: the platform's watermarks freed it)."""
        assert self.group is not None
        for home in self.members:
            self.group.stop(home.sim)
        stopped = self.sim_now()
        deadline = time.monotonic() + timeout_s
        left: dict[str, str] = {}
        while time.monotonic() < deadline:
            left = {h.gateway: why for h in self.members
                    if (why := self._unsettled(h, stopped)) is not None}
            if not left:
                return
            await asyncio.sleep(1.0)
        raise TimeoutError(f"gateways not settled {timeout_s:.0f} s after the wearables "
                           f"stopped: {left}")

    def _unsettled(self, home: ChaosHome, stopped: datetime) -> str | None:
        """Why ``home``'s gateway is not done yet, or None."""
        status = self._status(home)
        if status is None:
            return "no status yet"
        if status.at <= stopped:
            return "no status since the wearables stopped"
        if any(d.connected for d in status.devices):
            return "devices still connected"
        if status.spool.items:
            return f"{status.spool.items} spool items"
        return None

    async def stored(self) -> list[Item]:
        assert self.platform is not None
        devices = [d.id for h in self.members for d in h.config.devices]
        conn = await self.platform.connect()
        try:
            values = await evaluation.stored_values(conn, devices=devices)
            segments = await evaluation.stored_segments(conn, devices=devices)
        finally:
            await conn.close()
        return ([Item(v.device_id.removeprefix("DEV-"), v.metric, v.time, float(v.value), v.seq)
                 for v in values]
                + [Item(s.device_id.removeprefix("DEV-"), ECG, s.time, float(s.samples), s.seq)
                   for s in segments])

    def emitted(self) -> list[Item]:
        return [Item(e.device, e.metric, e.time, e.value, i, in_doubt=e.in_doubt)
                for home in self.members
                for i, e in enumerate(read_emissions(home.emissions))]

    def in_flight(self, gaps: list[KillGap]) -> Callable[[Item], str | None]:
        """Whether a missing value is one a notify-only device sent in a gateway kill's
        gap, which only that gateway's memory ever held (``docs/reliability.md``)."""
        def killed_by(item: Item) -> str | None:
            if self._record_metric(item):
                return None
            return "gateway_sigkill" if any(gap.holds(item) for gap in gaps) else None
        return killed_by

    async def reported(self) -> Callable[[Item], bool]:
        """Whether a missing value lies in a range its gateway reported dropped (a
        data_dropped flag of its device), give or take the receive-stamp slack."""
        assert self.platform is not None
        conn = await self.platform.connect()
        try:
            losses = await evaluation.reported_losses(
                conn, devices=[d.id for h in self.members for d in h.config.devices])
        finally:
            await conn.close()
        slack = timedelta(seconds=LATE_S * self.speed)
        windows: dict[str, list[tuple[datetime, datetime]]] = {}
        for loss in losses:
            windows.setdefault(loss.device_id.removeprefix("DEV-"), []).append(
                (loss.window_start - slack, loss.window_end + slack))

        def in_a_report(item: Item) -> bool:
            return any(lo <= item.time <= hi for lo, hi in windows.get(item.device, []))
        return in_a_report

    def _serials(self, subject: str) -> set[str]:
        return {d.serial or "" for h in self.members if h.config.subject == subject
                for d in h.config.devices}

    @staticmethod
    def _record_metric(item: Item) -> bool:
        # CGM glucose records are stored on the sensor and backfilled: never excused.
        return item.metric == "glucose"

    async def result(self) -> dict[str, Any]:
        phases = [(self.start, "steady")] + [(f.injected_at, f.name) for f in self.faults]
        stored = await self.stored()
        gaps = kill_gaps(stored, [(at, self._serials(subject)) for at, subject in self.kills],
                         slack=timedelta(seconds=IN_FLIGHT_S * self.speed),
                         reach=timedelta(seconds=IN_FLIGHT_REACH_S * self.speed))
        tallies = reconcile(self.emitted(), stored, phases=phases,
                            in_flight=self.in_flight(gaps), reported=await self.reported(),
                            late_s=LATE_S * self.speed)
        restarts = dict(self.group.restarts) if self.group else {}
        return {
            "faults": {f.name: _fault_json(tallies[f.name], f) for f in self.faults},
            "steady": _tally_json(tallies["steady"]),
            "captured": await self.captured(),
            # Notifications the wearables queued but their links flushed at a disconnect:
            # never on the air, so neither emitted nor lost (devices/sim/air_delivery.py).
            "radio_unsent": sum(sum(read_unsent(h.emissions).values()) for h in self.members),
            "homes": self.homes, "speed": self.speed,
            "devices": [d.value for d in DEVICES], "restarts": restarts,
        }

    async def captured(self) -> dict[str, int]:
        """What became of the values gateways captured, over the whole run: every spool
        drained (``settle``), so each captured value was stored unless it is counted here
        (dropped over a spool budget, rejected, dead-lettered, undecodable). A value ``lost`` but in
        none of these never reached a gateway: it was lost over the (virtual) radio."""
        assert self.platform is not None
        statuses = [s for h in self.members if (s := self._status(h)) is not None]
        return {
            "gateways": len(statuses),
            "spool_dropped": sum(sum(s.spool.dropped.values()) for s in statuses),
            "rejected_batches": sum(s.upload.rejected_batches for s in statuses),
            # values a gateway could not decode (a truncated or corrupt notification)
            "malformed": sum(sum(d.malformed.values()) for s in statuses for d in s.devices),
            "dead_letters": await self.platform.topic_size(
                self.platform.kafka.topics.dead_letter),
        }


def _tally_json(tally: Tally) -> dict[str, Any]:
    out: dict[str, Any] = {"emitted": tally.emitted, "stored": tally.stored,
                           "lost": tally.lost, "doubled": tally.doubled}
    if tally.lost_in_flight:
        out["lost_in_flight_at_kill"] = tally.lost_in_flight
    if tally.lost_reported:
        out["lost_reported"] = tally.lost_reported
    if tally.unconfirmed:
        out["unconfirmed_at_disconnect"] = tally.unconfirmed
    if tally.lost_examples:
        out["lost_examples"] = tally.lost_examples
    return out


def _fault_json(tally: Tally, fault: FaultRecord) -> dict[str, Any]:
    extra: dict[str, Any] = ({"poisoned": fault.poisoned, "dead_lettered": fault.dead_lettered}
                             if fault.poisoned else {})
    if fault.name == "spool_overflow":
        extra.update(spool_dropped=fault.spool_dropped, loss_reports=fault.loss_reports)
    if fault.name == "overload":
        extra.update(extra_homes=fault.extra_homes, burners=fault.burners,
                     reniced=fault.reniced)
    if fault.hangup is not None:
        extra.update(up_children=fault.hangup.children, up_exit_code=fault.hangup.exit_code,
                     stopped_s=fault.hangup.stopped_s, orphans=fault.hangup.orphans,
                     killed=fault.hangup.killed)
    return {**_tally_json(tally), "recovery_s": fault.recovery_s,
            "sent": fault.sent, "resent": fault.resent, **extra,
            "injected_at": fault.injected_at.isoformat()}


async def evaluate(root: Path, faults: list[str], *, homes: int = 3, speed: float = 10.0,
                   steady_s: float = 15.0, freeze_s: float = FREEZE_S,
                   overload_s: float = OVERLOAD_S,
                   report: Callable[[str], None] = _progress) -> dict[str, Any]:
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}; choose from {', '.join(FAULTS)}")
    run = ChaosRun(root, homes=homes, speed=speed, steady_s=steady_s, report=report,
                   freeze_s=freeze_s, overload_s=overload_s,
                   recovery_timeout_s=max(240.0, freeze_s, 600.0 if "overload" in faults else 0))
    supervisor: asyncio.Task[None] | None = None
    try:
        await run.start_system()
        supervisor = asyncio.create_task(run.supervise())
        # No fault before every home streams: the steady phase is a real baseline.
        waited = await run.recovered_after(run.start)
        report(f"every home streaming after {waited:.1f} s")
        for name in faults:
            await asyncio.sleep(steady_s)
            await run.inject(name)
        await asyncio.sleep(steady_s)
        if run.faults:
            run.close_upload_window(run.upload_counts())
        report("stopping the wearables; waiting for every gateway spool to drain")
        await run.settle()
        return await run.result()
    finally:
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await asyncio.to_thread(run.stop)


def run(faults: list[str], *, homes: int, speed: float, steady_s: float = 15.0,
        freeze_s: float = FREEZE_S, overload_s: float = OVERLOAD_S,
        keep: Path | None = None) -> dict[str, Any]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(evaluate(keep, faults, homes=homes, speed=speed, steady_s=steady_s,
                                    freeze_s=freeze_s, overload_s=overload_s))
    with tempfile.TemporaryDirectory(prefix="trialwire-chaos-") as tmp:
        return asyncio.run(evaluate(Path(tmp), faults, homes=homes, speed=speed,
                                    steady_s=steady_s, freeze_s=freeze_s,
                                    overload_s=overload_s))


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, default=str)
