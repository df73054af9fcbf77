"""`bridge-check`, the Lean kernel checker (`lean_project/Bridge/Check.lean`), against tiny core-only fixtures.

The `lean` tests compile each fixture in `tests/lean_fixtures/checker/` to an .olean with the project's `lean`
(`lake env lean -R DIR -o DIR/M.olean DIR/M.lean`, so the module is named `M`) and run the built checker on
it. They run where a built Lake project is found (see `real_lean_project()` in conftest) and are skipped
elsewhere. The last test needs no Lean.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, real_lean_project

FIXTURES = Path(__file__).parent / "lean_fixtures" / "checker"
FIXTURE_NAMES = ("Reference", "Clean", "Changed", "AxiomCheat", "Forged", "RefDef", "DefSame", "DefChanged",
                 "PrivateAxiom", "RuntimeOnly", "QuotName", "Prelude", "Guillemets", "NoTheorem")
STANDARD_AXIOMS = {"propext", "Classical.choice", "Quot.sound"}
ALLOW = [x for a in sorted(STANDARD_AXIOMS) for x in ("--allow-axiom", a)]
KEYS = {"ok", "stage", "error", "imports", "targets"}

# Whichever test runs first also builds `bridge-check` and compiles the fixtures (module-scoped fixtures).
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def project() -> Path:
    p = real_lean_project()
    assert p is not None  # the `lean` marker skips these tests otherwise
    lakefile = p / "lakefile.lean"
    if not lakefile.is_file() or "bridge-check" not in lakefile.read_text(encoding="utf-8"):
        pytest.skip(f"{p} declares no `bridge-check` executable")
    toolchain = (p / "lean-toolchain").read_text(encoding="utf-8").strip()
    if not toolchain.endswith(":v4.9.0"):
        pytest.skip(f"bridge-check and its fixtures are written for Lean v4.9.0, {p} uses {toolchain}")
    return p


@pytest.fixture(scope="module")
def checker(project: Path) -> Path:
    """The built binary; `lake build bridge-check` first (a no-op when it is up to date)."""
    r = subprocess.run([shutil.which("lake") or "lake", "build", "bridge-check"], cwd=project,
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    binary = project / ".lake" / "build" / "bin" / "bridge-check"
    assert binary.is_file()
    return binary


class Oleans(dict):
    """Each fixture compiled to DIR/NAME.olean on first use, each in its own directory (the candidate's
    neighbours are never searched, but keeping them apart makes that irrelevant to these tests); a fixture
    that does not compile fails the tests that use it only."""

    def __init__(self, project: Path, factory: pytest.TempPathFactory):
        super().__init__()
        self.project, self.factory = project, factory

    def __missing__(self, name: str) -> Path:
        d = self.factory.mktemp(name.lower())
        src = d / f"{name}.lean"
        shutil.copyfile(FIXTURES / f"{name}.lean", src)
        olean = d / f"{name}.olean"
        r = subprocess.run([shutil.which("lake") or "lake", "env", "lean", "-R", str(d), "-o", str(olean), str(src)],
                           cwd=self.project, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0 and olean.is_file(), f"{name}.lean did not compile:\n{r.stdout}\n{r.stderr}"
        self[name] = olean
        return olean


@pytest.fixture(scope="module")
def oleans(project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return Oleans(project, tmp_path_factory)


def run_checker(project: Path, checker: Path, *args: str, abort_on_panic: bool = True) -> tuple[int, dict]:
    """Run it as the Python side will, under Lake's environment (LEAN_PATH, LEAN_SYSROOT), with
    LEAN_ABORT_ON_PANIC=1 (F2)."""
    env = {k: v for k, v in os.environ.items() if k != "LEAN_ABORT_ON_PANIC"}
    if abort_on_panic:
        env["LEAN_ABORT_ON_PANIC"] = "1"
    r = subprocess.run([shutil.which("lake") or "lake", "env", str(checker), *args], cwd=project, env=env,
                       capture_output=True, text=True, timeout=600)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, f"expected one JSON line on stdout, got {r.stdout!r} (stderr: {r.stderr})"
    out = json.loads(lines[0])
    assert set(out) == KEYS, out
    return r.returncode, out


def only_target(out: dict) -> dict:
    assert [t["name"] for t in out["targets"]] == ["bridge_target"], out
    return out["targets"][0]


@pytest.mark.lean
def test_clean_proof_is_accepted(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Clean"]), "--reference", str(oleans["Reference"]),
                            "--target", "bridge_target", *ALLOW)
    assert (code, out["ok"], out["stage"], out["error"]) == (0, True, "done", None), out
    assert out["imports"] == ["Init"]
    t = only_target(out)
    assert t["kind"] == "theorem" and t["type_matches"] is True
    assert set(t["axioms"]) <= STANDARD_AXIOMS and t["axioms"] == sorted(t["axioms"])


@pytest.mark.lean
def test_without_reference_type_matches_is_null(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Clean"]), "--all-theorems", *ALLOW)
    assert code == 0 and out["ok"] and out["stage"] == "done", out
    names = [t["name"] for t in out["targets"]]
    assert "bridge_target" in names and len(names) == len(set(names))
    assert all(t["type_matches"] is None and t["kind"] == "theorem" for t in out["targets"])


@pytest.mark.lean
def test_changed_statement_is_rejected(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Changed"]), "--reference",
                            str(oleans["Reference"]), "--target", "bridge_target")
    assert (code, out["ok"], out["stage"]) == (1, False, "target"), out
    assert only_target(out)["type_matches"] is False
    assert "bridge_target" in out["error"]


@pytest.mark.lean
def test_added_axiom_passes_replay_and_is_refused_by_name(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    args = ["--olean", str(oleans["AxiomCheat"]), "--reference", str(oleans["Reference"]), "--target", "bridge_target"]
    code, out = run_checker(project, checker, *args, *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "axioms"), out
    t = only_target(out)
    assert t["type_matches"] is True and "bridge_cheat" in t["axioms"] and "bridge_cheat" in out["error"]
    # S2: even when allowed by name, an axiom the candidate declares is not imported from a module
    code, out = run_checker(project, checker, *args, *ALLOW, "--allow-axiom", "bridge_cheat")
    assert (code, out["ok"], out["stage"]) == (1, False, "axioms"), out
    assert "not imported from a module" in out["error"]


@pytest.mark.lean
def test_forged_environment_fails_replay(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Forged"]), "--target", "bridge_target")
    assert (code, out["ok"], out["stage"]) == (1, False, "replay"), out
    assert "(kernel)" in out["error"] and "bridge_forged_false" in out["error"], out["error"]
    assert out["imports"] == ["Lean"]


@pytest.mark.lean
def test_missing_target_and_bad_input(project: Path, checker: Path, oleans: dict[str, Path], tmp_path: Path) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Clean"]), "--target", "no_such_theorem", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "target") and "no_such_theorem" in out["error"]
    junk = tmp_path / "Junk.olean"
    junk.write_bytes(b"not an olean")
    code, out = run_checker(project, checker, "--olean", str(junk))
    assert (code, out["ok"], out["stage"]) == (1, False, "read") and out["error"]
    code, out = run_checker(project, checker, "--target", "x")
    assert (code, out["ok"], out["stage"]) == (2, False, "args")


@pytest.mark.lean
def test_s1_a_definition_the_statement_uses_is_compared(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    ref = ["--reference", str(oleans["RefDef"]), "--target", "bridge_target", *ALLOW]
    code, out = run_checker(project, checker, "--olean", str(oleans["DefSame"]), *ref)
    assert (code, out["ok"], out["stage"]) == (0, True, "done"), out
    code, out = run_checker(project, checker, "--olean", str(oleans["DefChanged"]), *ref)
    assert (code, out["ok"], out["stage"]) == (1, False, "target"), out
    assert "bridge_double" in out["error"] and only_target(out)["type_matches"] is False


@pytest.mark.lean
def test_s2_an_axiom_that_prints_as_propext_is_not_propext(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["PrivateAxiom"]), "--reference",
                            str(oleans["Reference"]), "--target", "bridge_target", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "axioms"), out
    assert "propext" in out["error"]


@pytest.mark.lean
def test_s3_a_runtime_only_import_is_refused(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["RuntimeOnly"]), "--all-theorems", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "read"), out
    assert "runtime-only" in out["error"] and "Lean" in out["imports"]


@pytest.mark.lean
def test_s4_quot_comes_from_an_import(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["QuotName"]), "--all-theorems", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "read"), out
    assert "Quot.bridge_extra" in out["error"]
    code, out = run_checker(project, checker, "--olean", str(oleans["Prelude"]), "--all-theorems", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "import"), out
    assert out["imports"] == []


@pytest.mark.lean
def test_s5_the_target_resolves_exactly(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    olean = str(oleans["Guillemets"])
    code, out = run_checker(project, checker, "--olean", olean, "--target", "«bridge_target.x»", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (0, True, "done"), out
    code, out = run_checker(project, checker, "--olean", olean, "--target", "bridge_target.x", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "target"), out
    assert "bridge_target.x" in out["error"]
    code, out = run_checker(project, checker, "--olean", olean, "--target", "«bridge_target", *ALLOW)
    assert (code, out["ok"]) == (1, False), out  # an unclosed guillemet names nothing


@pytest.mark.lean
def test_f1_no_target_is_a_rejection(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Clean"]), *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "target"), out
    code, out = run_checker(project, checker, "--olean", str(oleans["NoTheorem"]), "--all-theorems", *ALLOW)
    assert (code, out["ok"], out["stage"]) == (1, False, "target"), out
    assert out["targets"] == []


@pytest.mark.lean
def test_f2_the_checker_needs_abort_on_panic(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Clean"]), "--target", "bridge_target", *ALLOW,
                            abort_on_panic=False)
    assert (code, out["ok"], out["stage"]) == (2, False, "args"), out
    assert "LEAN_ABORT_ON_PANIC" in out["error"]


# -- the whole strict path against the real project (issue 25, point 6) ---------------------------------


def real_cfg(tmp_path: Path, project: Path, **kw):
    from bridge.config import load_config
    from bridge.lean.sandbox import sandbox_available

    ok, why = sandbox_available()
    if not ok:
        pytest.skip(f"--strict needs the sandbox: {why}")
    return load_config(overrides={"lean_project": project, "cache_dir": tmp_path / "cache", "use_cache": False,
                                  "workers": 2, "timeout": 600, "strict": True, "sandbox": True, **kw})


@pytest.mark.lean
def test_verifier_strict_end_to_end(project: Path, checker: Path, tmp_path: Path) -> None:
    """`Verifier` with --strict: the reference statement compiled once, the candidate compiled to its own
    .olean in the sandbox, `bridge-check` run from its pinned copy under the project's LEAN_PATH."""
    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_code, from_parts

    header = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"
    stmt = "theorem bridge_e2e (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    cands = [from_parts("honest", header, stmt, "  omega"),
             from_parts("helper", header, stmt, "  exact bridge_e2e_aux x h₀",
                        helpers="theorem bridge_e2e_aux (x : ℕ) (h : x + 3 = 5) : x = 2 := by\n  omega\n\n"),
             from_parts("wrong", header, stmt, "  rfl"),
             from_code("code", header, "theorem bridge_e2e_code (n : ℕ) : n + 0 = n := by\n  simp\n")]
    with Verifier(real_cfg(tmp_path, project)) as v:
        assert v.strict_checker.pinned is not None and v.checker_hash == v.strict_checker.pinned.sha256
        got = {x.id: x for x in v.verify(cands)}
    assert got["honest"].verdict == "proved", got["honest"].reason
    assert got["helper"].verdict == "proved", got["helper"].reason
    assert got["code"].verdict == "proved", got["code"].reason
    assert got["wrong"].verdict != "proved"
    refs = list((tmp_path / "cache" / "strict" / "references").rglob("*.olean"))
    assert len(refs) == 1  # one reference statement, compiled once for its three candidates


STRICT_CORPUS = Path(__file__).parent / "lean_fixtures" / "strict_corpus.jsonl"


def strict_corpus() -> list[dict]:
    return [json.loads(x) for x in STRICT_CORPUS.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.mark.lean
@pytest.mark.parametrize("strict", [False, True])
def test_the_lean_side_corpus_on_real_lean(project: Path, checker: Path, tmp_path: Path, strict: bool) -> None:
    """Cases for the Lean-side rules (axioms, statement, gate) written for real Lean 4.9, not for the
    stand-in's markers: 0 false accepts, 0 false rejects, with the fast gate and with --strict."""
    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_parts

    cases = strict_corpus()
    cfg = real_cfg(tmp_path, project)
    cfg = dataclasses.replace(cfg, strict=strict)
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify(from_parts(c["id"], c["header"], c["formal_statement"], c["proof"],
                                                    helpers=c.get("helpers", "")) for c in cases)}
    wrong = []
    for c in cases:
        x = got[c["id"]]
        if c["expect"] == "proved" and x.verdict != "proved":
            wrong.append((c["id"], "false reject", x.rule, x.reason))
        elif c["expect"] != "proved" and x.verdict == "proved":
            wrong.append((c["id"], "false accept"))
        elif c["expect"] != "proved" and c.get("rule") and x.rule not in c["rule"].split("|"):
            wrong.append((c["id"], f"rule {x.rule}, expected {c['rule']}", x.reason))
    assert wrong == []


def test_the_lean_side_corpus_is_well_formed() -> None:
    cases = strict_corpus()
    assert len({c["id"] for c in cases}) == len(cases) >= 10
    assert {c["expect"] for c in cases} == {"proved", "rejected", "failed"}
    for c in cases:
        assert c["formal_statement"].rstrip().endswith(":= by"), c["id"]
        assert "FAKE_" not in json.dumps(c) and "STRICT_" not in json.dumps(c), c["id"]


def test_fixtures_and_lakefile_declare_the_checker() -> None:
    for name in FIXTURE_NAMES:
        text = (FIXTURES / f"{name}.lean").read_text(encoding="utf-8")
        assert "bridge_target" in text and "Mathlib" not in text, name
    assert "sorry" in (FIXTURES / "Reference.lean").read_text(encoding="utf-8")
    assert "Lean.Environment.mk" in (FIXTURES / "Forged.lean").read_text(encoding="utf-8")
    src = ROOT / "lean_project" / "Bridge" / "Check.lean"
    text = src.read_text(encoding="utf-8")
    for needed in ("readModuleData", "importModulesCore", "finalizeImport", "replay", "CollectAxioms.collect",
                   "compress", "def main", "getModuleIdxFor?", "runtimeOnly", "LEAN_ABORT_ON_PANIC", "parseTarget",
                   "closureProblems", "--allow-axiom"):
        assert needed in text, needed
    lakefile = (ROOT / "lakefile.lean").read_text(encoding="utf-8")
    m = re.search(r"^lean_exe\s+«bridge-check»\s+where\n((?:[ \t]+.*\n?)*)", lakefile, re.M)
    assert m, "lakefile.lean declares no `lean_exe «bridge-check»`"
    body = m.group(1)
    assert re.search(r'^\s+srcDir\s*:=\s*"lean_project"\s*$', body, re.M)
    assert re.search(r"^\s+root\s*:=\s*`Bridge\.Check\s*$", body, re.M)
    assert re.search(r"^\s+supportInterpreter\s*:=\s*true\s*$", body, re.M)
