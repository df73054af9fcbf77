"""`bridge verify --json --ray local` end to end, with one checking actor killed mid-run: stdout holds
JSON lines only, exactly one right verdict per candidate (those of the run without Ray), and no process
of the run (Ray's, an actor's, a REPL's) is left afterwards. Slow: it starts a Ray instance."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='Ray is not installed: this test needs the `ray` extra (pip install -e ".[ray]")')

from tests.conftest import ROOT, fake_repl_cmd  # noqa: E402

STMT = "theorem t (x : Nat) : x = x := by\n"


def tagged(tag: str) -> list[int]:
    """Processes whose environment holds ``tag``: everything the run started inherits it."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if tag.encode() in env and state != "Z":
            out.append(int(d.name))
    return out


def verify(rows: Path, tmp_path: Path, tag: str, *extra: str, env: dict[str, str]) -> subprocess.Popen[str]:
    e = dict(os.environ, BRIDGE_TEST_RUN=tag, **env)
    return subprocess.Popen([sys.executable, "-m", "bridge", "verify", str(rows), "--json", "--no-sandbox",
                             "--no-cache", "--workers", "2", "--timeout", "20", *extra], cwd=ROOT, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lines(stdout: str) -> dict[str, dict]:
    got: collections.Counter[str] = collections.Counter()
    out = {}
    for line in stdout.splitlines():
        d = json.loads(line)  # anything else on stdout fails here
        assert isinstance(d, dict) and {"id", "verdict"} <= set(d), line
        got[d["id"]] += 1
        out[d["id"]] = d
    assert set(got.values()) <= {1}, got.most_common(3)
    return out


def test_ray_local_with_a_killed_actor_prints_json_only_and_leaves_no_process(tmp_path: Path) -> None:
    rows = [{"id": f"c{i}", "formal_statement": STMT, "proof": f"  rfl -- FAKE_BURN=0.05 {i}"} for i in range(24)]
    rows[5]["proof"] = "  rfl -- FAKE_KILL_PARENT"  # kills its actor, once
    rows += [{"id": "bad", "formal_statement": STMT, "proof": "  exact FAKE_ERROR"},
             {"id": "cheat", "formal_statement": STMT, "proof": "  sorry"}]
    src = tmp_path / "c.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    flag = tmp_path / "killed-once"
    local_tag, ray_tag = f"bridge-test-{uuid.uuid4().hex}", f"bridge-test-{uuid.uuid4().hex}"

    plain = verify(src, tmp_path, local_tag, "--repl-cmd", fake_repl_cmd(), env={})
    out, err = plain.communicate(timeout=300)
    assert plain.returncode == 0, err[-2000:]
    expected = {k: d["verdict"] for k, d in lines(out).items()}

    cmd = fake_repl_cmd(FAKE_REPL_KILL_PARENT_ONCE=str(flag))
    p = verify(src, tmp_path, ray_tag, "--repl-cmd", cmd, "--ray", "local",
               env={"RAY_DEDUP_LOGS": "0"})
    out, err = p.communicate(timeout=400)
    assert p.returncode == 0, err[-3000:]
    got = lines(out)
    assert flag.exists(), "no actor was killed: the test did not test"
    assert {k: d["verdict"] for k, d in got.items()} == expected
    assert len(got) == len(rows) and got["c5"]["attempts"] >= 2
    left = []
    for _ in range(20):  # what the run ended is gone within moments; what it did not end stays
        left = tagged(ray_tag)
        if not left:
            break
        time.sleep(0.25)
    for pid in left:  # do not leave them to the next test
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, [Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in left if Path(f"/proc/{pid}").exists()]


def test_ray_local_stopped_by_ctrl_c_keeps_its_verdicts_and_leaves_no_process(tmp_path: Path) -> None:
    rows = [{"id": f"c{i}", "formal_statement": STMT, "proof": f"  rfl -- FAKE_BURN=0.3 {i}"} for i in range(40)]
    src = tmp_path / "c.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tag = f"bridge-test-{uuid.uuid4().hex}"
    p = verify(src, tmp_path, tag, "--repl-cmd", fake_repl_cmd(), "--ray", "local", env={})
    assert p.stdout is not None
    first = p.stdout.readline()  # the run is under way: Ray is up and an actor has answered
    assert json.loads(first)["verdict"] == "proved"
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-3000:]
    got = lines(first + rest)
    assert 1 <= len(got) < len(rows) and all(d["verdict"] == "proved" for d in got.values())
    left = []
    for _ in range(20):
        left = tagged(tag)
        if not left:
            break
        time.sleep(0.25)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, [Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in left if Path(f"/proc/{pid}").exists()]
