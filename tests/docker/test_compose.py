"""`compose.yaml` is a valid Compose file, checked by a Compose implementation (the `compose_spec`
parser, through the `compose-spec` package), plus the cross-references a parser does not check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

REPO = Path(__file__).resolve().parents[2]
TEXT = (REPO / "compose.yaml").read_text(encoding="utf-8")


def test_the_compose_implementation_accepts_it() -> None:
    compose = PyCompose.from_yaml(TEXT)
    assert sorted(compose.service_names()) == ["minio", "minio-init", "postgres", "redis", "server", "worker"]


def test_the_parser_really_rejects_mistakes() -> None:
    with pytest.raises(ValueError, match="healtcheck"):
        PyCompose.from_yaml(TEXT.replace("    healthcheck:", "    healtcheck:", 1))
    with pytest.raises(ValueError, match="stop_grace_period"):
        PyCompose.from_yaml(TEXT.replace("stop_grace_period: 45s", "stop_grace_period: soon"))


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(TEXT)["services"]
    return services


def test_dependencies_volumes_and_health_checks_line_up() -> None:
    document = yaml.safe_load(TEXT)
    services = _services()
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            assert source in document["volumes"], (name, source)


def test_the_server_service_is_built_from_the_dockerfile_with_every_backend_set() -> None:
    server = _services()["server"]
    assert server["build"] == "."
    assert {"FACTFLOW_DATABASE_URL", "FACTFLOW_QUEUE_URL", "FACTFLOW_STORAGE_URI"} <= set(server["environment"])
    # Longer than the server's shutdown grace, so in-flight work drains before a SIGKILL.
    assert int(server["stop_grace_period"].rstrip("s")) >= 30 + 15


def test_the_worker_service_runs_the_worker_command_with_the_servers_environment_and_scales() -> None:
    services = _services()
    server, worker = services["server"], services["worker"]
    assert worker["build"] == server["build"] == "."
    assert [*worker["entrypoint"], *worker["command"]] == ["factflow-server", "worker"]
    assert worker["environment"] == server["environment"]
    # Scaling needs no fixed host port and no fixed container name.
    assert "ports" not in worker and "container_name" not in worker
    # It starts once the server has migrated the database and answers.
    assert worker["depends_on"] == {"server": {"condition": "service_healthy"}}
    assert worker["healthcheck"] == {"disable": True}
    assert int(worker["stop_grace_period"].rstrip("s")) >= 30 + 15
