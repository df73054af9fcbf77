"""`--strict`: the rebuild, the kernel replay and the axiom probe, driven through fake `lake`, `lean` and
lean4checker executables that log their calls. The verdict must come from the checker's exit status
and the probe process's output."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from bridge.verify.api import Verifier
from bridge.verify.candidate import from_parts

STMT = "theorem strict_t (x : Nat) : x = x := by\n"


def tool(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def strict_cfg(tmp_path: Path, fake_cfg, monkeypatch: pytest.MonkeyPatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- a stand-in project\n")
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.9.0\n")
    log = tmp_path / "calls.log"
    bindir = tmp_path / "bin"
    tool(bindir / "lake", f'echo "lake $*" >> {log}\n'
         '[ "$1 $2" = "env printenv" ] && printf "LEAN_PATH=/lib/lean\\0PATH=%s\\0" "$PATH"\nexit 0\n')
    # lean: `-o OUT SRC` compiles (fails on KERNEL_SYNTAX), `lean PROBE` prints the axioms of the module
    tool(bindir / "lean", f"""echo "lean $*" >> {log}
if [ "$1" = "-o" ]; then
  grep -q STRICT_COMPILE_FAIL "$3" && {{ echo "error: compile failed"; exit 1; }}
  touch "$2"; exit 0
fi
src="$(dirname "$1")/BridgeCandidate.lean"
if grep -q STRICT_AXIOM "$src"; then echo "'strict_t' depends on axioms: [propext, cheat]";
else echo "'strict_t' depends on axioms: [propext]"; fi
""")
    tool(project / ".lake" / "packages" / "lean4checker" / ".lake" / "build" / "bin" / "lean4checker",
         f'echo "lean4checker $* LEAN_PATH=$LEAN_PATH" >> {log}\n'
         'grep -q STRICT_KERNEL "$(echo $LEAN_PATH | cut -d: -f1)/BridgeCandidate.lean" && '
         '{ echo "kernel: declaration type mismatch"; exit 1; }\nexit 0\n')
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    cfg = dataclasses.replace(fake_cfg(), strict=True, lean_project=project, use_cache=False)
    return cfg, log


@pytest.mark.parametrize("sandbox", [True, False])
def test_strict_accepts_and_rejects_by_the_checkers(strict_cfg, sandbox: bool) -> None:
    from bridge.lean.sandbox import sandbox_available

    if sandbox and not sandbox_available()[0]:
        pytest.skip("bubblewrap unusable here")
    cfg, log = strict_cfg
    cfg = dataclasses.replace(cfg, sandbox=sandbox)
    cands = {
        "ok": "  rfl",
        "kernel": "  rfl -- STRICT_KERNEL",
        "axiom": "  rfl -- STRICT_AXIOM",
        "compile": "  rfl -- STRICT_COMPILE_FAIL",
    }
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify([from_parts(k, None, STMT, p) for k, p in cands.items()])}
    assert got["ok"].verdict == "proved"
    assert got["kernel"].verdict == "rejected" and got["kernel"].rule == "kernel"
    assert "declaration type mismatch" in got["kernel"].reason
    assert got["axiom"].verdict == "rejected" and got["axiom"].rule == "axioms" and "cheat" in got["axiom"].reason
    assert got["compile"].verdict == "rejected" and got["compile"].rule == "strict"
    if sandbox:
        return  # the sandboxed tools cannot write the call log: everything outside their tmpdir is read-only
    import re

    by_dir: dict[str, list[str]] = {}
    for c in log.read_text().splitlines():
        m = re.search(r"bridge-strict-[^/: ]+", c)
        if m:
            by_dir.setdefault(m.group(0), []).append(c.split()[0] + (" -o" if " -o " in c else ""))
    # each candidate: rebuild, kernel replay, axiom probe, in that order (stopping at the first failure)
    assert sorted(map(tuple, by_dir.values())) == sorted([
        ("lean -o", "lean4checker", "lean"), ("lean -o", "lean4checker"), ("lean -o", "lean4checker", "lean"),
        ("lean -o",)])


def test_strict_without_a_checker_rejects_with_the_next_step(strict_cfg) -> None:
    cfg, _ = strict_cfg
    checker = Path(cfg.lean_project) / ".lake" / "packages" / "lean4checker" / ".lake" / "build" / "bin" / "lean4checker"
    checker.unlink()
    with Verifier(cfg) as v:
        [got] = list(v.verify([from_parts("ok", None, STMT, "  rfl")]))
    assert got.verdict == "rejected" and "bridge setup" in got.reason
