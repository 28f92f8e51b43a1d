"""The deploy files say what docs/deploy.md promises; the linters run when they are installed (deploy/check)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(os.environ.get("RELAYGATE_DEPLOY_TOOLS_DIR", Path.home() / ".cache" / "relaygate-deploy-tools"))


def test_dockerfile_is_multistage_non_root_with_healthcheck_and_serve_command() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "USER 10001:10001" in text and "HEALTHCHECK" in text and "/health/ready" in text
    assert 'CMD ["serve", "--host", "0.0.0.0"]' in text and 'ENTRYPOINT ["relaygate"]' in text
    assert "RELAYGATE_DATA_DIR=/data" in text and "RELAYGATE_FIRST_RUN_OUTPUT=file" in text


def test_compose_has_relaygate_postgres_redis_and_a_secret() -> None:
    doc = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = doc["services"]
    assert {"relaygate", "postgres", "redis"} <= set(services)
    rg = services["relaygate"]
    assert rg["environment"]["RELAYGATE_ADMIN_TOKEN_FILE"] == "/run/secrets/relaygate_admin_token"
    assert rg["environment"]["RELAYGATE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert rg["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert all("healthcheck" in services[s] for s in ("postgres", "redis"))


def test_unit_runs_serve_as_its_own_user_with_state_dir() -> None:
    text = (ROOT / "deploy" / "relaygate.service").read_text()
    assert "ExecStart=/opt/relaygate/bin/relaygate serve --host 0.0.0.0" in text
    assert "User=relaygate" in text and "StateDirectory=relaygate" in text and "LoadCredential=admin_token" in text


@pytest.mark.skipif(not (TOOLS / "bin" / "hadolint").exists() or shutil.which("systemd-analyze") is None,
                    reason="deploy/check has not installed hadolint/check-jsonschema here, or no systemd-analyze")
def test_deploy_check_passes() -> None:
    done = subprocess.run([str(ROOT / "deploy" / "check")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "systemd-analyze verify: deploy/relaygate.service ok" in done.stdout
