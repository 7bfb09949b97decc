"""Deployment manifests (deploy/): valid by their schemas, wired to the real CLI and settings,
free of secret values; checked offline with bundled or vendored schemas (schemas/README.md)."""

from __future__ import annotations

import configparser
import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from api.ingest.app import create_ingest_app
from api.main import create_app
from api.routes.ingest import MAX_ENVELOPE_BYTES, MAX_WAIT_S
from api.settings import ApiSettings
from deploy.cli import app as cli_app
from deploy.logs import LogSettings
from deploy.services.stack import DATA_DIR_ENV, resolve_database_url
from storage.migrate import MODE_ENV
from storage.settings import DatabaseSettings
from stream.contract.topics import TopicNames
from stream.kafka.settings import KafkaSettings
from stream.settings import StreamSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
CADDYFILE = DEPLOY / "compose" / "Caddyfile"
KUBERNETES = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"
GATEWAY_UNIT = DEPLOY / "systemd" / "trialwire-gateway.service"
COMPOSE_SECRETS = DEPLOY / "compose" / "secrets"  # created by operators, never committed
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
KAFKATOPIC_SCHEMA = Path(__file__).parent / "schemas" / "strimzi-kafkatopic-v1beta2.json"

IMAGE = "trialwire"  # the image name in compose and Kubernetes (kustomize rewrites it)
# The oldest Kubernetes the manifests support, and the newest schemas the package has.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
STRIMZI_KINDS = {"KafkaTopic"}

SETTINGS: tuple[type[BaseSettings], ...] = (
    DatabaseSettings, KafkaSettings, StreamSettings, ApiSettings, LogSettings)
# Variables read straight from the environment rather than through a settings class.
DIRECT_ENV = {MODE_ENV, DATA_DIR_ENV}
# A value assigned to a credential-named key (YAML `key: v`, env `KEY=v`); `_FILE` keys,
# references (secretName), paths, interpolations and booleans are not values.
_CREDENTIAL_ASSIGNMENT = re.compile(
    r"(?i)\b[\w.-]*(password|passwd|secret|token|api[_-]?key)\b['\"]?\s*[:=]\s*"
    r"(?!\s*$|\s*(true|false|null)\b|\s*[$/])['\"]?[^\s'\"#,\]}]+")
_SECRET_PATTERNS = (
    _CREDENTIAL_ASSIGNMENT,
    re.compile(r"(?i)^\s*ENV\s+\w*(password|passwd|secret|token|api_?key)\s+\S"),  # ENV K v
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # user:password@ in a URL
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b(tw|te)_[A-Za-z0-9]{8,}"),  # trialwire API / enrollment tokens
)


def _secret_literals(text: str) -> list[str]:
    """The lines of ``text`` that hold what looks like a secret value."""
    return [line.strip() for line in text.splitlines()
            if any(p.search(line) for p in _SECRET_PATTERNS)]


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a multi-document YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())


@pytest.fixture(scope="module")
def k8s_objects(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object kustomize would apply, in resource order."""
    return [doc for name in kustomization["resources"]
            for doc in _yaml_documents(KUBERNETES / name)]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def _gateway_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",),
                                     comment_prefixes=("#", ";"))
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string(GATEWAY_UNIT.read_text())
    return unit


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in (raw.strip() for raw in text.splitlines())
            if line and not line.startswith("#")]


def _parse_cli(argv: list[str]) -> dict[str, Any]:
    """Parse ``trialwire ARGV`` as the real CLI would (without running it); its parameters."""
    command: Any = typer.main.get_command(cli_app)
    words = list(argv)
    while hasattr(command, "commands"):
        assert words, f"`trialwire {' '.join(argv)}` names a command group, not a command"
        name = words.pop(0)
        assert name in command.commands, f"`trialwire {' '.join(argv)}`: no command {name!r}"
        command = command.commands[name]
    return command.make_context(name, words).params


def _doc_cli_commands() -> list[list[str]]:
    """The trialwire command lines in docs/deployment.md's shell blocks."""
    top_level = set(typer.main.get_command(cli_app).commands)  # type: ignore[attr-defined]
    blocks = re.findall(r"```(?:bash|sh|console)\n(.*?)```", DEPLOYMENT_DOC.read_text(), re.S)
    commands = []
    for line in re.sub(r"\\\n\s*", " ", "\n".join(blocks)).splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for i, word in enumerate(words[:-1]):
            if (word == "trialwire" or word.endswith("/bin/trialwire")) and words[i + 1] in top_level:
                end = next((j for j in range(i + 1, len(words))
                            if words[j] in {"&&", "||", ";", "|", ">", ">>"}), len(words))
                commands.append(words[i + 1:end])
    return commands


def _known_env_names() -> set[str]:
    """Every TRIALWIRE_* variable the code reads: settings fields and direct reads."""
    names = {cls.model_config["env_prefix"] + field.upper()
             for cls in SETTINGS for field in cls.model_fields}
    return names | DIRECT_ENV


# -- Docker image -------------------------------------------------------------------------


def test_dockerfile_builds_the_project_and_runs_the_console_script_as_non_root() -> None:
    """The image installs the project with pip and starts the installed `trialwire` script."""
    instructions = _dockerfile_instructions()
    bases = [args.split()[0] for op, args in instructions if op == "FROM"]
    assert bases and all(b == "python:3.11-slim" for b in bases), bases
    assert any(op == "RUN" and re.search(r"pip install \.(\s|$)", args)
               for op, args in instructions)
    entrypoint = [json.loads(args) for op, args in instructions if op == "ENTRYPOINT"]
    assert entrypoint == [["trialwire"]], "exec-form ENTRYPOINT of the console script"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    installed = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert installed.get("trialwire") == scripts["trialwire"] == "deploy.cli:main"
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    users = [args for op, args in final_stage if op == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"numeric non-root uid for runAsNonRoot, got {uid}"


def test_dockerignore_keeps_every_package() -> None:
    """Every package pyproject installs is in the build context, or `pip install .` drops it."""
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["packages"]["find"]["include"]
    kept = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert "*" in kept
    for pattern in include:
        assert f"!{pattern.rstrip('*')}/" in kept, f"{pattern} is excluded from the image"
    assert {"!pyproject.toml", "!README.md"} <= kept


# -- Compose ------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(tmp_path: Path) -> None:
    """The Compose Specification schema (bundled in check-jsonschema) accepts the file and
    rejects an unknown service key, so the check is not vacuous."""
    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
             "vendor.compose-spec", str(path)],
            capture_output=True, text=True, timeout=60, check=False)

    result = check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    restart: unless-stopped",
                                                  "    restart_policy: unless-stopped", 1))
    assert check(broken).returncode != 0


def test_compose_starts_services_after_their_dependencies(compose: dict[str, Any]) -> None:
    """Workers and API wait for migrations and topics; one-shots wait for healthy servers."""
    services = compose["services"]
    for server in ("kafka", "timescaledb"):
        assert "test" in services[server]["healthcheck"]
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for long_running in ("stream-worker", "api", "ingest"):
        depends = services[long_running]["depends_on"]
        for one_shot in ("migrate", "topics"):
            assert depends[one_shot]["condition"] == "service_completed_successfully"
        assert services[long_running]["restart"] == "unless-stopped"
    for one_shot in ("migrate", "topics"):
        assert services[one_shot]["restart"] == "no"
    assert services["stream-worker"]["deploy"]["replicas"] == 2
    assert services["api"]["healthcheck"]["test"][-1].count("/healthz") == 1


def test_compose_kafka_is_a_single_kraft_node(compose: dict[str, Any]) -> None:
    """One combined broker+controller of the official image, its quorum being itself."""
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    bootstrap = compose["x-trialwire"]["environment"]["TRIALWIRE_KAFKA_BOOTSTRAP"]
    assert f"PLAINTEXT://{bootstrap}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_MESSAGE_MAX_BYTES"] >= KafkaSettings().max_request_bytes
    timescale = compose["services"]["timescaledb"]
    assert timescale["image"].startswith("timescale/timescaledb")
    assert "shared_preload_libraries=timescaledb" in timescale["command"]


def test_compose_secrets_are_mounted_files(compose: dict[str, Any]) -> None:
    """Passwords reach containers only as secret files named by *_FILE variables."""
    declared = compose["secrets"]
    assert all(set(secret) == {"file"} for secret in declared.values())
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        for key, value in env.items():
            if key.endswith("_FILE") and str(value).startswith("/run/secrets/"):
                secret = str(value).removeprefix("/run/secrets/")
                assert secret in service.get("secrets", []), f"{name}: {key} is not mounted"
                assert secret in declared
    assert compose["services"]["timescaledb"]["environment"]["POSTGRES_PASSWORD_FILE"]
    for name, service in compose["services"].items():
        if service["image"].startswith(f"{IMAGE}:"):
            assert "TRIALWIRE_DATABASE_URL_FILE" in service["environment"], name
            assert "TRIALWIRE_DATABASE_URL" not in service["environment"], name


def _route_paths(app: Any) -> set[str]:
    """The HTTP paths an app serves, also inside included routers (FastAPI >= 0.160 wraps
    those); documentation routes left out."""
    paths: set[str] = set()
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if hasattr(route, "original_router"):
            pending += route.original_router.routes
        elif (path := getattr(route, "path", None)) is not None:
            paths.add(path)
        elif hasattr(route, "routes"):
            pending += route.routes
    return {p for p in paths if not p.startswith(("/docs", "/redoc", "/openapi"))}


def _ingest_paths() -> set[str]:
    app = create_ingest_app(DatabaseSettings(url=SecretStr("postgresql://127.0.0.1:1/none")),
                            KafkaSettings(bootstrap="kafka:9092"))
    return _route_paths(app) - {"/healthz"}


def _api_paths() -> set[str]:
    return _route_paths(create_app(
        DatabaseSettings(url=SecretStr("postgresql://127.0.0.1:1/none")), None, ApiSettings()))


def _example(path: str) -> str:
    """A concrete request path for a route template (each {parameter} filled in)."""
    return re.sub(r"\{[^}]+\}", "GW-0001", path)


def _listen_port(argv: list[str]) -> int:
    return int(_parse_cli(argv)["port"])


def test_compose_publishes_only_the_tls_proxy(compose: dict[str, Any]) -> None:
    """Caddy is the one published service (443, and 80 for redirects and ACME); it sends the
    ingest service's routes, and nothing else, to the ingest service and the rest to the
    API, at the ports their commands listen on. Kafka and PostgreSQL stay internal."""
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["image"].startswith("caddy:")
    assert {str(p).split(":")[-1] for p in services["proxy"]["ports"]} == {"443", "80"}
    mounts = {v.split(":")[1] for v in services["proxy"]["volumes"]}
    assert "/etc/caddy/Caddyfile" in mounts
    caddy = CADDYFILE.read_text()
    (matcher,) = re.findall(r"@gateway path_regexp (\S+)", caddy)
    gateway = re.compile(matcher)
    upstreams = dict(re.findall(r"handle( @gateway)? \{\s*reverse_proxy (\S+)", caddy))
    assert upstreams == {" @gateway": f"ingest:{_listen_port(services['ingest']['command'])}",
                         "": f"api:{_listen_port(services['api']['command'])}"}
    ingest_paths = _ingest_paths()
    assert len(ingest_paths) >= 5
    for path in ingest_paths:
        assert gateway.fullmatch(_example(path)), f"{path} would not reach the ingest service"
    for path in _api_paths() - ingest_paths:
        assert not gateway.fullmatch(_example(path)), f"{path} would miss the API"
    assert "/v1/enroll" in _api_paths()
    # Caddy's MiB and nginx's "m" are 1024**2 bytes: the service's own limit.
    assert MAX_ENVELOPE_BYTES == 4 * 1024**2
    assert re.search(r"max_size 4MiB\b", caddy)


# -- Kubernetes ---------------------------------------------------------------------------


def test_kustomization_lists_every_manifest(kustomization: dict[str, Any]) -> None:
    """A manifest left out of kustomization.yaml would silently never be applied."""
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == "trialwire"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_objects_match_their_schemas(k8s_objects: list[dict[str, Any]],
                                                version: str) -> None:
    """Strict schemas (unknown fields refused) of the Kubernetes version; CRDs apart."""
    core = [o for o in k8s_objects if o["kind"] not in STRIMZI_KINDS]
    assert {o["kind"] for o in core} >= {"Namespace", "ConfigMap", "Deployment", "Service",
                                         "HorizontalPodAutoscaler", "Job",
                                         "PodDisruptionBudget"}
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema as the API server applies it with strict field validation: fields
    not in the schema are refused unless the node preserves unknown fields."""
    schema = dict(schema)
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
    if "items" in schema:
        schema["items"] = _strict(schema["items"])
    return schema


def test_kafka_topics_match_the_strimzi_crd_and_the_topic_names(
        k8s_objects: list[dict[str, Any]]) -> None:
    """The five KafkaTopics are the platform's topics, with its partitions and compaction."""
    validator = jsonschema.Draft7Validator(_strict(json.loads(KAFKATOPIC_SCHEMA.read_text())))
    topics = [o for o in k8s_objects if o["kind"] == "KafkaTopic"]
    for topic in topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        validator.validate(topic)
    bad = copy.deepcopy(topics[0])
    bad["spec"]["partitions"] = "12"
    assert not validator.is_valid(bad), "the vendored schema checks partitions' type"
    bad = copy.deepcopy(topics[0])
    bad["spec"]["retention"] = 604800000
    assert not validator.is_valid(bad), "unknown spec fields are refused"

    specs = {spec.name: spec for spec in TopicNames().specs()}
    by_name = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in topics}
    assert set(by_name) == set(specs)
    for name, topic in by_name.items():
        spec, config = topic["spec"], topic["spec"]["config"]
        assert spec["partitions"] == specs[name].partitions, name
        assert (config.get("cleanup.policy") == "compact") == specs[name].compacted, name
        assert specs[name].compacted or int(config["retention.ms"]) > 0, name
        assert spec["replicas"] > int(config["min.insync.replicas"]) >= 2, name
    raw = by_name[TopicNames().raw_readings]["spec"]["config"]
    assert int(raw["max.message.bytes"]) >= KafkaSettings().max_request_bytes

    clusters = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics}
    config = _one(k8s_objects, "ConfigMap", "trialwire-config")["data"]
    assert len(clusters) == 1
    assert config["TRIALWIRE_KAFKA_BOOTSTRAP"].startswith(f"{clusters.pop()}-kafka-bootstrap:")


def test_stream_workers_scale_up_to_the_raw_topic_partitions(
        k8s_objects: list[dict[str, Any]]) -> None:
    """More workers than raw-topic partitions would idle, so the HPA stops there."""
    worker = _one(k8s_objects, "Deployment", "trialwire-stream-worker")
    hpa = _one(k8s_objects, "HorizontalPodAutoscaler", "trialwire-stream-worker")
    pdb = _one(k8s_objects, "PodDisruptionBudget", "trialwire-stream-worker")
    raw = next(s for s in TopicNames().specs() if s.name == TopicNames().raw_readings)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "trialwire-stream-worker"}
    assert hpa["spec"]["maxReplicas"] == raw.partitions
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in worker["spec"], "the HPA owns the replica count"
    pod_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert worker["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_api_is_served_and_probed_on_real_routes(k8s_objects: list[dict[str, Any]]) -> None:
    """The Service reaches the API pods, whose readiness probe is the app's /healthz."""
    api = _one(k8s_objects, "Deployment", "trialwire-api")
    service = _one(k8s_objects, "Service", "trialwire-api")
    pod = api["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = _one(k8s_objects, "ConfigMap", "trialwire-config")["data"]
    assert ports["http"] == int(config["TRIALWIRE_API_PORT"])
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert all(p["targetPort"] in ports for p in service["spec"]["ports"])
    probe = container["readinessProbe"]["httpGet"]
    assert probe["port"] in ports
    app = create_app(DatabaseSettings(url=SecretStr("postgresql://127.0.0.1:1/none")), None,
                     ApiSettings())
    assert probe["path"] in {getattr(route, "path", None) for route in app.routes}


def test_prometheus_annotations_point_at_the_metrics_ports(
        k8s_objects: list[dict[str, Any]]) -> None:
    """Scrape annotations, container ports and the metrics settings agree per process."""
    config = _one(k8s_objects, "ConfigMap", "trialwire-config")["data"]
    expected = {"trialwire-stream-worker": config["TRIALWIRE_STREAM_METRICS_PORT"],
                "trialwire-api": config["TRIALWIRE_API_METRICS_PORT"]}
    assert expected == {"trialwire-stream-worker": "9100", "trialwire-api": "9101"}
    for name, port in expected.items():
        template = _one(k8s_objects, "Deployment", name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == port
        assert annotations["prometheus.io/path"] == "/metrics"
        ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert ports["metrics"] == int(port)
    assert config["TRIALWIRE_STREAM_METRICS_HOST"] == config["TRIALWIRE_API_METRICS_HOST"] == "0.0.0.0"


def test_pods_run_non_root_read_only_with_resources(k8s_objects: list[dict[str, Any]]) -> None:
    """Every pod meets the `restricted` Pod Security Standard and declares its resources."""
    pods = list(_pod_specs(k8s_objects))
    assert {name for name, _ in pods} == {"trialwire-api", "trialwire-stream-worker",
                                          "trialwire-migrate", "trialwire-ingest"}
    for name, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), name
            assert container["image"] == IMAGE, name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{name}: a writable /tmp on a read-only root"


def test_secret_files_are_mounted_where_the_settings_look(
        k8s_objects: list[dict[str, Any]]) -> None:
    """Each *_FILE path of the ConfigMap is a key of a referenced Secret in the pods that
    need it; no Secret object (and so no secret value) is in the manifests."""
    assert not [o for o in k8s_objects if o["kind"] == "Secret"]
    config = _one(k8s_objects, "ConfigMap", "trialwire-config")["data"]
    files = {k: v for k, v in config.items() if k.endswith(("_FILE", "_CAFILE"))}
    needs = {"trialwire-migrate": {"TRIALWIRE_DATABASE_URL_FILE"},
             "trialwire-api": set(files), "trialwire-stream-worker": set(files),
             "trialwire-ingest": set(files)}
    docs = DEPLOYMENT_DOC.read_text()
    for name, pod in _pod_specs(k8s_objects):
        volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
        container = pod["containers"][0]
        mounted: dict[str, tuple[str, str]] = {}
        for mount in container["volumeMounts"]:
            if mount["name"] in volumes:
                secret = volumes[mount["name"]]
                assert mount.get("readOnly") is True, name
                for item in secret["items"]:
                    mounted[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"],
                                                                       item["key"])
        assert {"configMapRef": {"name": "trialwire-config"}} in container["envFrom"], name
        for variable in needs[name]:
            assert files[variable] in mounted, f"{name}: {variable} is not mounted"
        for secret_name, _ in mounted.values():
            assert secret_name in docs, f"docs/deployment.md does not explain {secret_name}"
    assert re.search(r"kubectl (-n \S+ )?create secret generic trialwire-database ", docs)


def test_gateways_reach_the_ingest_service_over_tls(k8s_objects: list[dict[str, Any]]) -> None:
    """The Ingress serves HTTPS only for its hosts, sends the gateway routes to the ingest
    Service and enrollment to the API; the ingest pods listen, probe and expose metrics
    where their Service and annotations say; nothing is a NodePort or LoadBalancer."""
    ingress = _one(k8s_objects, "Ingress", "trialwire-gateways")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts and hosts <= {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    assert all(tls["secretName"] for tls in ingress["spec"]["tls"])
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "4m"
    assert MAX_ENVELOPE_BYTES == 4 * 1024**2
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > MAX_WAIT_S
    backends = {p["path"]: (p["pathType"], p["backend"]["service"]["name"])
                for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    ingest_prefixes = [path for path, (kind, name) in backends.items()
                       if name == "trialwire-ingest" and kind == "Prefix"]
    for path in _ingest_paths():
        assert any(path.startswith(prefix) for prefix in ingest_prefixes), path
    assert backends["/v1/enroll"] == ("Exact", "trialwire-api")
    assert "/v1/enroll" in _api_paths()
    services = {o["metadata"]["name"]: o for o in k8s_objects if o["kind"] == "Service"}
    for _, name in backends.values():
        port_names = {p["name"] for p in services[name]["spec"]["ports"]}
        assert {p["backend"]["service"]["port"]["name"] for rule in ingress["spec"]["rules"]
                for p in rule["http"]["paths"]
                if p["backend"]["service"]["name"] == name} <= port_names
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services.values())

    pod = _one(k8s_objects, "Deployment", "trialwire-ingest")["spec"]["template"]
    container = pod["spec"]["containers"][0]
    params = _parse_cli(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": params["port"], "metrics": params["metrics_port"]}
    assert params["host"] == params["metrics_host"] == "0.0.0.0"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(params["metrics_port"])
    assert services["trialwire-ingest"]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    probe = container["readinessProbe"]["httpGet"]
    assert probe["port"] in ports
    assert probe["path"] == "/healthz"


# -- systemd ------------------------------------------------------------------------------


def test_gateway_unit_runs_the_real_gateway_command_hardened() -> None:
    """The unit parses, starts after BlueZ and the network, and passes real CLI options."""
    unit = _gateway_unit()
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    after = unit["Unit"]["After"].split()
    assert {"bluetooth.target", "network-online.target"} <= set(after)
    assert {"bluetooth.target", "network-online.target"} <= set(unit["Unit"]["Wants"].split())
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/trialwire/venv/bin/trialwire"
    params = _parse_cli(argv[1:])
    assert argv[1:3] == ["gateway", "run"]
    assert str(params["config_path"]) == "/etc/trialwire/gateway.yaml"
    state_dir = Path("/var/lib") / service["StateDirectory"]
    assert params["data_dir"] == state_dir
    assert str(state_dir) in service["ReadWritePaths"].split()
    assert service["User"] not in {"", "root", "0"}
    assert "bluetooth" in service["SupplementaryGroups"].split()
    assert service["EnvironmentFile"] == "-/etc/trialwire/gateway.env"
    assert service["Restart"] == "always"
    assert int(service["RestartSec"]) > 0
    hardening = {"ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes",
                 "PrivateTmp": "yes"}
    assert {k: service.get(k) for k in hardening} == hardening
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# -- Across the manifests -----------------------------------------------------------------


def test_every_trialwire_command_line_parses_with_the_real_cli(
        compose: dict[str, Any], k8s_objects: list[dict[str, Any]]) -> None:
    """Commands in compose, Kubernetes, the unit and the deployment doc use real commands
    and options with valid values (parsed by the CLI, not run)."""
    argvs = [service["command"] for service in compose["services"].values()
             if service.get("image", "").startswith(f"{IMAGE}:")]
    argvs += [c["args"] for _, pod in _pod_specs(k8s_objects) for c in pod["containers"]]
    argvs.append(shlex.split(_gateway_unit()["Service"]["ExecStart"])[1:])
    documented = _doc_cli_commands()
    assert len(argvs) == 10 and len(documented) >= 5
    for argv in argvs + documented:
        _parse_cli(argv)
    topics = _parse_cli(compose["services"]["topics"]["command"])
    assert topics["partitions"] == 12


def test_environment_variables_are_real_settings(
        compose: dict[str, Any], k8s_objects: list[dict[str, Any]]) -> None:
    """Every TRIALWIRE_* name set by a manifest (or the documented gateway.env) is a settings
    field or read directly, so renaming a setting fails here instead of being ignored."""
    names = {k for service in compose["services"].values()
             for k in service.get("environment", {})}
    names |= set(_one(k8s_objects, "ConfigMap", "trialwire-config")["data"])
    names |= {e["name"] for _, pod in _pod_specs(k8s_objects)
              for c in pod["containers"] for e in c.get("env", [])}
    names |= {word.split("=")[0] for op, args in _dockerfile_instructions() if op == "ENV"
              for word in shlex.split(args)}
    names |= {line.split("=", 1)[1].split("=")[0]
              for line in GATEWAY_UNIT.read_text().splitlines()
              if line.startswith("Environment=")}
    env_files = re.findall(r"```ini\n(.*?)```", DEPLOYMENT_DOC.read_text(), re.S)  # gateway.env
    names |= {line.split("=")[0] for block in env_files for line in block.splitlines() if line}
    trialwire = {n for n in names if n.startswith("TRIALWIRE_")}
    assert len(trialwire) >= 15
    unknown = trialwire - _known_env_names()
    assert not unknown, f"not read by any settings class: {sorted(unknown)}"


@pytest.mark.parametrize("source", ["kubernetes", "compose-stream-worker", "compose-api"])
def test_settings_accept_the_manifest_values(
        source: str, compose: dict[str, Any], k8s_objects: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings classes load the values the manifests set (types, enums, SASL rules)."""
    if source == "kubernetes":
        env = _one(k8s_objects, "ConfigMap", "trialwire-config")["data"]
    else:
        env = compose["services"][source.removeprefix("compose-")]["environment"]
    for name in [n for n in os.environ if n.startswith("TRIALWIRE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    loaded = {cls.__name__: cls() for cls in SETTINGS}
    assert loaded["DatabaseSettings"].url_file == Path(env["TRIALWIRE_DATABASE_URL_FILE"])
    assert loaded["KafkaSettings"].bootstrap_servers == [env["TRIALWIRE_KAFKA_BOOTSTRAP"]]
    assert loaded["LogSettings"].format == "json"
    if "TRIALWIRE_STREAM_METRICS_PORT" in env:
        assert loaded["StreamSettings"].metrics_port == int(env["TRIALWIRE_STREAM_METRICS_PORT"])
    if "TRIALWIRE_API_METRICS_PORT" in env:
        assert loaded["ApiSettings"].metrics_port == int(env["TRIALWIRE_API_METRICS_PORT"])


def test_no_secret_values_in_the_manifests() -> None:
    """Passwords, credentialed URLs, keys and tokens never appear in deploy/ files."""
    paths = [p for p in DEPLOY.rglob("*")
             if p.is_file() and p.suffix in {".yaml", ".service", ".dockerignore", ""}
             and not p.is_relative_to(COMPOSE_SECRETS)]
    assert {COMPOSE, DOCKERFILE, GATEWAY_UNIT} <= set(paths)
    found = {str(p.relative_to(ROOT)): hits for p in paths
             if (hits := _secret_literals(p.read_text()))}
    assert not found


@pytest.mark.parametrize(("line", "is_secret"), [
    ("POSTGRES_PASSWORD: hunter2", True),
    ("Environment=TRIALWIRE_KAFKA_SASL_PASSWORD=s3cret", True),
    ("ENV API_TOKEN abc123", True),
    ("url: postgresql://trialwire:pw@db:5432/trialwire", True),
    ("-----BEGIN RSA PRIVATE KEY-----", True),
    ("token: tw_0123abcd_secretvalue", True),
    ("POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password", False),
    ("secretName: trialwire-database", False),
    ("automountServiceAccountToken: false", False),
    ("url: postgresql://trialwire@db:5432/trialwire", False),
])
def test_secret_scan_tells_values_from_references(line: str, is_secret: bool) -> None:
    """The scan above flags literal credentials and passes references to them."""
    assert bool(_secret_literals(line)) is is_secret


# -- Code features the manifests need -----------------------------------------------------


def test_database_url_file_reaches_the_cli(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose and Kubernetes pass the database URL only as TRIALWIRE_DATABASE_URL_FILE."""
    url_file = tmp_path / "url"
    url_file.write_text("postgresql://trialwire@db.invalid:5432/trialwire\n")
    monkeypatch.delenv("TRIALWIRE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TRIALWIRE_DATABASE_URL_FILE", str(url_file))
    assert resolve_database_url(tmp_path) == "postgresql://trialwire@db.invalid:5432/trialwire"


def test_replication_factor_reaches_faust_and_topic_creation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The compose file's single broker needs replication 1 for Faust's changelogs too."""
    monkeypatch.setenv("TRIALWIRE_KAFKA_REPLICATION_FACTOR", "1")
    settings = KafkaSettings(bootstrap="kafka:9092")
    assert settings.replicas() == 1
    assert settings.faust_config()["topic_replication_factor"] == 1
    assert KafkaSettings(bootstrap="kafka:9092", replication_factor=None).replicas() == 3
