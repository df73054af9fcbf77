"""The sandbox, run for real under bubblewrap (skipped with the reason where namespaces are unavailable)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.lean.sandbox import sandbox_available, wrap

ok, why = sandbox_available()
pytestmark = pytest.mark.skipif(not ok, reason=f"bubblewrap unusable here: {why}")


def run_sandboxed(code: str, tmp: Path, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable)
    argv = wrap([sys.executable, "-c", code], tmp, readonly=[exe.parent, exe.resolve().parent.parent], home=home)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_cannot_write_outside_its_tmpdir(tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.mkdir()
    outside = tmp_path / "outside.txt"
    r = run_sandboxed(f"""
import pathlib
pathlib.Path({str(box / 'ok.txt')!r}).write_text('fine')
for target in ({str(outside)!r}, '/tmp/x', '/dev/shm/x', {str(Path.home() / 'x')!r}, '/etc/x', '/var/tmp/x'):
    try:
        pathlib.Path(target).write_text('escaped')
        print('WROTE', target)
    except OSError as e:
        print('DENIED', e.errno)
""", box)
    assert "WROTE" not in r.stdout and r.stdout.count("DENIED") == 6, r.stdout + r.stderr
    assert (box / "ok.txt").read_text() == "fine" and not outside.exists()


def test_cannot_open_a_network_connection(tmp_path: Path) -> None:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        r = run_sandboxed(f"""
import socket
s = socket.socket()
s.settimeout(3)
try:
    s.connect(('127.0.0.1', {port}))
    print('CONNECTED')
except OSError as e:
    print('DENIED', e)
""", tmp_path)
        assert "DENIED" in r.stdout, r.stdout + r.stderr
    finally:
        server.close()


def test_cannot_read_a_file_planted_in_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    secret = home / ".secret"
    secret.write_text("token")
    box = tmp_path / "box"
    box.mkdir()
    r = run_sandboxed(f"""
try:
    print('READ', open({str(secret)!r}).read())
except OSError as e:
    print('DENIED', e.errno)
""", box, home=home)
    assert "DENIED" in r.stdout and "token" not in r.stdout, r.stdout + r.stderr


def test_cannot_see_or_signal_the_parents_processes(tmp_path: Path) -> None:
    me = os.getpid()
    r = run_sandboxed(f"""
import os, signal
pids = [p for p in os.listdir('/proc') if p.isdigit()]
print('PIDS', len(pids))
try:
    os.kill({me}, signal.SIGTERM)
    print('SIGNALLED')
except OSError as e:
    print('DENIED', e.errno)
""", tmp_path)
    assert "DENIED" in r.stdout, r.stdout + r.stderr
    assert int(r.stdout.split("PIDS")[1].split()[0]) <= 3  # bwrap's init, python: nothing of ours


def test_verifier_runs_workers_in_the_sandbox(fake_cfg) -> None:
    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_parts

    with Verifier(fake_cfg(sandbox=True)) as v:
        assert v.sandboxed
        [got] = list(v.verify([from_parts("a", None, "theorem a : True := by\n", "  trivial")]))
    assert got.verdict == "proved"
