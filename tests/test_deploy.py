"""What the deploy files promise, checked without a Docker engine: parsed, validated by the real
nats-server, compared with the permission matrix, the Ingress's body limits with the services' own,
the images' dependencies with the lock, and compose's development identity provider with the
console's and the services' settings."""

from __future__ import annotations

import copy
import datetime as dt
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import kubernetes_validate
import pytest
import yaml
from conftest import DEPLOY, NATS_PASSWORDS
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from fastapi import HTTPException
from jwt.algorithms import RSAAlgorithm

from fourlinks_console.app import create_app as console_app
from fourlinks_console.pages.signin import person_from_claims
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.auth import TokenVerifier
from fourlinks_runtime.edge import BodyLimit
from fourlinks_runtime.embedded import SERVER_CONFIG, nats_server_binary
from fourlinks_runtime.settings import Settings

KUBERNETES = "1.31"  # the version the manifests are validated against
ROOT = DEPLOY.parent
SERVICES = ("members", "assignments", "feedback", "notifications")
NODE_ENV = {**os.environ, **NATS_PASSWORDS, "NATS_SERVER_NAME": "n1"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def k8s() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((DEPLOY / "k8s" / "base").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_compose_runs_three_nats_nodes_that_sync_every_write() -> None:
    services = compose()["services"]
    nodes = [name for name in services if re.fullmatch(r"nats-\d", name)]
    assert nodes == ["nats-1", "nats-2", "nats-3"]
    for node in nodes:
        assert services[node]["command"] == ["-c", "/etc/nats/cluster.conf"]
        assert services[node]["environment"]["NATS_SERVER_NAME"] == node
        assert "healthcheck" in services[node]
    config = (DEPLOY / "nats" / "cluster.conf").read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", config, re.MULTILINE)
    assert all(f"nats-route://{node}:6222" in config for node in nodes)
    for node in nodes:  # each watched by the NATS exporter, which Prometheus scrapes
        exporter = services[f"nats-exporter-{node[-1]}"]
        assert exporter["command"][-1] == f"http://{node}:8222"
        assert exporter["image"] == "natsio/prometheus-nats-exporter:0.17.3"
    scraped = yaml.safe_load((DEPLOY / "monitoring" / "prometheus.yml").read_text())["scrape_configs"]
    nats_job = next(job for job in scraped if job["job_name"] == "fourlinks-nats")
    assert nats_job["static_configs"][0]["targets"] == [f"nats-exporter-{n}:7777" for n in (1, 2, 3)]


def test_the_init_job_creates_the_stream_with_three_replicas_and_no_durable_consumer() -> None:
    init = compose()["services"]["nats-init"]
    assert init["command"][:4] == ["nats", "init", "--replicas", "3"]
    assert "--consumers" not in init["command"]  # policies keep their own checkpoints
    assert init["environment"]["FOURLINKS_NATS_USER"] == "admin"
    assert init["restart"] == "no"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_healthchecked_waits_for_init_and_has_its_own_credentials(service: str) -> None:
    spec = compose()["services"][service]
    assert "/health/ready" in " ".join(spec["healthcheck"]["test"])
    assert spec["depends_on"]["nats-init"]["condition"] == "service_completed_successfully"
    assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert spec["environment"]["FOURLINKS_NATS_USER"] == service
    secrets = {s["target"]: s["source"] for s in spec["secrets"]}
    assert secrets["fourlinks_nats_password"] == f"nats_{service}_password"
    assert secrets[f"fourlinks_{service}_database_url"] == f"{service}_database_url"
    assert spec["deploy"]["replicas"] >= 2
    assert spec["build"] == {
        "context": ".",
        "dockerfile": "deploy/Dockerfile.service",
        "args": {"SERVICE": service},
    }


def test_the_console_runs_in_production_mode_behind_the_services_with_its_session_secret() -> None:
    console = compose()["services"]["console"]
    assert console["environment"]["FOURLINKS_CONSOLE_ENVIRONMENT"] == "production"
    assert "FOURLINKS_CONSOLE_LOCAL_SIGNIN" not in console["environment"]
    assert {s["target"] for s in console["secrets"]} >= {"fourlinks_console_session_secret"}
    assert set(console["depends_on"]) == set(SERVICES) - {"notifications"}  # the console works without it
    assert "console_session_secret" in (DEPLOY / "make-secrets.sh").read_text()


def defaulted(value: str) -> str:
    """A compose value as `docker compose up` sees it with none of its variables set."""
    return re.sub(r"\$\{[A-Z0-9_]+:?-([^}]*)\}", r"\1", value)


def dev_idp() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The development identity provider's token callback and its people (the catch-all last)."""
    config = json.loads((DEPLOY / "oidc" / "dev-idp.json").read_text())
    (callback,) = config["tokenCallbacks"]
    return callback, callback["requestMappings"]


@contextmanager
def serving_jwks(jwks: dict[str, Any]) -> Iterator[str]:
    """A JWKS endpoint on loopback (as the provider serves its keys); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(jwks).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    finally:
        server.shutdown()


def test_compose_ships_a_development_identity_provider_the_console_and_the_services_agree_on() -> None:
    """`docker compose up` gives a console people can sign in to: the console's OIDC settings name
    the idp service, whose issuer is the same name for the browser and the containers; the services
    accept the tokens it signs; its people carry the claims the console and the services read."""
    services = compose()["services"]
    idp, console = services["idp"], services["console"]
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", idp["image"]), "pinned by version"
    assert idp["ports"] == ["127.0.0.1:8090:8090"]  # loopback only: it signs in whoever opens it
    assert "./deploy/oidc:/etc/fourlinks-idp:ro" in idp["volumes"]
    config = json.loads((DEPLOY / "oidc" / "dev-idp.json").read_text())
    assert config["loginPagePath"].startswith("/etc/fourlinks-idp/")
    assert (DEPLOY / "oidc" / Path(config["loginPagePath"]).name).exists()
    assert idp["environment"]["JSON_CONFIG_PATH"] == "/etc/fourlinks-idp/dev-idp.json"
    callback, people = dev_idp()

    env = {k: defaulted(str(v)) for k, v in console["environment"].items()}
    discovery = urlsplit(env["FOURLINKS_CONSOLE_OIDC_DISCOVERY_URL"])
    assert discovery.hostname in idp["networks"]["default"]["aliases"]  # the containers reach it so
    assert discovery.hostname.endswith(".localhost")  # type: ignore[union-attr]  # and the browser
    assert discovery.port == int(idp["environment"]["SERVER_PORT"]) == 8090  # the same port in and out
    issuer = env["FOURLINKS_CONSOLE_OIDC_DISCOVERY_URL"].removesuffix("/.well-known/openid-configuration")
    assert issuer == f"http://{discovery.netloc}/{callback['issuerId']}"  # the first segment: the issuer
    client = env["FOURLINKS_CONSOLE_OIDC_CLIENT_ID"]
    assert {"fourlinks_console_oidc_client_secret"} <= {s["target"] for s in console["secrets"]}

    for service in SERVICES:
        tokens = {k: defaulted(str(v)) for k, v in services[service]["environment"].items()}
        assert tokens["FOURLINKS_JWT_ALGORITHM"] == "RS256"
        assert tokens["FOURLINKS_JWT_ISSUER"] == issuer
        assert tokens["FOURLINKS_JWT_JWKS_URL"] == f"{issuer}/jwks"
        # The provider puts `aud` in the ID token too: it must be the console's client id.
        assert tokens["FOURLINKS_JWT_AUDIENCE"] == client == people[0]["claims"]["aud"]

    claims_read = {
        name: env.get(f"FOURLINKS_CONSOLE_OIDC_{name.upper()}_CLAIM")
        or ConsoleSettings.model_fields[f"oidc_{name}_claim"].default
        for name in ("roles", "scope", "name")
    }
    *named, anyone = people
    assert (anyone["match"], anyone["claims"][claims_read["roles"]], anyone["claims"]["roles"]) == (
        ".*",
        [],
        [],
    )
    assert {p["requestParam"] for p in people} == {"subject"}  # the name given at the sign-in page
    login_page = (DEPLOY / "oidc" / "login.html").read_text()
    assert re.findall(r'name="username" value="([a-z]+)"', login_page) == [p["match"] for p in named]
    roles = {role for p in named for role in p["claims"]["roles"]}
    assert roles == {"administrator", "secretary", "inspector", "auditor", "member"}  # one per role
    for person in named:
        claims = person["claims"]
        assert claims["aud"] == client
        assert claims[claims_read["roles"]] == claims["roles"]  # what the console reads ...
        assert claims[claims_read["scope"]] == claims["scope"]  # ... and what the services read
        assert claims[claims_read["name"]]


def test_the_development_identity_provider_s_people_sign_in_and_their_tokens_pass_the_services(
    tmp_path: Path,
) -> None:
    """Each person's claims as the provider signs them (RS256, its issuer, their `aud`) make a
    console session and pass the services' token check configured as compose configures it; the
    catch-all name is refused at sign-in."""
    services = compose()["services"]
    env = {k: defaulted(str(v)) for k, v in services["members"]["environment"].items()}
    oidc = {k: defaulted(str(v)) for k, v in services["console"]["environment"].items()}
    console = ConsoleSettings.model_validate(
        {
            "session_secret": "for-the-test-" * 3,
            **{
                k.removeprefix("FOURLINKS_CONSOLE_").lower(): v
                for k, v in oidc.items()
                if k.startswith("FOURLINKS_CONSOLE_OIDC_")
            },
        }
    )
    assert console.oidc_enabled
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "dev-idp", "use": "sig"}
    _, people = dev_idp()
    *named, anyone = people
    now = int(time.time())
    with serving_jwks({"keys": [jwk]}) as jwks_url:
        settings = Settings(
            var_dir=tmp_path,
            jwt_algorithm=env["FOURLINKS_JWT_ALGORITHM"],
            jwt_issuer=env["FOURLINKS_JWT_ISSUER"],
            jwt_audience=env["FOURLINKS_JWT_AUDIENCE"],
            jwt_jwks_url=jwks_url,  # compose's, served here
        )
        verifier = TokenVerifier(settings)
        for person in named:
            claims = {
                "iss": env["FOURLINKS_JWT_ISSUER"],
                "iat": now,
                "nbf": now,
                "exp": now + 600,
                "jti": person["match"],
                "azp": console.oidc_client_id,
                **person["claims"],
            }
            token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dev-idp"})
            signed_in = person_from_claims(console, {"userinfo": claims, "access_token": token})
            actor = verifier.verify(signed_in.token)
            assert (actor.id, actor.roles, actor.scope) == (signed_in.id, signed_in.roles, signed_in.scope)
            assert signed_in.roles
            assert signed_in.scope == "yuhang"
    stranger = {**anyone["claims"], "sub": "someone"}
    with pytest.raises(HTTPException) as refused:
        person_from_claims(console, {"userinfo": stranger, "access_token": "x"})
    assert refused.value.status_code == 403


def test_the_console_s_callback_is_the_redirect_uri_the_docs_name(tmp_path: Path) -> None:
    """The development provider takes any redirect URI; a real one takes only the registered one:
    the docs name the console's callback route."""
    app = console_app(ConsoleSettings(session_secret="for-the-test-" * 3), Settings(var_dir=tmp_path))
    callback = app.url_path_for("oidc_callback")
    assert callback == "/signin/oidc/callback"
    assert f"https://<console host>{callback}" in (ROOT / "docs" / "console.md").read_text()
    assert "8100:8000" in compose()["services"]["console"]["ports"]
    assert f"http://localhost:8100{callback}" in (ROOT / "docs" / "console.md").read_text()


def test_the_checkpointer_signs_as_the_auditor_without_the_master_key() -> None:
    checkpointer = compose()["services"]["checkpoints"]
    assert checkpointer["command"][:3] == ["audit", "checkpoint", "--follow"]
    assert (
        compose()["services"]["console"]["environment"]["FOURLINKS_CONSOLE_AUDIT_URL"]
        == "http://checkpoints:8000"
    )
    assert checkpointer["environment"]["FOURLINKS_NATS_USER"] == "auditor"
    targets = {secret["target"] for secret in checkpointer["secrets"]}
    assert targets == {
        "fourlinks_nats_password",
        "fourlinks_audit_database_url",
        "fourlinks_checkpoint_key",
        "signers.json",  # public keys only: what events are checked against
    }
    assert checkpointer["environment"]["FOURLINKS_SIGNERS_FILE"] == "/run/secrets/signers.json"
    for service in ("members", "assignments", "feedback", "notifications"):
        secrets = {s["source"]: s["target"] for s in compose()["services"][service]["secrets"]}
        assert secrets[f"{service}_signing_key"] == "fourlinks_signing_key"  # its own key, no other's
    assert "audit" in (DEPLOY / "postgres" / "init.sh").read_text()


def test_every_nats_config_sets_max_payload_well_above_the_largest_event() -> None:
    """An event is at most a command body sealed (base64 of AES-GCM: 4/3) in an envelope: the limit
    is set in every shipped config, not left at the server's 1 MB default."""
    configs = {
        "embedded": SERVER_CONFIG,
        "compose": (DEPLOY / "nats" / "cluster.conf").read_text(),
        "kubernetes": (DEPLOY / "k8s" / "base" / "nats-cluster.conf").read_text(),
    }
    for name, text in configs.items():
        assert "\nmax_payload: 8MB\n" in text, name
    largest_event = Settings().max_body_bytes * 4 // 3 + 64 * 1024
    assert 4 * largest_event <= 8 * 1024 * 1024


def test_the_services_that_keep_photos_share_one_store_across_their_replicas() -> None:
    services = compose()["services"]
    for service in ("assignments", "feedback"):
        spec = services[service]
        assert spec["environment"]["FOURLINKS_PHOTOS_DIR"] == "/photos"
        assert "photos:/photos" in spec["volumes"]
    assert "photos" in compose()["volumes"]
    image = (DEPLOY / "Dockerfile.service").read_text()
    assert "chown 10001 /photos" in image  # the non-root user can write the volume


def test_postgres_gets_one_database_per_service() -> None:
    script = (DEPLOY / "postgres" / "init.sh").read_text()
    assert "for service in members assignments feedback" in script
    assert "CREATE DATABASE ${service} OWNER ${service}" in script


@pytest.mark.parametrize(
    "dockerfile", ["deploy/Dockerfile.service", "deploy/Dockerfile.ops", "deploy/Dockerfile.console"]
)
def test_images_are_multi_stage_locked_non_root_and_healthchecked(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) == 2
    assert "uv sync --locked --no-dev" in text
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert "secret" not in text.lower().replace("fourlinks_secrets_dir=/run/secrets", "")
    if "ops" not in dockerfile:
        assert "HEALTHCHECK" in text and "/health/ready" in text  # noqa: PT018


def locked_closure(package: str, extras: tuple[str, ...] = ()) -> set[str]:
    """Every package uv.lock installs for `package` with these extras (what `uv sync --locked --no-dev
    --package` puts in an image), markers ignored: a package for any platform counts."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    entries: dict[str, list[dict[str, Any]]] = {}
    for entry in lock["package"]:
        entries.setdefault(entry["name"], []).append(entry)
    seen: set[tuple[str, str]] = set()
    wanted = [(package, "")] + [(package, extra) for extra in extras]
    while wanted:
        name, extra = wanted.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for entry in entries[name]:
            needs = entry["optional-dependencies"].get(extra, []) if extra else entry.get("dependencies", [])
            for need in needs:
                wanted += [(need["name"], "")] + [(need["name"], e) for e in need.get("extra", [])]
    return {name for name, _ in seen}


@pytest.mark.parametrize(
    "dockerfile", ["deploy/Dockerfile.service", "deploy/Dockerfile.ops", "deploy/Dockerfile.console"]
)
def test_no_image_carries_the_benchmark_harness(dockerfile: str) -> None:
    (sync,) = re.findall(r"uv sync [^\n]*", (ROOT / dockerfile).read_text())
    assert not re.search(r"--(all-)?extras?\b|--(all-)?groups?\b", sync), sync  # no extra, no group
    package = re.search(r"--package \"?([^\s\"]+)", sync).group(1)  # type: ignore[union-attr]
    images = [package.replace("${SERVICE}", service) for service in SERVICES] if "$" in package else [package]
    for image in images:
        installed = locked_closure(image)
        assert {"fourlinks-kernel", "fourlinks-runtime"} <= installed, image  # the closure is real
        assert not {"fourlinks-bench", "eventsourcing"} & installed, image
    assert {"fourlinks-bench", "eventsourcing"} <= locked_closure("fourlinks-cli", ("bench",))


def test_kubernetes_runs_nats_as_a_statefulset_and_probes_every_service() -> None:
    documents = k8s()
    (nats,) = [d for d in documents if d["kind"] == "StatefulSet"]
    assert nats["spec"]["replicas"] == 3
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    assert set(deployments) == {*SERVICES, "console", "checkpoints"}
    checkpointer = deployments["checkpoints"]["spec"]["template"]["spec"]
    assert checkpointer["containers"][0]["args"][:3] == ["audit", "checkpoint", "--follow"]
    mounted = {item["path"] for item in checkpointer["volumes"][0]["secret"]["items"]}
    assert "fourlinks_master_key" not in mounted  # it reads bytes and signs; it decrypts nothing
    for deployment in deployments.values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["resources"]["requests"]
    (job,) = [d for d in documents if d["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][:4] == ["nats", "init", "--replicas", "3"]
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "base" / "kustomization.yaml").read_text())
    # Only files inside the kustomization: kustomize's load restrictor refuses ../ (kubectl apply -k).
    files = kustomization["configMapGenerator"][0]["files"]
    assert "accounts.conf=accounts.conf" in files
    assert not any(".." in f for f in files)


def test_the_shipped_accounts_match_the_services_policies() -> None:
    generated = subprocess.run(
        [sys.executable, "-c", "import tools.nats_accounts as n, sys; sys.stdout.write(n.render())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for shipped in (DEPLOY / "nats" / "accounts.conf", DEPLOY / "k8s" / "base" / "accounts.conf"):
        assert generated == shipped.read_text(), f"{shipped}: run uv run python tools/nats_accounts.py"


def nats_accepts(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(nats_server_binary()), "-t", "-c", str(config)],
        env=NODE_ENV,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("config", ["deploy/nats/cluster.conf", "deploy/k8s/base/nats-cluster.conf"])
def test_nats_server_accepts_every_shipped_config(config: str, tmp_path: Path) -> None:
    (tmp_path / "accounts.conf").write_text((DEPLOY / "nats" / "accounts.conf").read_text())
    (tmp_path / "cluster.conf").write_text((ROOT / config).read_text())
    result = nats_accepts(tmp_path / "cluster.conf")
    assert result.returncode == 0, result.stderr


def test_the_tls_configuration_is_accepted_with_real_certificates(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nats")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("nats")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for stem in ("server", "route", "ca"):
        (tmp_path / f"{stem}.pem").write_bytes(pem)
    for stem in ("server", "route"):
        (tmp_path / f"{stem}-key.pem").write_bytes(key_pem)
    tls = (DEPLOY / "nats" / "tls.conf").read_text().replace("/etc/nats/tls", str(tmp_path))
    cluster = (DEPLOY / "nats" / "cluster.conf").read_text() + "\ninclude ./tls.conf\n"
    (tmp_path / "tls.conf").write_text(tls)
    (tmp_path / "accounts.conf").write_text((DEPLOY / "nats" / "accounts.conf").read_text())
    (tmp_path / "cluster.conf").write_text(cluster)
    result = nats_accepts(tmp_path / "cluster.conf")
    assert result.returncode == 0, result.stderr


def test_secrets_come_from_mounted_files(tmp_path: Path) -> None:
    (tmp_path / "fourlinks_nats_password").write_text("from-a-file")
    (tmp_path / "fourlinks_members_database_url").write_text("postgresql://members:pw@postgres/members")
    settings = Settings(_secrets_dir=tmp_path)  # FOURLINKS_SECRETS_DIR sets this default
    assert settings.nats_password is not None
    assert settings.nats_password.get_secret_value() == "from-a-file"
    assert settings.database_url_for("members") == "postgresql+asyncpg://members:pw@postgres/members"


def kustomized(where: str = "") -> list[dict[str, Any]]:
    """What `kubectl kustomize deploy/k8s[/where]` builds (what `kubectl apply -k` applies)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: `make test` installs it (make monitoring)"
    built = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s" / where)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.mark.parametrize("where", ["", "overlays/production", "overlays/dev"])
def test_kustomize_builds_and_every_object_validates_against_the_kubernetes_schemas(where: str) -> None:
    documents = kustomized(where)
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    assert {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"} == {"fourlinks"}
    broken = copy.deepcopy(next(d for d in documents if d["kind"] == "Deployment"))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):  # the check can fail
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_kubernetes_has_what_an_operator_expects_on_day_one() -> None:
    documents = kustomized()
    kinds = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    assert ("Namespace", "fourlinks") in kinds
    assert kinds[("PodDisruptionBudget", "nats")]["spec"]["maxUnavailable"] == 1  # a drain keeps quorum
    deny = kinds[("NetworkPolicy", "default-deny")]["spec"]
    assert (deny["podSelector"], sorted(deny["policyTypes"])) == ({}, ["Egress", "Ingress"])
    services_egress = kinds[("NetworkPolicy", "services")]["spec"]["egress"]
    assert [rule.get("ports") for rule in services_egress] == [[{"port": 4222}], [{"port": 5432}]]
    photo_store = kinds[("NetworkPolicy", "photo-store")]["spec"]
    assert photo_store["podSelector"]["matchExpressions"][0]["values"] == ["assignments", "feedback"]
    for service in ("assignments", "feedback"):  # photos in a store every replica shares
        items = kinds[("Deployment", service)]["spec"]["template"]["spec"]["volumes"][0]["secret"]["items"]
        assert {"key": "photos-s3-url", "path": "fourlinks_photos_s3_url"} in items
    ingress = kinds[("Ingress", "fourlinks")]["spec"]
    assert ingress["tls"][0]["secretName"] == "fourlinks-tls"
    assert {rule["http"]["paths"][0]["backend"]["service"]["name"] for rule in ingress["rules"]} == {
        *SERVICES,
        "console",
    }
    for document in documents:
        if document["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            assert ":" in image, image  # pinned by version
            assert not image.endswith(":latest"), image
            assert container["resources"]["requests"], image
            if document["kind"] != "Job":
                assert container["startupProbe"], image
                assert container["livenessProbe"], image
                assert container["resources"]["limits"]["memory"], image


NGINX_DEFAULT_BODY = "1m"  # ingress-nginx's proxy-body-size where an Ingress sets none
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}  # GET and HEAD carry no body (BodyLimit lets them by)


def nginx_bytes(size: str) -> float:
    """An nginx size (512k, 11m, a number of bytes) in bytes; 0 is no limit at all."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size.strip()).groups()  # type: ignore[union-attr]
    scaled = int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit.lower()]
    return scaled or float("inf")


@dataclass(frozen=True)
class Location:
    """One path of an Ingress rule: where ingress-nginx sends it and how large a body it lets by."""

    ingress: str
    host: str
    service: str
    path: str
    path_type: str
    regex: bool
    limit: float

    def matches(self, path: str) -> bool:
        """Whether a request for `path` matches (use-regex: `~* ^path`, else Exact or a prefix)."""
        if self.regex:
            return re.match(self.path + ("$" if self.path_type == "Exact" else ""), path, re.I) is not None
        if self.path_type == "Exact":
            return path == self.path
        return self.path in ("/", path) or path.startswith(self.path.rstrip("/") + "/")


def ingress_locations(documents: list[dict[str, Any]]) -> list[Location]:
    """Every path of every Ingress. use-regex holds for every path of a host once any Ingress of
    that host sets it (as ingress-nginx merges them)."""
    ingresses = [d for d in documents if d["kind"] == "Ingress"]
    regex_hosts = {
        rule["host"]
        for ingress in ingresses
        if ingress["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/use-regex") == "true"
        for rule in ingress["spec"]["rules"]
    }
    return [
        Location(
            ingress=ingress["metadata"]["name"],
            host=rule["host"],
            service=path["backend"]["service"]["name"],
            path=path["path"],
            path_type=path["pathType"],
            regex=rule["host"] in regex_hosts,
            limit=nginx_bytes(
                ingress["metadata"]
                .get("annotations", {})
                .get("nginx.ingress.kubernetes.io/proxy-body-size", NGINX_DEFAULT_BODY)
            ),
        )
        for ingress in ingresses
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]


def chosen(locations: list[Location], host: str, path: str) -> Location:
    """The path ingress-nginx serves a request by: an exact one first, else the longest that matches
    (it writes a host's locations longest first)."""
    matching = [loc for loc in locations if loc.host == host and loc.matches(path)]
    assert matching, f"nothing on {host} serves {path}"
    return max(matching, key=lambda loc: (loc.path_type == "Exact", len(loc.path)))


def deployed_settings(documents: list[dict[str, Any]], name: str, var_dir: Path) -> Settings:
    """The service's settings as its Deployment sets them (FOURLINKS_MAX_BODY_BYTES, if it does)."""
    deployment = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    settings = Settings(var_dir=var_dir)
    set_here = env.get("FOURLINKS_MAX_BODY_BYTES")
    return settings.model_copy(update={"max_body_bytes": int(set_here)}) if set_here else settings


def body_limits(name: str, settings: Settings) -> dict[str, int]:
    """Each route of the app that takes a body (its path template with each parameter filled in)
    and the most the app itself lets through there, by the BodyLimit the app is built with."""
    if name == "console":
        app = console_app(ConsoleSettings(session_secret="for-the-test-" * 3), settings)
    else:
        app = importlib.import_module(f"fourlinks_{name}.bootstrap").create_app(settings)
    (layer,) = [m for m in app.user_middleware if isinstance(m.cls, type) and issubclass(m.cls, BodyLimit)]
    given: dict[str, Any] = dict(layer.kwargs)
    rule: BodyLimit = layer.cls(app, **given)  # type: ignore[assignment,call-arg]  # the very rule the app applies
    limits = {}
    for template, methods in app.openapi()["paths"].items():  # every route, the console's pages too
        if BODY_METHODS & {method.upper() for method in methods}:
            path = re.sub(r"\{[^}]+\}", "x1", template)
            limits[path] = next((n for pattern, n in rule.larger if pattern.fullmatch(path)), rule.limit)
    assert limits, f"{name}: its routes were not found"
    return limits


@pytest.mark.parametrize("where", ["", "overlays/dev"])
def test_each_ingress_path_lets_through_what_its_service_takes_and_not_much_more(
    where: str, tmp_path: Path
) -> None:
    """A phone photo is 10 MB: a path that caps it lower answers 413 before the service sees it; a
    path far above its service's own limit lets large bodies cross the cluster for nothing."""
    documents = kustomized(where)
    locations = ingress_locations(documents)
    assert {loc.service for loc in locations} == {*SERVICES, "console", "checkpoints"}
    needed: dict[Location, int] = {}
    for name in {loc.service for loc in locations} - {"checkpoints"}:  # the log takes no body at all
        settings = deployed_settings(documents, name, tmp_path)
        (host,) = {loc.host for loc in locations if loc.service == name}
        for path, limit in body_limits(name, settings).items():
            location = chosen(locations, host, path)
            assert location.service == name, f"{host}{path} goes to {location.service}"
            needed[location] = max(needed.get(location, 0), limit)
        for location in (loc for loc in locations if loc.service == name):
            needed.setdefault(location, settings.max_body_bytes)
    for location, need in needed.items():
        at = f"{location.ingress}: {location.host}{location.path}"
        assert location.limit >= need, f"{at} caps bodies at {location.limit:,.0f} < {need:,} bytes"
        assert location.limit <= 2 * need, f"{at} lets {location.limit:,.0f} bytes by for {need:,}"
    uploads = {loc.path for loc, n in needed.items() if n > Settings().max_body_bytes}
    assert uploads == {
        "/tasks/[^/]+/photos$",
        "/photos$",
        "/r/feedback$",
        "/tasks/[^/]+/do/[^/]+$",
        "/d/[^/]+/report$",
        "/import$",
    }


def storage_bytes(size: str) -> float:
    """A Kubernetes quantity (100Gi) or a NATS size (90GB) in bytes."""
    number, unit = re.fullmatch(r"(\d+)\s*([A-Za-z]*)", size.strip()).groups()  # type: ignore[union-attr]
    scale = {"Gi": 2**30, "GB": 10**9, "G": 10**9, "Ti": 2**40, "TB": 10**12, "Mi": 2**20, "MB": 10**6}
    return int(number) * scale[unit]


@pytest.mark.parametrize("where", ["overlays/production", "overlays/dev"])
def test_each_nats_node_is_watched_by_the_exporter_and_stops_storing_before_its_volume_is_full(
    where: str,
) -> None:
    documents = {(d["kind"], d["metadata"]["name"]): d for d in kustomized(where)}
    nats = documents[("StatefulSet", "nats")]["spec"]
    exporter = next(c for c in nats["template"]["spec"]["containers"] if c["name"] == "exporter")
    assert exporter["image"] == "natsio/prometheus-nats-exporter:0.17.3"
    assert {"-healthz", "-varz", "-jsz=all", "http://localhost:8222"} <= set(exporter["args"])
    monitoring = documents[("NetworkPolicy", "nats")]["spec"]["ingress"][-1]
    assert {"port": 7777} in monitoring["ports"]
    volume = storage_bytes(nats["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"])
    config = next(
        d for (kind, name), d in documents.items() if kind == "ConfigMap" and name.startswith("nats")
    )
    limit = re.search(r"max_file_store:\s*(\S+)", config["data"]["cluster.conf"])
    assert limit, "max_file_store is set"
    assert storage_bytes(limit.group(1)) <= 0.9 * volume  # JetStream says "full" before the disk does


def test_the_dev_overlay_runs_one_nats_node_with_a_one_replica_stream(tmp_path: Path) -> None:
    documents = {(d["kind"], d["metadata"]["name"].split("-")[0]): d for d in kustomized("overlays/dev")}
    assert documents[("StatefulSet", "nats")]["spec"]["replicas"] == 1
    init = documents[("Job", "nats")]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert init[init.index("--replicas") + 1] == "1"
    assert all(d["spec"]["replicas"] == 1 for (kind, _), d in documents.items() if kind == "Deployment")
    for service in ("assignments", "feedback"):  # one replica: photos as files, no object store needed
        items = documents[("Deployment", service)]["spec"]["template"]["spec"]["volumes"][0]["secret"][
            "items"
        ]
        assert not [item for item in items if item["key"].startswith("photos-")]
    config = documents[("ConfigMap", "nats")]["data"]
    (tmp_path / "accounts.conf").write_text(config["accounts.conf"])
    (tmp_path / "cluster.conf").write_text(config["cluster.conf"])
    result = nats_accepts(tmp_path / "cluster.conf")
    assert result.returncode == 0, result.stderr


def test_the_cloudnative_pg_overlay_gives_each_service_its_database_and_only_that_route_to_it() -> None:
    """Only a cluster with the operator can prove the Cluster and Database objects apply; here: every
    standard object validates, the custom ones say what the compose init script does, and the
    services' database traffic goes to the PostgreSQL instances alone."""
    documents = kustomized("overlays/production-cnpg")
    custom = [d for d in documents if d["apiVersion"].startswith("postgresql.cnpg.io/")]
    for document in documents:
        if document not in custom:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)
    script = (DEPLOY / "postgres" / "init.sh").read_text()
    wanted = set(re.search(r"for service in ([a-z ]+);", script).group(1).split())  # type: ignore[union-attr]
    cluster = next(d for d in custom if d["kind"] == "Cluster")
    assert cluster["metadata"]["namespace"] == "fourlinks-db"
    assert cluster["spec"]["instances"] == 3
    assert ":" in cluster["spec"]["imageName"]
    roles = cluster["spec"]["managed"]["roles"]
    assert {r["name"] for r in roles} == wanted
    assert all(r["login"] and r["passwordSecret"]["name"] == f"fourlinks-pg-{r['name']}" for r in roles)
    databases = {d["spec"]["name"]: d["spec"] for d in custom if d["kind"] == "Database"}
    assert set(databases) == wanted
    assert all(
        db["owner"] == name and db["cluster"]["name"] == "fourlinks-pg" for name, db in databases.items()
    )
    policies = {d["metadata"]["name"]: d for d in documents if d["kind"] == "NetworkPolicy"}
    for name in ("services", "checkpoints"):
        database_rule = policies[name]["spec"]["egress"][1]
        assert database_rule["ports"] == [{"port": 5432}]
        assert database_rule["to"][0]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "fourlinks-pg"}


@pytest.mark.parametrize("where", ["", "overlays/dev"])
def test_metrics_and_api_documents_are_not_published_through_the_ingress(where: str) -> None:
    documents = kustomized(where)
    locations = ingress_locations(documents)
    denied = {
        d["metadata"]["name"]
        for d in documents
        if d["kind"] == "Ingress"
        and d["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/denylist-source-range")
        == "0.0.0.0/0,::/0"
    }
    for service in SERVICES:
        (host,) = {loc.host for loc in locations if loc.service == service and loc.ingress == "fourlinks"}
        for path in (
            "/metrics",
            "/docs",
            "/docs/assets/x.js",
            "/openapi.json",
            "/asyncapi",
            "/asyncapi.json",
        ):
            assert chosen(locations, host, path).ingress in denied, f"{host}{path} is published"
        assert chosen(locations, host, "/health/ready").ingress not in denied
        assert chosen(locations, host, "/coverage").ingress not in denied
    (console,) = {loc.host for loc in locations if loc.service == "console" and loc.ingress == "fourlinks"}
    assert chosen(locations, console, "/metrics").ingress in denied, f"{console}/metrics is published"
    assert chosen(locations, console, "/kpis").ingress not in denied


def test_prometheus_scrapes_the_console_where_it_scrapes_the_services() -> None:
    """The console's /metrics (its pages' and its calls' durations) is scraped as the services' are:
    a job in the compose Prometheus, and the monitoring namespace let through to its pods."""
    scraped = yaml.safe_load((DEPLOY / "monitoring" / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scraped}
    assert jobs["fourlinks-console"]["dns_sd_configs"] == [{"names": ["console"], "type": "A", "port": 8000}]
    assert {f"fourlinks-{service}" for service in SERVICES} <= set(jobs)
    policies = {d["metadata"]["name"]: d for d in kustomized("") if d["kind"] == "NetworkPolicy"}
    admitted = [
        peer.get("namespaceSelector", {}).get("matchLabels")
        for rule in policies["console"]["spec"]["ingress"]
        for peer in rule["from"]
    ]
    assert {"kubernetes.io/metadata.name": "monitoring"} in admitted


@pytest.mark.parametrize("where", ["", "overlays/dev", "overlays/production-cnpg"])
def test_the_log_is_published_read_only_at_its_origin(where: str) -> None:
    """An outside auditor reaches the checkpoint, the tiles and the signing keys, at the address the
    checkpoints name as their origin; nothing else of the checkpointer, and nothing but reads."""
    documents = kustomized(where)
    log = [loc for loc in ingress_locations(documents) if loc.service == "checkpoints"]
    (host,) = {loc.host for loc in log}
    for path in ("/checkpoint", "/tile/0/x001/234", "/tile/1/000.p/17", "/signers"):
        assert chosen(log, host, path).service == "checkpoints", path
    for path in ("/metrics", "/integrity", "/health/ready", "/checkpoints", "/tiles/0/000"):
        assert not any(loc.matches(path) for loc in log), f"{host}{path} is published"
    (ingress,) = {loc.ingress for loc in log}
    annotations = next(d for d in documents if d["metadata"]["name"] == ingress)["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/limit-rps"]) > 0  # rate limited at the edge too
    assert {loc.limit for loc in log} == {1024}  # GET and HEAD: nothing to upload

    deployment = next(
        d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "checkpoints"
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["FOURLINKS_LOG_ORIGIN"] == host  # C2SP: the origin is the log's URL prefix, no scheme
    policy = next(
        d for d in documents if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "checkpoints"
    )
    admitted = [
        peer.get("namespaceSelector", {}).get("matchLabels")
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
    ]
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in admitted


def test_compose_publishes_the_log_on_a_port_of_its_own() -> None:
    checkpointer = compose()["services"]["checkpoints"]
    assert checkpointer["ports"] == ["8109:8000"]
    assert checkpointer["environment"]["FOURLINKS_LOG_ORIGIN"] == "${FOURLINKS_LOG_ORIGIN:-}"
    published = [port for service in compose()["services"].values() for port in service.get("ports", [])]
    assert [port for port in published if port.startswith("8109")] == ["8109:8000"]  # no other took it
