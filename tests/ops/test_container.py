"""The container image (opt-in: TRADEBOT_CONTAINER_TESTS=1 and an image built as in the
Dockerfile's header; the normal test run skips this module in well under a second).

The image runs as non-root, holds none of the secrets a run is given, its HEALTHCHECK command
passes, and a paper account in a named volume advances and survives the container."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

IMAGE = os.environ.get("TRADEBOT_IMAGE", "localhost/tradebot:latest")

if os.environ.get("TRADEBOT_CONTAINER_TESTS") != "1":
    pytest.skip("container tests are opt-in: set TRADEBOT_CONTAINER_TESTS=1 (needs podman and a built image)",
                allow_module_level=True)
if shutil.which("podman") is None:
    pytest.skip("podman is not installed", allow_module_level=True)
if subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True).returncode != 0:
    pytest.skip(f"image {IMAGE} not built (see the Dockerfile's header)", allow_module_level=True)


def podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def volume():  # type: ignore[no-untyped-def]
    name = f"tradebot-test-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "-f", name, check=False)


def test_image_is_non_root_and_has_a_healthcheck() -> None:
    assert podman("run", "--rm", "--entrypoint", "id", IMAGE).stdout.startswith("uid=10001(tradebot)")
    (info,) = json.loads(podman("image", "inspect", IMAGE).stdout)
    assert info["Config"]["User"] == "10001:10001"
    assert info["Healthcheck"]["Test"] == ["CMD", "tradebot-entrypoint", "doctor", "--quick"]


def test_paper_in_a_volume_advances_and_survives_the_container(volume: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "key"
    secret = f"tok-{uuid.uuid4().hex}"
    secret_file.write_text(secret)
    secret_file.chmod(0o644)
    run = ["run", "--rm", "-v", f"{volume}:/data", "-v", f"{secret_file}:/run/secrets/key:ro",
           "-e", "TRADEBOT_EXCHANGES__BINANCE__API_KEY_FILE=/run/secrets/key", IMAGE]
    first = podman(*run, "paper", "-a", "demo", "--source", "sim", "--timeframe", "1m", "--since", "2026-01-01")
    assert "demo:" in first.stdout and "candle(s)" in first.stdout, first.stdout
    health = podman(*run, "doctor", "--quick")  # the HEALTHCHECK command, through the entrypoint
    assert health.stdout.strip().endswith("healthy"), health.stdout
    again = podman(*run, "paper", "-a", "demo")  # a new container: the account is still there
    assert "demo:" in again.stdout and "catching up" not in again.stderr
    logs = podman("run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "cat", IMAGE, "/data/logs/tradebot.log",
                  check=False).stdout
    assert secret not in logs + first.stdout + first.stderr + again.stdout + again.stderr
    archive = tmp_path / "image.tar"
    podman("save", "-o", str(archive), IMAGE, timeout=600)
    with tarfile.open(archive) as outer:
        names = outer.getnames()
        data = b"".join(outer.extractfile(m).read() for m in outer.getmembers() if m.isfile())  # type: ignore[union-attr]
    assert secret.encode() not in data
    assert not [n for n in names if n.endswith(("config.toml", ".env"))]
