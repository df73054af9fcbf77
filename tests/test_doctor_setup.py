"""`bridge doctor` and `bridge setup` with fake lean, lake and elan executables on PATH."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def bridge(*args: str, path: str, cwd: Path = ROOT, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=path, **(extra or {}))
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def make_tool(bindir: Path, name: str, body: str) -> None:
    p = bindir / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IEXEC)


def base_path(bindir: Path) -> str:
    # the fakes first, then only system directories (no real elan/lean/lake can leak in)
    return f"{bindir}:/usr/bin:/bin"


def test_doctor_without_lean_names_what_is_missing(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    r = bridge("doctor", "--lean-project", str(ROOT), path=base_path(bindir))
    assert r.returncode == 1
    assert "lean" in r.stdout and "MISSING" in r.stdout and "bridge setup" in r.stdout
    rj = bridge("doctor", "--json", "--lean-project", str(ROOT), path=base_path(bindir))
    d = json.loads(rj.stdout)
    assert rj.returncode == 1 and not d["ok"] and any("repl" in m for m in d["missing"])


def test_doctor_reports_fake_lean_and_lake_versions(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    make_tool(bindir, "lean", 'echo "Lean (version 4.9.0, x86_64-unknown-linux-gnu, commit fake, Release)"\n')
    make_tool(bindir, "lake", 'echo "Lake version 5.0.0-fake (Lean version 4.9.0)"\n')
    r = bridge("doctor", "--json", "--lean-project", str(ROOT), path=base_path(bindir))
    d = json.loads(r.stdout)
    items = {c["item"]: c for c in d["checks"]}
    assert "version 4.9.0" in items["lean"]["value"] and "Lake version 5.0.0-fake" in items["lake"]["value"]


def test_doctor_ok_with_a_repl_command(tmp_path: Path) -> None:
    from tests.conftest import fake_repl_cmd

    bindir = tmp_path / "bin"
    bindir.mkdir()
    r = bridge("doctor", "--repl-cmd", fake_repl_cmd(), path=base_path(bindir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verification can run" in r.stdout


def test_setup_without_elan_gives_the_install_command(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    r = bridge("setup", "--cache-dir", str(tmp_path / "cache"), "--lean", "v4.15.0", path=base_path(bindir))
    assert r.returncode != 0
    assert "elan-init.sh" in r.stderr and "next step" in r.stderr


def _fake_toolchain(tmp_path: Path) -> tuple[Path, Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    state = tmp_path / "installed"
    make_tool(bindir, "elan", f"""
echo "elan $*" >> {log}
case "$1" in
  --version) echo "elan 3.1.1-fake" ;;
  toolchain)
    case "$2" in
      list) [ -f {state} ] && cat {state} ;;
      install) echo "leanprover/lean4:$3" | sed 's/leanprover\\/lean4:leanprover\\/lean4:/leanprover\\/lean4:/' >> {state}; echo "installed $3" ;;
    esac ;;
esac
""")
    make_tool(bindir, "lake", f"""
echo "lake $*" >> {log}
case "$1 $2" in
  "exe cache") mkdir -p .lake/packages/mathlib/.lake/build/lib && touch .lake/packages/mathlib/.lake/build/lib/Mathlib.olean; echo "Decompressing 5000 file(s)" ;;
  "build repl") mkdir -p .lake/packages/REPL/.lake/build/bin && touch .lake/packages/REPL/.lake/build/bin/repl; echo "Build completed" ;;
  "build lean4checker") mkdir -p .lake/packages/lean4checker/.lake/build/bin && touch .lake/packages/lean4checker/.lake/build/bin/lean4checker ;;
  "build bridge-check") mkdir -p .lake/build/bin && touch .lake/build/bin/bridge-check ;;
esac
""")
    return bindir, log


def test_setup_runs_the_steps_in_order_and_is_idempotent(tmp_path: Path) -> None:
    bindir, log = _fake_toolchain(tmp_path)
    cache = tmp_path / "cache"
    r = bridge("setup", "--lean", "v4.15.0", "--cache-dir", str(cache), path=base_path(bindir))
    assert r.returncode == 0, r.stderr
    calls = [c for c in log.read_text().splitlines() if "list" not in c]
    assert calls == ["elan toolchain install leanprover/lean4:v4.15.0", "lake exe cache get", "lake build repl",
                     "lake build bridge-check", "lake build lean4checker"]
    ws = cache / "workspaces" / "v4.15.0"
    assert (ws / "lean-toolchain").read_text().strip() == "leanprover/lean4:v4.15.0"
    assert '@ "v4.15.0"' in (ws / "lakefile.lean").read_text()
    log.write_text("")
    r2 = bridge("setup", "--lean", "v4.15.0", "--cache-dir", str(cache), path=base_path(bindir))
    assert r2.returncode == 0 and r2.stderr.count("already done") == 6  # with `repl flush`: no v4.9.0 source
    assert [c for c in log.read_text().splitlines() if "list" not in c] == []
    # the workspace is usable as --lean-project: doctor finds its REPL and Mathlib
    make_tool(bindir, "lean", 'echo "Lean (version 4.15.0, fake)"\n')
    d = json.loads(bridge("doctor", "--json", "--lean-project", str(ws), path=base_path(bindir)).stdout)
    items = {c["item"]: c for c in d["checks"]}
    assert items["repl"]["ok"] and items["mathlib"]["ok"]


def test_setup_failure_names_the_step(tmp_path: Path) -> None:
    bindir, _ = _fake_toolchain(tmp_path)
    make_tool(bindir, "lake", 'echo "error: could not resolve host github.com" >&2; exit 1\n')
    r = bridge("setup", "--lean", "v4.15.0", "--cache-dir", str(tmp_path / "cache"), path=base_path(bindir))
    assert r.returncode != 0 and "mathlib cache" in r.stderr and "could not resolve host" in r.stderr


def test_doctor_soundness_runs_the_corpus_through_the_gate(tmp_path: Path) -> None:
    """With a REPL that is a fake, the table lists every real-Lean case of the corpus."""
    from tests.conftest import fake_repl_cmd

    r = bridge("doctor", "--soundness", "--json", "--repl-cmd", fake_repl_cmd(), "--cache-dir", str(tmp_path),
               path=os.environ["PATH"])
    d = json.loads(r.stdout)
    assert isinstance(d["soundness"], list) and len(d["soundness"]) >= 60
    # a fake cannot elaborate: the cases only real Lean rejects (`stop`, a false claim) are all it gets wrong
    corpus = ROOT / "tests" / "corpus" / "cheats.jsonl"
    needs_lean = {c["id"] for c in map(json.loads, corpus.read_text().splitlines()) if c.get("fake") and c["lean"]}
    wrong = {row["id"] for row in d["soundness"] if not row["ok"]}
    assert wrong == needs_lean and r.returncode == 1
    assert d["trustworthy"] is False
    # the table's last word is that verification cannot be trusted here, not that it can run
    t = bridge("doctor", "--soundness", "--repl-cmd", fake_repl_cmd(), "--cache-dir", str(tmp_path),
               path=os.environ["PATH"])
    last = t.stdout.strip().splitlines()[-1]
    assert t.returncode == 1 and last.startswith("verification is not trustworthy here"), t.stdout[-2000:]
    assert "verification can run" not in t.stdout


def test_a_built_project_runs_its_repl_directly_with_lakes_environment(tmp_path: Path,
                                                                       monkeypatch) -> None:
    """`lake env` is asked once for the environment; workers start the REPL binary itself with it."""
    from bridge.config import load_config
    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_parts

    project = tmp_path / "project"
    binary = project / ".lake" / "packages" / "REPL" / ".lake" / "build" / "bin" / "repl"
    seen = tmp_path / "seen"
    make_tool_dir = binary.parent
    make_tool_dir.mkdir(parents=True)
    (project / "lakefile.lean").write_text("-- stand-in\n")
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.9.0\n")
    binary.write_text(f"#!/bin/sh\necho \"$LEAN_PATH\" > {seen}\nexec {sys.executable} {ROOT / 'tests' / 'fakes' / 'fake_repl.py'}\n")
    binary.chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "lake.log"
    make_tool(bindir, "lake", f'echo "lake $*" >> {calls}\nprintf "LEAN_PATH=/opt/fake/lib/lean\\0PATH=$PATH\\0"\n')
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    cfg = load_config(overrides={"lean_project": project, "cache_dir": tmp_path / "c", "sandbox": False,
                                 "workers": 2}, environ={})
    with Verifier(cfg) as v:
        assert v.launch.argv == [str(binary)]
        got = list(v.verify([from_parts(f"a{i}", None, "theorem a : True := by\n", f"  trivial -- {i}")
                             for i in range(4)]))
    assert all(x.verdict == "proved" for x in got)
    assert seen.read_text().strip() == "/opt/fake/lib/lean"
    assert calls.read_text().splitlines() == ["lake env printenv -0"]  # asked once, not per worker


@pytest.mark.parametrize("version,why", [("v4.12.0", "on no branch"), ("v4.13.0", "no commit made for"),
                                         ("v4.9.0-rc1", "release candidates"), ("v9.9.9", "no REPL revision")])
def test_setup_refuses_an_unsupported_version_before_writing_anything(tmp_path: Path, version: str, why: str) -> None:
    bindir, log = _fake_toolchain(tmp_path)
    cache = tmp_path / "cache"
    r = bridge("setup", "--lean", version, "--cache-dir", str(cache), path=base_path(bindir))
    assert r.returncode != 0 and why in r.stderr and "Supported: v4.9.0" in r.stderr
    assert not (cache / "workspaces").exists() and not log.exists()


def test_setup_pins_the_nearest_commit_where_the_repl_has_no_tag(tmp_path: Path) -> None:
    from bridge.lean.workspace import write_workspace

    ws = write_workspace(tmp_path / "ws", "v4.11.0")
    text = (ws.path / "lakefile.lean").read_text()
    assert '"https://github.com/leanprover-community/repl" @ "65f1337eab0c0c400143ce85ea9063bc20c83a45"' in text
    assert '"https://github.com/leanprover/lean4checker" @ "v4.11.0"' in text
    text = (write_workspace(tmp_path / "ws2", "v4.30.0").path / "lakefile.lean").read_text()
    assert "require lean4checker" not in text  # none after v4.29.0-rc8: not pinned at all
    r = bridge("setup", "--help", path=base_path(tmp_path))
    assert "v4.11.0 (REPL commit 65f1337eab0c" in " ".join(r.stdout.split())


def test_an_rc_toolchain_is_not_the_release(tmp_path: Path) -> None:
    from bridge.lean.workspace import installed_toolchains

    listing = "leanprover/lean4:v4.9.0-rc1\nleanprover/lean4:v4.15.0 (default)\n"
    got = installed_toolchains(listing)
    assert "leanprover/lean4:v4.9.0" not in got and "leanprover/lean4:v4.15.0" in got
    bindir, log = _fake_toolchain(tmp_path)
    (tmp_path / "installed").write_text("leanprover/lean4:v4.15.0-rc1\n")
    r = bridge("setup", "--lean", "v4.15.0", "--cache-dir", str(tmp_path / "cache"), path=base_path(bindir))
    assert r.returncode == 0 and "elan toolchain install leanprover/lean4:v4.15.0" in log.read_text()


def test_doctor_says_when_lean_is_not_the_pinned_version(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    make_tool(bindir, "lean", 'echo "Lean (version 4.9.0-rc1, x86_64-unknown-linux-gnu, commit fake, Release)"\n')
    make_tool(bindir, "lake", 'echo "Lake version 5.0.0-fake (Lean version 4.9.0-rc1)"\n')
    d = json.loads(bridge("doctor", "--json", "--lean-project", str(ROOT), path=base_path(bindir)).stdout)
    lean = {c["item"]: c for c in d["checks"]}["lean"]
    assert not lean["ok"] and "pins v4.9.0" in lean["note"] and "v4.9.0-rc1" in lean["note"]
