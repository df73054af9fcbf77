"""Against a real Lake project with Mathlib and the REPL (run where one is found; skipped elsewhere).

Set BRIDGE_LEAN_PROJECT to a built project, or run `bridge setup` in this repository first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.verify.api import Verifier
from bridge.verify.candidate import from_parts
from tests.conftest import real_lean_project

pytestmark = pytest.mark.lean

CORPUS = Path(__file__).parent / "corpus"


def cfg(tmp_path: Path):
    return load_config(overrides={"lean_project": real_lean_project(), "cache_dir": tmp_path, "use_cache": False,
                                  "workers": 2, "timeout": 300})


def test_demo_proofs_are_proved(tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (Path(__file__).parents[1] / "datasets" / "demo.jsonl").read_text().splitlines()]
    cands = [from_parts(r["name"], r["header"], r["formal_statement"], r["proof"]) for r in rows]
    with Verifier(cfg(tmp_path)) as v:
        got = {x.id: x for x in v.verify(cands)}
    assert all(x.verdict == "proved" and x.gate == "full" for x in got.values()), \
        {k: x.reason for k, x in got.items() if x.verdict != "proved"}


def test_real_lean_verdicts(tmp_path: Path) -> None:
    h = "import Init\n"
    s = "theorem real_t (n : Nat) : n + 0 = n := by\n"
    cands = [from_parts("ok", h, s, "  simp"), from_parts("sorry", h, s, "  stop\n  simp"),
             from_parts("err", h, s, "  exact foo_bar_baz"), from_parts("unsolved", h, s, "  skip")]
    with Verifier(cfg(tmp_path)) as v:
        got = {x.id: x.verdict for x in v.verify(cands)}
    assert got == {"ok": "proved", "sorry": "incomplete", "err": "failed", "unsolved": "incomplete"}


def test_adversarial_corpus_on_real_lean(tmp_path: Path) -> None:
    cases = []
    for f in ("cheats.jsonl", "honest.jsonl"):
        cases += [json.loads(x) for x in (CORPUS / f).read_text().splitlines() if x.strip()]
    cases = [c for c in cases if c.get("lean", True)]
    cands = [from_parts(c["id"], c["header"], c["formal_statement"], c["proof"], helpers=c.get("helpers", ""))
             for c in cases]
    with Verifier(cfg(tmp_path)) as v:
        got = {x.id: x for x in v.verify(cands)}
    false_accepts = [c["id"] for c in cases if c["expect"] == "rejected" and got[c["id"]].verdict == "proved"]
    false_rejects = [(c["id"], got[c["id"]].reason) for c in cases
                     if c["expect"] == "proved" and got[c["id"]].verdict != "proved"]
    assert not false_accepts and not false_rejects


# -- every Lean-facing assumption of the harness, checked against this installation ------------------


def _repl(tmp_path: Path, transport: str, sandbox: bool):
    import dataclasses

    c = dataclasses.replace(cfg(tmp_path), transport=transport, sandbox=sandbox)
    v = Verifier(c)
    return v, v._repl()


@pytest.mark.parametrize("sandbox", [False, True])
def test_a_real_repl_answer_arrives_over_the_pty(tmp_path: Path, sandbox: bool) -> None:
    """REPL v4.9.0 never flushes stdout (REPL/Main.lean at v4.9.0): over the pty each answer arrives at
    once, sandboxed too (the toolchain under ~/.elan bound read-only)."""
    from bridge.lean.protocol import Command
    from bridge.lean.sandbox import sandbox_available

    if sandbox and not sandbox_available()[0]:
        pytest.skip("bubblewrap unusable here")
    v, r = _repl(tmp_path, "pty", sandbox)
    try:
        r.start()
        first = r.send(Command(cmd="example : 1 + 1 = 2 := rfl"), 300)
        probe = r.send(Command(cmd="#check Nat", env=first.env), 60)  # type: ignore[union-attr]
        assert not first.errors and not probe.errors and probe.messages[0].data.startswith("Nat")  # type: ignore[union-attr]
    finally:
        r.kill()
        v.close()


@pytest.mark.parametrize("sandbox", [False, True])
def test_the_setup_built_repl_flushes_and_answers_over_pipes(tmp_path: Path, sandbox: bool) -> None:
    """`bridge setup` backports upstream's flush (bridge/lean/flush_backport.py) and the default transport
    is then pipes: each answer arrives without a pseudo-terminal. Where the project's REPL was built
    without the backport, `auto` must have chosen the pty instead."""
    from bridge.lean import flush_backport
    from bridge.lean.project import LeanProject
    from bridge.lean.protocol import Command
    from bridge.lean.sandbox import sandbox_available

    if sandbox and not sandbox_available()[0]:
        pytest.skip("bubblewrap unusable here")
    project = LeanProject(real_lean_project())  # type: ignore[arg-type]
    v, r = _repl(tmp_path, "auto", sandbox)
    flushed = flush_backport.answers_flushed(project.path, project.repl_binary())
    assert r.transport_kind == ("pipe" if flushed else "pty")
    if not flushed:
        v.close()
        pytest.skip("this project's REPL was built without the flush backport (run `bridge setup`)")
    try:
        r.start()
        first = r.send(Command(cmd="example : 1 + 1 = 2 := rfl"), 300)
        probe = r.send(Command(cmd="#check Nat", env=first.env), 60)  # type: ignore[union-attr]
        assert not first.errors and not probe.errors and probe.messages[0].data.startswith("Nat")  # type: ignore[union-attr]
    finally:
        r.kill()
        v.close()


def test_a_missing_import_is_a_setup_error_not_failed_verdicts(tmp_path: Path) -> None:
    """REPL v4.9.0 answers a failed import with a bare env (REPL/Frontend.lean drops the header's
    messages): the probe `#check Nat` must fail in that env and make it a setup error."""
    s = "theorem real_t (n : Nat) : n + 0 = n := by\n"
    cands = [from_parts("bad", "import Bridge.NoSuchModule\n", s, "  simp"), from_parts("good", "import Init\n", s, "  simp")]
    with Verifier(cfg(tmp_path)) as v:
        got = {x.id: x for x in v.verify(cands)}
    assert got["bad"].verdict == "crashed" and got["bad"].rule == "setup", got["bad"].reason
    assert got["good"].verdict == "proved"


def test_follow_up_wording_of_this_lean(tmp_path: Path) -> None:
    """`#print axioms` and the pp.all `#check` read as bridge/verify/soundness.py expects, and options
    the follow-up sets exist in this Lean (an unknown option would reject every candidate)."""
    from bridge.lean.protocol import Command
    from bridge.verify.soundness import check_command, followup_command, read_followup

    v, r = _repl(tmp_path, "pty", False)
    try:
        r.start()
        head = r.send(Command(cmd="import Init"), 300)
        thm = r.send(Command(cmd="theorem wording_t (n : Nat) : n + 0 = n := by simp\n"
                             "theorem wording_s : True := by sorry", env=head.env), 300)  # type: ignore[union-attr]
        follow = r.send(Command(cmd=followup_command("wording_t", ["wording_s"]), env=thm.env), 60)  # type: ignore[union-attr]
        got = read_followup(["wording_t", "wording_s"], follow)  # type: ignore[arg-type]
        assert not isinstance(got, str), got
        assert "sorryAx" in got.axioms["wording_s"] and "sorryAx" not in got.axioms["wording_t"]
        assert got.printed.startswith("@wording_t : ∀ (n : Nat)")
        ref = r.send(Command(cmd=check_command("wording_t"), env=thm.env), 60)
        assert not ref.errors  # type: ignore[union-attr]
        from bridge.verify.verdict import SORRY_WARNING

        assert any(SORRY_WARNING.search(m.data) for m in thm.messages or [])  # type: ignore[union-attr]
    finally:
        r.kill()
        v.close()


def test_lean4checker_cli(tmp_path: Path) -> None:
    """lean4checker (pinned in lakefile.lean) replays a built module: `lake env lean4checker MODULE`."""
    import subprocess

    from bridge.lean.project import LeanProject

    project = LeanProject(real_lean_project())
    binary = project.lean4checker_binary()
    if binary is None:
        pytest.skip("lean4checker is not built in this project (`bridge setup` builds it)")
    subprocess.run(["lake", "build", "Bridge"], cwd=project.path, check=True, capture_output=True, timeout=1800)
    r = subprocess.run(["lake", "env", str(binary), "Bridge.Demo"], cwd=project.path, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr


def test_setup_is_idempotent_and_doctor_can_run(tmp_path: Path) -> None:
    """The commands of `bridge setup` exist for this toolchain: on a ready project every step is done,
    and `bridge doctor` starts the REPL (sandboxed when it can) and says verification can run."""
    import os
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    env = dict(os.environ, BRIDGE_LEAN_PROJECT=str(real_lean_project()))
    r = subprocess.run([sys.executable, "-m", "bridge", "setup", "--lean-project", str(real_lean_project())],
                       capture_output=True, text=True, cwd=root, env=env, timeout=3600)
    assert r.returncode == 0 and "already done" in r.stderr, r.stderr
    d = subprocess.run([sys.executable, "-m", "bridge", "doctor", "--json", "--lean-project", str(real_lean_project())],
                       capture_output=True, text=True, cwd=root, env=env, timeout=900)
    report = json.loads(d.stdout)
    probe = next(c for c in report["checks"] if c["item"] == "repl probe")
    assert probe["ok"], probe
