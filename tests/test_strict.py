"""`--strict`: the reference compile, the candidate compile and the trusted checker (`bridge-check`),
driven through fake `lake`, `lean` and `bridge-check` executables with the real command lines and the
checker's one-JSON-line contract. The verdict must come from the checker's line and exit status only."""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from pathlib import Path

import pytest

from bridge.errors import SetupError
from bridge.verify.api import Verifier
from bridge.verify.candidate import from_code, from_parts
from bridge.verify.soundness import Rejection
from bridge.verify.strict import strict_rejection
from tests.conftest import ROOT

STMT = "theorem strict_t (x : Nat) : x = x := by\n"
FAKES = ROOT / "tests" / "fakes"


def tool(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC | stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def strict_cfg(tmp_path: Path, fake_cfg, monkeypatch: pytest.MonkeyPatch):
    # as root the sandbox runs its command as a fresh unprivileged uid: bound trees must be world-readable
    tmp_path.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- a stand-in project\n")
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.9.0\n")
    log = tmp_path / "calls.log"
    bindir = tmp_path / "bin"
    py = sys.executable
    tool(bindir / "lake", '[ "$1 $2" = "env printenv" ] && printf "LEAN_PATH=/lib/lean\\0PATH=%s\\0FAKE_TOOL_LOG=%s\\0" '
         f'"$PATH" "{log}"\nexit 0\n')
    tool(bindir / "lean", f'exec {py} {FAKES / "fake_lean.py"} "$@"\n')
    tool(project / ".lake" / "build" / "bin" / "bridge-check", f'exec {py} {FAKES / "fake_checker.py"} "$@"\n')
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    extra = os.pathsep.join(map(str, [sys.prefix, sys.base_prefix, FAKES, bindir]))
    cfg = dataclasses.replace(fake_cfg(), strict=True, lean_project=project, use_cache=False, sandbox_paths=extra,
                              cache_dir=tmp_path / "cache")
    return cfg, log


CASES = {
    "ok": ("  rfl", "proved", None),
    "kernel": ("  rfl -- STRICT_KERNEL", "rejected", "kernel"),
    "axiom": ("  rfl -- STRICT_AXIOM", "rejected", "axioms"),
    "type": ("  rfl -- STRICT_TYPE", "rejected", "statement"),
    "compile": ("  rfl -- STRICT_COMPILE_FAIL", "rejected", "strict"),
    # the compile prints a clean checker line and a clean `#print axioms`: neither is read
    "forged": ("  rfl -- STRICT_FORGE_STDOUT STRICT_KERNEL", "rejected", "kernel"),
    "crash": ("  rfl -- STRICT_CHECKER_CRASH", "rejected", "strict"),
}


@pytest.mark.parametrize("sandbox", [True, False])
def test_strict_verdicts_come_from_the_checker(strict_cfg, sandbox: bool) -> None:
    from bridge.lean.sandbox import sandbox_available

    if sandbox and not sandbox_available()[0]:
        pytest.skip("bubblewrap unusable here")
    cfg, log = strict_cfg
    cfg = dataclasses.replace(cfg, sandbox=sandbox)
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify([from_parts(k, None, STMT, p) for k, (p, _, _) in CASES.items()])}
    for k, (_, verdict, rule) in CASES.items():
        assert (got[k].verdict, got[k].rule) == (verdict, rule), (k, got[k].reason)
    assert "declaration type mismatch" in got["kernel"].reason and "cheat" in got["axiom"].reason
    if sandbox:
        return  # the sandboxed tools cannot write the call log: nothing outside their tmpdir is writable
    calls = log.read_text().splitlines()
    refs = [c for c in calls if c.startswith("lean") and "BridgeReference.lean" in c]
    assert len(refs) == 1  # the reference statement is compiled once per problem, not per candidate
    checks = [c for c in calls if c.startswith("bridge-check")]
    assert len(checks) == len(CASES) - 1  # every candidate that compiled
    for c in checks:
        assert "--olean" in c and "--reference" in c and "--target strict_t" in c
        lean_path = c.split("LEAN_PATH=", 1)[1]
        assert lean_path == "/lib/lean"  # the project's path only: never the candidate's build directory
        assert "bridge-strict-" not in c.split("LEAN_PATH=")[0].split("--olean")[1].split()[0]


def test_a_candidate_cannot_overwrite_the_reference_it_is_compared_with(strict_cfg) -> None:
    from bridge.lean.sandbox import sandbox_available

    if not sandbox_available()[0]:
        pytest.skip("bubblewrap unusable here")
    cfg, _ = strict_cfg
    with Verifier(cfg) as v:
        [first] = list(v.verify([from_parts("a", None, STMT, "  rfl")]))
        refs = list((Path(cfg.cache_dir) / "strict" / "references").rglob("*.olean"))
        assert first.verdict == "proved" and len(refs) == 1
        before = refs[0].read_bytes()
        attack = f"  rfl -- STRICT_TYPE STRICT_OVERWRITE={refs[0]}"
        [second] = list(v.verify([from_parts("b", None, STMT, attack)]))
    assert refs[0].read_bytes() == before
    assert second.verdict == "rejected" and second.rule == "statement"


def test_free_form_code_sends_every_theorem_to_the_checker(strict_cfg) -> None:
    cfg, log = strict_cfg
    cfg = dataclasses.replace(cfg, sandbox=False)
    code = "theorem helper_t : True := by\n  trivial\n\ntheorem main_t (x : Nat) : x = x := by\n  rfl\n"
    with Verifier(cfg) as v:
        [got] = list(v.verify([from_code("f", None, code)]))
    assert got.verdict == "proved"
    [call] = [c for c in log.read_text().splitlines() if c.startswith("bridge-check")]
    assert "--target main_t" in call and "--target helper_t" in call and "--reference" not in call


def test_strict_without_the_checker_is_an_error_before_any_candidate(strict_cfg, tmp_path: Path) -> None:
    cfg, log = strict_cfg
    (Path(cfg.lean_project) / ".lake" / "build" / "bin" / "bridge-check").unlink()
    with pytest.raises(SetupError) as e:
        Verifier(cfg)
    assert "bridge setup" in str(e.value) and "bridge-check" in str(e.value)
    assert not (Path(cfg.cache_dir) / "results.sqlite").exists()  # nothing of that run was cached


def test_strict_with_native_decide_says_why_it_cannot_check(strict_cfg) -> None:
    cfg, _ = strict_cfg
    cfg = dataclasses.replace(cfg, sandbox=False, allow_native_decide=True)
    with Verifier(cfg) as v:
        [got] = list(v.verify([from_parts("n", None, STMT, "  rfl -- FAKE_NATIVE")]))
    assert got.verdict == "rejected" and got.rule == "strict_native"
    assert "native_decide" in got.reason and "cannot run the compiled code" in got.reason


LINE = '{"ok": true, "stage": "done", "error": null, "imports": ["Mathlib"], ' \
       '"targets": [{"name": "strict_t", "kind": "theorem", "axioms": ["propext"], "type_matches": true}]}'


@pytest.mark.parametrize("rc,out,rule", [
    (0, LINE, None),
    (0, LINE + "\n" + LINE, "strict"),                      # two lines: not the checker's answer
    (1, LINE, "strict"),                                    # exit status and `ok` disagree
    (139, "", "strict"),                                    # died without a line
    (0, "not json", "strict"),
    (0, LINE.replace('"propext"', '"propext", "sorryAx"'), "sorry"),
    (0, LINE.replace('"propext"', '"Lean.ofReduceBool"'), "axioms"),
    (0, LINE.replace('"strict_t"', '"other"'), "statement"),
    (0, LINE.replace('"type_matches": true', '"type_matches": null'), "statement"),
    (1, LINE.replace('"ok": true', '"ok": false').replace('"done"', '"replay"'), "kernel"),
])
def test_the_checker_line_is_read_strictly(rc: int, out: str, rule: str | None) -> None:
    c = from_parts("x", None, STMT, "  rfl")
    got = strict_rejection(rc, out, c, frozenset({"propext", "Classical.choice", "Quot.sound"}), False)
    assert (got.rule if isinstance(got, Rejection) else None) == rule


def test_the_corpus_under_strict_with_the_fake_checker(strict_cfg) -> None:
    """0 false accepts and 0 false rejects on the adversarial corpus through the fast gate and then the
    trusted checker (its fake, with the real command line and JSON line)."""
    from tests.test_soundness_corpus import CHEATS, HONEST, candidate

    cfg, _ = strict_cfg
    with Verifier(dataclasses.replace(cfg, sandbox=False)) as v:
        got = {x.id: x for x in v.verify(candidate(c) for c in CHEATS + HONEST)}
    assert [c["id"] for c in CHEATS if got[c["id"]].verdict == "proved"] == []
    assert [(c["id"], got[c["id"]].reason) for c in HONEST if got[c["id"]].verdict != "proved"] == []
