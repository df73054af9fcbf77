"""`--strict`: the reference compile, the candidate compile and the trusted checker (`bridge-check`),
driven through fake `lake`, `lean` and `bridge-check` executables with the real command lines and the
checker's one-JSON-line contract. The verdict must come from the checker's line and exit status only."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bridge.errors import ConfigError, SetupError
from bridge.lean.project import repl_launch
from bridge.lean.sandbox import ENV_ALLOW, sandbox_available
from bridge.verify.api import Verifier
from bridge.verify.cache import TABLE, ResultCache, cache_key
from bridge.verify.candidate import from_code, from_parts
from bridge.verify.soundness import DEFAULT_AXIOMS, Rejection
from bridge.verify.strict import CHECKER_ENV, NEEDS_SANDBOX, StrictChecker, strict_refusal, strict_rejection
from bridge.verify.verdict import Verdict
from tests.conftest import ROOT

STMT = "theorem strict_t (x : Nat) : x = x := by\n"
FAKES = ROOT / "tests" / "fakes"


def tool(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC | stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def strict_cfg(tmp_path: Path, fake_cfg, monkeypatch: pytest.MonkeyPatch):
    return strict_setup(tmp_path, fake_cfg, monkeypatch)


def strict_setup(tmp_path: Path, fake_cfg, monkeypatch: pytest.MonkeyPatch):
    """(config, tool log): a stand-in project with fake `lake`, `lean` and `bridge-check` on PATH."""
    # as root the sandbox runs its command as a fresh unprivileged uid: bound trees must be world-readable
    tmp_path.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- a stand-in project\n")
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.9.0\n")
    log = tmp_path / "calls.log"
    bindir = tmp_path / "tools" / "bin"  # the sandbox binds an executable's prefix (tools/), as a toolchain's
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


def needs_sandbox() -> None:
    from bridge.lean.sandbox import sandbox_available

    ok, why = sandbox_available()
    if not ok:
        pytest.skip(f"--strict needs the sandbox, and bubblewrap is unusable here: {why}")


def direct(cfg) -> StrictChecker:
    """The strict checker on its own, unsandboxed: only so that the fake tools can write their call log
    (``Verifier`` refuses --strict --no-sandbox; these tests check command lines, not isolation)."""
    cfg = dataclasses.replace(cfg, sandbox=False)
    return StrictChecker(cfg, repl_launch(cfg), allow_unsandboxed=True)


def test_strict_verdicts_come_from_the_checker(strict_cfg) -> None:
    needs_sandbox()
    cfg, _ = strict_cfg
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify([from_parts(k, None, STMT, p) for k, (p, _, _) in CASES.items()])}
    for k, (_, verdict, rule) in CASES.items():
        assert (got[k].verdict, got[k].rule) == (verdict, rule), (k, got[k].reason)
    assert "declaration type mismatch" in got["kernel"].reason and "cheat" in got["axiom"].reason


def test_the_checker_command_line(strict_cfg) -> None:
    cfg, log = strict_cfg
    sc = direct(cfg)
    got = {k: sc.check(from_parts(k, None, STMT, p)) for k, (p, _, _) in CASES.items()}
    sc.close()
    for k, (_, _, rule) in CASES.items():
        assert (got[k].rule if got[k] else None) == rule, (k, got[k])
    calls = log.read_text().splitlines()
    refs = [c for c in calls if c.startswith("lean") and "BridgeReference.lean" in c]
    assert len(refs) == 1  # the reference statement is compiled once per problem, not per candidate
    checks = [c for c in calls if c.startswith("bridge-check")]
    assert len(checks) == len(CASES) - 1  # every candidate that compiled
    for c in checks:
        assert "--olean" in c and "--reference" in c and "--target strict_t" in c
        assert all(f"--allow-axiom {a}" in c for a in DEFAULT_AXIOMS) and "--allow-axiom Lean.ofReduceBool" not in c
        lean_path = c.split("LEAN_PATH=", 1)[1]
        assert lean_path == "/lib/lean"  # the project's path only: never the candidate's build directory
        assert "bridge-strict-" not in c.split("LEAN_PATH=")[0].split("--olean")[1].split()[0]


def test_a_candidate_cannot_overwrite_the_reference_it_is_compared_with(strict_cfg) -> None:
    needs_sandbox()
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
    code = "theorem helper_t : True := by\n  trivial\n\ntheorem main_t (x : Nat) : x = x := by\n  rfl\n"
    sc = direct(cfg)
    assert sc.check(from_code("f", None, code)) is None
    [call] = [c for c in log.read_text().splitlines() if c.startswith("bridge-check")]
    assert "--target main_t" in call and "--target helper_t" in call and "--reference" not in call
    if sandbox_available()[0]:
        with Verifier(cfg) as v:
            [got] = list(v.verify([from_code("f", None, code)]))
        assert got.verdict == "proved"


def test_strict_without_the_checker_is_an_error_before_any_candidate(strict_cfg, tmp_path: Path) -> None:
    needs_sandbox()
    cfg, log = strict_cfg
    (Path(cfg.lean_project) / ".lake" / "build" / "bin" / "bridge-check").unlink()
    with pytest.raises(SetupError) as e:
        Verifier(cfg)
    assert "bridge setup" in str(e.value) and "bridge-check" in str(e.value)
    assert not (Path(cfg.cache_dir) / "results.sqlite").exists()  # nothing of that run was cached


def test_strict_with_native_decide_says_why_it_cannot_check(strict_cfg) -> None:
    needs_sandbox()
    cfg, _ = strict_cfg
    cfg = dataclasses.replace(cfg, allow_native_decide=True)
    with Verifier(cfg) as v:
        [got] = list(v.verify([from_parts("n", None, STMT, "  rfl -- FAKE_NATIVE")]))
    assert got.verdict == "rejected" and got.rule == "strict_native"
    assert "native_decide" in got.reason and "cannot run the compiled code" in got.reason


# -- nothing a candidate runs can reach the verifier (issue 25, point 2) --------------------------------


def test_strict_without_the_sandbox_is_refused_before_anything_runs(strict_cfg) -> None:
    cfg, log = strict_cfg
    with pytest.raises(ConfigError) as e:
        Verifier(dataclasses.replace(cfg, sandbox=False, use_cache=True))
    assert str(e.value) == NEEDS_SANDBOX and "\n" not in str(e.value) and e.value.exit_code == 2
    assert not log.exists() and not (Path(cfg.cache_dir) / "results.sqlite").exists()
    assert strict_refusal(True, False) == NEEDS_SANDBOX
    assert strict_refusal(True, True) is None and strict_refusal(False, False) is None
    nosb = dataclasses.replace(cfg, sandbox=False)
    assert StrictChecker(nosb, repl_launch(nosb)).available() == (False, NEEDS_SANDBOX)


def test_cli_refuses_strict_no_sandbox_with_one_line(strict_cfg, tmp_path: Path) -> None:
    cfg, log = strict_cfg
    src = tmp_path / "p.lean"
    src.write_text("theorem strict_t (x : Nat) : x = x := by\n  rfl\n")
    r = subprocess.run([sys.executable, "-m", "bridge.cli.main", "verify", "--strict", "--no-sandbox",
                        "--lean-project", str(cfg.lean_project), "--repl-cmd", cfg.repl_cmd,
                        "--cache-dir", str(cfg.cache_dir), str(src)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "warning" not in ln]
    assert lines == [f"bridge: error: {NEEDS_SANDBOX}"], r.stderr
    assert not log.exists()


def test_a_candidate_cannot_rewrite_the_checker_or_the_cache(strict_cfg) -> None:
    """Sandboxed, the candidate's compile tries to replace the built checker with one that answers `ok`,
    and to overwrite the result cache; neither file changes, and its wrong statement is rejected."""
    needs_sandbox()
    cfg, _ = strict_cfg
    cfg = dataclasses.replace(cfg, use_cache=True)
    built = Path(cfg.lean_project) / ".lake" / "build" / "bin" / "bridge-check"
    db = Path(cfg.cache_dir) / "results.sqlite"
    with Verifier(cfg) as v:
        [honest] = list(v.verify([from_parts("a", None, STMT, "  rfl")]))
        assert honest.verdict == "proved" and db.is_file()
        checker_before = built.read_bytes()
        attack = f"  rfl -- STRICT_TYPE STRICT_FORGE_CHECKER={built} STRICT_OVERWRITE={db}"
        [got] = list(v.verify([from_parts("b", None, STMT, attack)]))
    assert got.verdict == "rejected" and got.rule == "statement", got.reason
    assert built.read_bytes() == checker_before
    assert b"fake-olean" not in db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes()
                                                     if db.with_name(db.name + "-wal").exists() else b"")
    cache = ResultCache(db)  # still our SQLite file, with our rows
    assert cache.db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0] == 2
    cache.close()


def test_the_checker_runs_from_a_copy_pinned_when_the_run_starts(strict_cfg) -> None:
    """A checker rewritten on disk after the run started (by anything) is not the one that runs."""
    cfg, _ = strict_cfg
    built = Path(cfg.lean_project) / ".lake" / "build" / "bin" / "bridge-check"
    sc = direct(cfg)
    assert sc.available()[0] and sc.pinned is not None
    assert sc.pinned.path != built and sc.pinned.sha256 == hashlib.sha256(built.read_bytes()).hexdigest()
    tool(built, "echo '{\"ok\": true, \"stage\": \"done\", \"error\": null, \"imports\": [], \"targets\": "
         "[{\"name\": \"strict_t\", \"kind\": \"theorem\", \"axioms\": [], \"type_matches\": true}]}'\n")
    got = sc.check(from_parts("t", None, STMT, "  rfl -- STRICT_TYPE"))
    assert got is not None and got.rule == "statement"
    sc.pinned.path.chmod(0o755)
    sc.pinned.path.write_text("#!/bin/sh\necho forged\n")  # the copy itself changed: refused, not run
    got = sc.check(from_parts("t2", None, STMT, "  rfl"))
    assert got is not None and got.rule == "strict" and "pinned copy" in got.reason
    sc.close()


def test_a_forged_proved_in_the_cache_is_not_taken_under_strict(strict_cfg) -> None:
    """An unsandboxed process (an earlier --no-sandbox run) may have written any row of results.sqlite,
    key and all: under --strict a cached `proved` is checked again."""
    needs_sandbox()
    cfg, _ = strict_cfg
    cfg = dataclasses.replace(cfg, use_cache=True)
    c = from_parts("t", None, STMT, "  rfl -- STRICT_TYPE")
    with Verifier(cfg) as v:
        v.cache.put(v.key(c), Verdict(id="t", verdict="proved"), checker_hash=v.checker_hash,
                    rules_hash=v.rules_hash)
        [got] = list(v.verify([c]))
    assert got.verdict == "rejected" and not got.cached


def test_cache_entries_record_the_checker_and_the_rules(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "r.sqlite")
    v = Verdict(id="x", verdict="failed", reason="unsolved goals")
    k = cache_key("4.9", "m", "h", "b", "o", checker_hash="c1", rules_hash="r1")
    assert k != cache_key("4.9", "m", "h", "b", "o", checker_hash="c2", rules_hash="r1")
    assert k != cache_key("4.9", "m", "h", "b", "o", checker_hash="c1", rules_hash="r2")
    cache.put(k, v, checker_hash="c1", rules_hash="r1")
    assert cache.get(k, checker_hash="c1", rules_hash="r1") is not None
    assert cache.get(k, checker_hash="c2", rules_hash="r1") is None and cache.get(k) is None
    row = cache.db.execute(f"SELECT checker, rules FROM {TABLE}").fetchone()
    assert row == ("c1", "r1")
    cache.close()


def test_the_cache_key_holds_the_checker_hash_and_the_rules_hash(strict_cfg) -> None:
    needs_sandbox()
    cfg, _ = strict_cfg
    c = from_parts("t", None, STMT, "  rfl")
    with Verifier(cfg) as v:
        k1, h1 = v.key(c), v.checker_hash
    built = Path(cfg.lean_project) / ".lake" / "build" / "bin" / "bridge-check"
    built.write_text(built.read_text() + "# rebuilt\n")
    with Verifier(cfg) as v:
        k2, h2 = v.key(c), v.checker_hash
    with Verifier(cfg, rules=[]) as v:
        k3 = v.key(c)
    assert h1 and h2 and h1 != h2 and len({k1, k2, k3}) == 3


# -- bridge-check's cases, as the stand-in models them (issue 25, point 4) ------------------------------


def test_s1_a_definition_the_statement_uses_must_be_the_references(strict_cfg) -> None:
    cfg, _ = strict_cfg
    header = "import Mathlib\ndef double (n : Nat) : Nat := n + n"
    stmt = "theorem strict_t (x : Nat) : double x = x + x := by\n"
    sc = direct(cfg)
    assert sc.check(from_parts("ok", header, stmt, "  rfl")) is None
    got = sc.check(from_parts("forged", header, stmt, "  rfl -- STRICT_FORGE_USED"))
    assert got is not None and got.rule == "statement" and "double" in got.reason
    sc.close()


def test_s2_an_axiom_outside_the_allow_list_is_refused_by_the_checker(strict_cfg) -> None:
    cfg, _ = strict_cfg
    sc = direct(cfg)
    got = sc.check(from_parts("ax", None, STMT, "  rfl -- STRICT_AXIOM"))
    assert got is not None and got.rule == "axioms" and "cheat" in got.reason
    sc.close()
    line = LINE.replace('"ok": true', '"ok": false').replace('"done"', '"axioms"').replace(
        '"error": null', '"error": "target \'strict_t\' depends on axiom \'propext\', which is declared by the candidate"')
    c = from_parts("x", None, STMT, "  rfl")
    assert strict_rejection(1, line, c, DEFAULT_AXIOMS, False).rule == "axioms"


def test_s3_a_runtime_only_import_is_refused(strict_cfg) -> None:
    cfg, _ = strict_cfg
    sc = direct(cfg)
    got = sc.check(from_parts("rt", "import runtime Mathlib", STMT, "  rfl"))
    assert got is not None and got.rule == "strict" and "runtime-only" in got.reason
    sc.close()


def test_s4_quot_comes_from_an_import(strict_cfg) -> None:
    cfg, _ = strict_cfg
    sc = direct(cfg)
    code = "theorem Quot.strict_extra : True := trivial\n\ntheorem strict_t (x : Nat) : x = x := by\n  rfl\n"
    got = sc.check(from_code("q", None, code))
    assert got is not None and got.rule == "strict" and "Quot" in got.reason
    got = sc.check(from_parts("p", "prelude", STMT, "  rfl"))
    assert got is not None and got.rule in ("strict", "statement") and "no imports" in got.reason
    sc.close()


def test_s5_a_target_resolves_exactly(strict_cfg) -> None:
    cfg, _ = strict_cfg
    code = "theorem «foo.bar» (x : Nat) : x = x := by\n  rfl\n"
    c = from_code("g", None, code)
    sc = direct(cfg)
    assert c.gated() == ["«foo.bar»"] and sc.check(c) is None
    wrong = dataclasses.replace(c, name="foo.bar", theorems=("foo.bar",))
    got = sc.check(wrong)
    assert got is not None and got.rule == "statement" and "foo.bar" in got.reason
    sc.close()


def test_f1_no_target_is_a_rejection(strict_cfg) -> None:
    cfg, log = strict_cfg
    c = dataclasses.replace(from_code("n", None, "theorem strict_t : True := trivial\n"), name=None, theorems=())
    assert c.gated() == []
    sc = direct(cfg)
    got = sc.check(c)
    assert got is not None and got.rule == "statement"
    sc.close()
    assert strict_rejection(0, LINE, c, DEFAULT_AXIOMS, False) is not None
    assert strict_rejection(0, LINE.replace('"targets": [{', '"targets": [], "x": [{'), from_parts("x", None, STMT, "  rfl"),
                            DEFAULT_AXIOMS, False) is not None
    env = {**os.environ, "LEAN_ABORT_ON_PANIC": "1"}
    r = subprocess.run([sys.executable, str(FAKES / "fake_checker.py"), "--olean", str(log)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1  # (not a fake olean: `read`) -- and with one, no --target is `target`:
    olean = log.parent / "M.olean"
    olean.write_text(json.dumps({"format": "fake-olean", "imports": ["Init"], "source": "theorem a : True := trivial"}))
    r = subprocess.run([sys.executable, str(FAKES / "fake_checker.py"), "--olean", str(olean)], env=env,
                       capture_output=True, text=True, timeout=60)
    out = json.loads(r.stdout)
    assert (r.returncode, out["ok"], out["stage"]) == (1, False, "target")


def test_f2_the_checker_runs_with_abort_on_panic(strict_cfg) -> None:
    """The stand-in, like Check.lean, refuses to run without LEAN_ABORT_ON_PANIC=1; the strict checker
    sets it (and the sandbox lets it through), so its runs get past `args`."""
    cfg, log = strict_cfg
    assert CHECKER_ENV == {"LEAN_ABORT_ON_PANIC": "1"} and "LEAN_ABORT_ON_PANIC" in ENV_ALLOW
    olean = log.parent / "M.olean"
    olean.write_text(json.dumps({"format": "fake-olean", "imports": ["Init"], "source": "theorem a : True := trivial"}))
    env = {k: v for k, v in os.environ.items() if k != "LEAN_ABORT_ON_PANIC"}
    r = subprocess.run([sys.executable, str(FAKES / "fake_checker.py"), "--olean", str(olean), "--target", "a"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and json.loads(r.stdout)["stage"] == "args"
    sc = direct(cfg)
    assert sc.check(from_parts("ok", None, STMT, "  rfl")) is None
    sc.close()
    assert strict_rejection(134, "", from_parts("x", None, STMT, "  rfl"), DEFAULT_AXIOMS, False).rule == "strict"


def test_f3_concurrent_reference_compiles_share_one_whole_file(strict_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, _ = strict_cfg
    sc = direct(cfg)
    made: list[str] = []
    real = tempfile.mkstemp

    def spy(*a, **k):
        fd, name = real(*a, **k)
        made.append(name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    c = from_parts("r", None, STMT, "  rfl")
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda _: sc.reference(c), range(4)))
    sc.close()
    assert all(isinstance(o, Path) for o in outs) and len(set(outs)) == 1
    json.loads(outs[0].read_text())  # a whole file
    assert made and len(set(made)) == len(made)  # a temporary name of its own each time
    assert [p.name for p in outs[0].parent.iterdir()] == [outs[0].name]  # no temporary file left


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
    """0 false accepts and 0 false rejects on the adversarial corpus, in every input form it applies to,
    through the fast gate and then the trusted checker (its stand-in, with the real command line and JSON
    line)."""
    from tests.test_soundness_corpus import CHEATS, HONEST, forms

    needs_sandbox()
    cfg, _ = strict_cfg
    cands = {f"{c['id']}@{form}": (c, x) for c in CHEATS + HONEST for form, x in forms(c).items()}
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify(x for _, x in cands.values())}
    assert set(got) == set(cands)
    honest_ids = {c["id"] for c in HONEST}
    assert [k for k, (c, _) in cands.items() if c["id"] not in honest_ids and got[k].verdict == "proved"] == []
    wrong = [(k, got[k].reason) for k, (c, _) in cands.items() if c["id"] in honest_ids and got[k].verdict != "proved"]
    assert wrong == [], "\n".join(map(str, wrong))


def _binds(argv: list[str]) -> tuple[list[Path], list[Path]]:
    """(writable, read-only) destinations of a bwrap command line."""
    rw, ro = [], []
    for i, a in enumerate(argv):
        if a == "--":
            break
        if a in ("--bind", "--bind-try"):
            rw.append(Path(argv[i + 2]))
        elif a in ("--ro-bind", "--ro-bind-try"):
            ro.append(Path(argv[i + 2]))
    return rw, ro


def test_no_lean_process_can_write_the_checker_or_the_cache(strict_cfg, tmp_path: Path) -> None:
    """The REPL workers' and the strict compile's sandboxes: one writable place each, their private
    directory, which holds neither the checker (built or pinned) nor the cache directory; the project is
    bound read-only and the cache directory not at all."""
    needs_sandbox()
    cfg, _ = strict_cfg
    project = Path(cfg.lean_project).resolve()
    cache = Path(cfg.cache_dir).resolve()
    with Verifier(cfg) as v:
        pinned = v.strict_checker.pinned.path.resolve()
        repl_argv = v._repl().argv
        seen: list[list[str]] = []
        real_run = subprocess.run

        def spy(argv, *a, **k):
            seen.append(list(argv))
            return real_run(argv, *a, **k)

        import bridge.verify.strict as strict_mod

        strict_mod.subprocess.run = spy  # type: ignore[assignment]
        try:
            assert v.strict_checker.check(from_parts("s", None, STMT, "  rfl")) is None
        finally:
            strict_mod.subprocess.run = real_run  # type: ignore[assignment]
    assert len(seen) == 3  # the reference compile, the candidate compile, the checker
    protected = [project / ".lake" / "build" / "bin" / "bridge-check", pinned, cache / "results.sqlite", cache]
    for argv in [repl_argv, *seen]:
        rw, ro = _binds(argv)
        assert len(rw) == 1, rw
        for p in protected:
            assert not any(p == w or w in p.parents for w in rw), (p, rw)
        exposed = [r for r in ro if (cache == r or r in cache.parents) and r != Path("/")]
        assert exposed == [], exposed
    rw, ro = _binds(repl_argv)
    assert any(project == r or r in project.parents for r in ro)  # the project (and its checker): read-only
