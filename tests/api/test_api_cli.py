"""``tradebot api token`` and ``tradebot serve`` as a user runs them (real processes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TRADEBOT = str(Path(sys.executable).parent / "tradebot")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADEBOT_HOME": str(home)}
    return subprocess.run([TRADEBOT, *args], env=env, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _main(capsys, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """The command in this process (as the console script runs it): exit code, stdout, stderr."""
    import pytest

    from tradebot.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(list(args))
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def test_token_commands(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path / "home"))
    code, out, err = _main(capsys, "api", "token", "create", "--name", "ci", "--scope", "trade", "--expires", "7d")
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("tb_") and len(secret) > 40 and "\n" not in secret  # printed once, alone
    assert "shown once" in err
    code, out, err = _main(capsys, "api", "token", "list", "--json")
    rows = json.loads(out)["tokens"]
    assert [(t["name"], t["scope"], t["state"]) for t in rows] == [("ci", "trade", "active")]
    assert secret not in out and secret[:7] == rows[0]["prefix"]
    for args, word in ((("--name", "x", "--scope", "root"), "--scope"),
                       (("--name", "y", "--expires", "soon"), "--expires"),
                       (("--name", "bad name!",), "--name"), (("--name", "ci",), "exists")):
        code, out, err = _main(capsys, "api", "token", "create", *args)
        assert code == 2 and err.startswith("error:") and word in err, err
    code, out, err = _main(capsys, "api", "token", "revoke", "--name", "nobody")
    assert code == 2 and "no API token named 'nobody' (tokens: ci)" in err
    assert _main(capsys, "api", "token", "revoke", "--name", "ci")[0] == 0
    assert json.loads(_main(capsys, "api", "token", "list", "--json")[1])["tokens"][0]["state"] == "revoked"


def test_serve_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    secret = _run(home, "api", "token", "create", "--name", "ci", "--scope", "read").stdout.strip()
    port = _free_port()
    env = {**os.environ, "TRADEBOT_HOME": str(home)}
    proc = subprocess.Popen([TRADEBOT, "serve", "--port", str(port), "--no-bots"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even under `&`
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        assert httpx.get(f"{url}/api/runs").status_code == 401
        r = httpx.get(f"{url}/api/runs", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 200 and r.json() == {"runs": []}
        assert "server" not in r.headers  # no server banner
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert f"127.0.0.1:{port}" in err and "warning" not in err.lower()
    assert secret not in out + err
    # Ctrl-C ends `serve` as it ends any command: one line, exit 130 (uvicorn swallows the interrupt)
    assert proc.returncode == 130 and err.strip().splitlines()[-1].startswith("interrupted: the server stopped")


def test_serve_warns_without_tls_off_loopback_and_checks_tls_options(tmp_path: Path, monkeypatch,  # type: ignore[no-untyped-def]
                                                                       capsys) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    code, _, err = _main(capsys, "serve", "--ssl-certfile", str(tmp_path / "cert.pem"))
    assert code == 2 and "--ssl-certfile and --ssl-keyfile go together" in err
    (tmp_path / "key.pem").write_text("x")
    code, _, err = _main(capsys, "serve", "--ssl-certfile", str(tmp_path / "cert.pem"), "--ssl-keyfile",
                         str(tmp_path / "key.pem"))
    assert code == 2 and "cert.pem: no such file" in err
    assert not home.exists()  # refused before anything was created
    port = _free_port()
    env = {**os.environ, "TRADEBOT_HOME": str(home)}
    proc = subprocess.Popen([TRADEBOT, "serve", "--host", "127.0.0.2", "--port", str(port), "--no-bots"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.2:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "without TLS" in err
