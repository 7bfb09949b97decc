"""The demo stack behind ``trialwire up``, started in order and stopped in reverse:

1. PostgreSQL and the broker: the embedded ones in ``data_dir`` (the broker persisting on
   its loopback object store), or the external ones ``TRIALWIRE_DATABASE_URL`` /
   ``TRIALWIRE_KAFKA_BOOTSTRAP`` name;
2. migrations, topics, the demo study, and a monitor token;
3. child processes: a stream worker, the API (with the monitoring page), the alert
   dispatcher (flags to ``--webhook``), a Bluetooth hub, and per home a wearable simulator
   and a gateway over the bumble backend.

With a scenario, home 1 first plays it in simulated time that ends at about now (at the
scenario's speed-up, so its flags appear within minutes), then joins the others live.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.auth.roles import Role
from api.auth.tokens import create_token, enroll_gateway_token
from deploy.eval.flags import SETUPS
from deploy.processes import ProcessGroup, home_env
from deploy.services import (
    resolve_database_url,
    resolve_kafka,
    stack_status,
    start_stack,
    stop_stack,
)
from deploy.services.ports import free_port, wait_for_tcp
from deploy.up import demo
from devices.catalog import DeviceType
from devices.sim.scenario import scenario as scenario_named
from gateway.enrollment import save as save_enrollment
from storage import alerts
from storage.migrate import migrate
from storage.pool import connect
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings

Report = Callable[[str], None]
WEBHOOK_CHANNEL = "trialwire up"  # the channel ``--webhook`` makes (its URL replaced each run)


@dataclass
class Phase:
    """What one home's simulator and gateway run right now."""

    scenario: str
    speed: float
    devices: tuple[DeviceType, ...]
    start: datetime  # simulated start
    real_start: datetime  # the wall-clock instant of ``start``
    ends_at: datetime | None = None  # wall clock; None: live until stopped


@dataclass
class UpStack:
    data_dir: Path
    homes: int
    scenario: str | None = None
    api_port: int = 8000
    metrics_port: int = 0  # the stream worker's Prometheus port (0: a free one)
    # name -> Prometheus port of every child that serves metrics (worker, API, gateways)
    metrics: dict[str, int] = field(default_factory=dict)
    report: Report = print
    webhook: str | None = None  # the demo study's flags go there (a channel of its own)
    webhook_secret: str | None = None  # ... signed with this key
    run_dir: Path = field(init=False)
    started_services: bool = False
    dsn: str = ""
    kafka: KafkaSettings | None = None
    token: str = ""
    gateway_tokens: dict[int, str] = field(default_factory=dict)  # home seed -> API token
    children: ProcessGroup | None = None
    hub: str = ""
    phases: dict[int, Phase] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run_dir = self.data_dir / "up"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/monitor/"

    async def start(self) -> None:
        """Everything up; on any failure what was started is stopped again."""
        try:
            await self._start_platform()
            self._start_children()
        except BaseException:
            self.stop()
            raise

    async def _start_platform(self) -> None:
        # Services that already ran before ``up`` (``trialwire services start``) stay up
        # after it; what ``up`` starts, it stops. External ones (TRIALWIRE_DATABASE_URL,
        # TRIALWIRE_KAFKA_BOOTSTRAP) are used as they are.
        self.started_services = not any(row.running for row in stack_status(self.data_dir)
                                        if row.source == "embedded")
        self.report(f"starting PostgreSQL and the broker (data in {self.data_dir})")
        start_stack(self.data_dir, broker_storage="s3")
        self.dsn = resolve_database_url(self.data_dir)
        bootstrap, embedded = resolve_kafka(self.data_dir)
        self.kafka = KafkaSettings().model_copy(update={"bootstrap": bootstrap,
                                                        "embedded_broker": embedded})
        conn = await connect(self.dsn)
        try:
            self.report("migrating the database and seeding the demo study")
            await migrate(conn)
            await conn.commit()
            await demo.seed(conn, self.homes, since=datetime.now(UTC) - timedelta(days=1))
            self.token = await create_token(conn, role=Role.MONITOR, study=demo.STUDY)
            # Each home's gateway gets its own credential (revoking the last run's), as
            # enrollment gives one; it uploads through the ingest service with it.
            for seed in demo.home_seeds(self.homes):
                self.gateway_tokens[seed] = await enroll_gateway_token(
                    conn, study=demo.STUDY, gateway_id=demo.home_config(seed).gateway_id,
                    name="trialwire up")
            await conn.commit()
            if self.webhook is not None:
                channel = await alerts.ensure_channel(
                    conn, study=demo.STUDY, name=WEBHOOK_CHANNEL, kind="webhook",
                    target=self.webhook, min_severity="low")
                await conn.commit()
                self.webhook_secret = channel.secret
                self.report(f"flags of study {demo.STUDY} go to {self.webhook}, signed "
                            "(X-Trialwire-Signature; the key is in the banner's webhook)")
        finally:
            await conn.close()
        await ensure_topics(self.kafka)

    def _env(self) -> dict[str, str]:
        assert self.kafka is not None
        return {**os.environ, "TRIALWIRE_DATABASE_URL": self.dsn,
                "TRIALWIRE_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
                "TRIALWIRE_KAFKA_EMBEDDED_BROKER": str(self.kafka.embedded_broker).lower(),
                "TRIALWIRE_STREAM_COMPLETENESS_INTERVAL_S": "30"}

    def _start_children(self) -> None:
        self.children = ProcessGroup(self.run_dir / "logs", self._env())
        self.report("starting the stream worker and the API")
        self.metrics_port = self.metrics_port or free_port()
        self.metrics = {"stream-worker": self.metrics_port, "api": free_port()}
        self.children.start_cli("stream-worker", [
            "stream", "worker", "--data-dir", str(self.run_dir / "stream-worker"),
            "--metrics-port", str(self.metrics_port)])
        api = self.children.start_cli("api", ["api", "serve", "--port", str(self.api_port),
                                              "--metrics-port", str(self.metrics["api"])])
        if not wait_for_tcp(self.api_port, timeout=60, alive=lambda: api.poll() is None):
            raise RuntimeError(f"the API did not start; see {self.run_dir / 'logs' / 'api.log'}")
        self.children.start_cli("alerts", ["alerts", "run"])
        hub_port = free_port()
        self.children.start_cli("bluetooth-hub", ["sim", "hub", "--port", str(hub_port)])
        if not wait_for_tcp(hub_port, timeout=30):
            raise RuntimeError("the Bluetooth hub did not start")
        self.hub = f"127.0.0.1:{hub_port}"
        now = datetime.now(UTC).replace(microsecond=0)
        for seed in demo.home_seeds(self.homes):
            if seed == 1 and self.scenario is not None:
                devices, speed = SETUPS[self.scenario]
                duration = timedelta(seconds=scenario_named(self.scenario).duration_s)
                # Simulated time runs ``speed`` times faster and reaches now as it ends.
                real = duration / speed
                phase = Phase(self.scenario, speed, devices, start=now + real - duration,
                              real_start=now, ends_at=now + real)
                self.report(f"home 1 plays '{self.scenario}': {duration.total_seconds() / 60:.0f}"
                            f" simulated minutes at {speed:g}x, then goes live")
            else:
                phase = Phase("baseline", 1.0, demo.DEVICES, start=now, real_start=now)
            self._start_home(seed, phase)

    def _start_home(self, seed: int, phase: Phase) -> None:
        assert self.children is not None
        config = self.run_dir / f"gateway-{seed}.yaml"
        save_enrollment(demo.home_config(seed, phase.devices), self.gateway_tokens[seed],
                        config, api_url=f"http://127.0.0.1:{self.api_port}")
        self.children.start_cli(f"home-{seed}", [
            "sim", "run", "--hub", self.hub, "--seed", str(seed), "--scenario", phase.scenario,
            "--speed", str(phase.speed), "--devices", ",".join(d.value for d in phase.devices),
            "--start", phase.start.isoformat(), "--real-start", phase.real_start.isoformat()])
        self.metrics.setdefault(f"gateway-{seed}", free_port())
        self.children.start_cli(f"gateway-{seed}", [
            "gateway", "run", "--config", str(config), "--backend", "bumble", "--hub", self.hub,
            "--metrics-port", str(self.metrics[f"gateway-{seed}"]),
            "--data-dir", str(self.run_dir / f"gateway-{seed}"),
            "--time-scale", str(phase.speed), "--time-origin", phase.start.isoformat(),
            "--time-real-origin", phase.real_start.isoformat(), "--log-level", "INFO"],
            env=home_env(self._env()))
        self.phases[seed] = phase

    def tick(self) -> None:
        """Restart a worker or gateway that exited (as systemd or Kubernetes would: the
        worker exits on purpose when the broker lost its state); move homes whose
        scenario has played to live; raise if any other child died."""
        assert self.children is not None
        restartable = {"stream-worker", "alerts"} | {f"gateway-{seed}" for seed in self.phases}
        for name, code in self.children.respawn(restartable).items():
            self.report(f"{name} exited ({code}); restarted")
        died = self.children.failed()
        if died:
            logs = self.run_dir / "logs"
            raise RuntimeError("stopped unexpectedly: " + ", ".join(
                f"{name} (exit {code}, log {logs / (name + '.log')})"
                for name, code in died.items()))
        now = datetime.now(UTC)
        for seed, phase in list(self.phases.items()):
            if phase.ends_at is not None and now >= phase.ends_at:
                # The gateway's spool keeps what is unsent; the next one uploads it.
                self.children.stop(f"home-{seed}", f"gateway-{seed}")
                self.report(f"home {seed}: '{phase.scenario}' played; now live")
                live = datetime.now(UTC).replace(microsecond=0)
                self._start_home(seed, Phase("baseline", 1.0, demo.DEVICES, start=live,
                                             real_start=live))

    def stop(self) -> None:
        """Children first (homes, then hub, API and worker), then the services we started."""
        if self.children is not None:
            # Gateways and wearables first, while the hub and the broker still answer
            # (a gateway cut off from its radio waits out HCI timeouts), then the rest.
            self.children.stop(*(n for n in self.children.processes
                                 if n.startswith(("home-", "gateway-"))))
            self.children.stop_all()
            self.children = None
        if self.started_services:
            stopped = stop_stack(self.data_dir)
            self.report(f"stopped {', '.join(stopped) or 'nothing'}")
            self.started_services = False

    def describe(self) -> dict[str, object]:
        return {"web": self.web_url, "api": f"http://127.0.0.1:{self.api_port}",
                "study": demo.STUDY, "monitor_token": self.token,
                "subjects": [demo.home_config(s).subject for s in demo.home_seeds(self.homes)],
                "scenario_subject": demo.home_config(1).subject if self.scenario else None,
                "logs": str(self.run_dir / "logs"),
                "metrics": {name: f"http://127.0.0.1:{port}/metrics"
                            for name, port in self.metrics.items()},
                "webhook": ({"url": self.webhook, "signing_secret": self.webhook_secret}
                            if self.webhook else None)}
