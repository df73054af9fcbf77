"""`bridge-check`, the Lean kernel checker (`lean_project/Bridge/Check.lean`), against tiny core-only fixtures.

The `lean` tests compile each fixture in `tests/lean_fixtures/checker/` to an .olean with the project's `lean`
(`lake env lean -R DIR -o DIR/M.olean DIR/M.lean`, so the module is named `M`) and run the built checker on
it. They run where a built Lake project is found (see `real_lean_project()` in conftest) and are skipped
elsewhere. The last test needs no Lean.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, real_lean_project

FIXTURES = Path(__file__).parent / "lean_fixtures" / "checker"
FIXTURE_NAMES = ("Reference", "Clean", "Changed", "AxiomCheat", "Forged")
STANDARD_AXIOMS = {"propext", "Classical.choice", "Quot.sound"}
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


@pytest.fixture(scope="module")
def oleans(project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture compiled to DIR/NAME.olean, each in its own directory (the candidate's neighbours are
    never searched, but keeping them apart makes that irrelevant to these tests)."""
    out = {}
    for name in FIXTURE_NAMES:
        d = tmp_path_factory.mktemp(name.lower())
        src = d / f"{name}.lean"
        shutil.copyfile(FIXTURES / f"{name}.lean", src)
        olean = d / f"{name}.olean"
        r = subprocess.run([shutil.which("lake") or "lake", "env", "lean", "-R", str(d), "-o", str(olean), str(src)],
                           cwd=project, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0 and olean.is_file(), f"{name}.lean did not compile:\n{r.stdout}\n{r.stderr}"
        out[name] = olean
    return out


def run_checker(project: Path, checker: Path, *args: str) -> tuple[int, dict]:
    """Run it as the Python side will, under Lake's environment (LEAN_PATH, LEAN_SYSROOT)."""
    r = subprocess.run([shutil.which("lake") or "lake", "env", str(checker), *args], cwd=project,
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
                            "--target", "bridge_target")
    assert (code, out["ok"], out["stage"], out["error"]) == (0, True, "done", None), out
    assert out["imports"] == ["Init"]
    t = only_target(out)
    assert t["kind"] == "theorem" and t["type_matches"] is True
    assert set(t["axioms"]) <= STANDARD_AXIOMS and t["axioms"] == sorted(t["axioms"])


@pytest.mark.lean
def test_without_reference_type_matches_is_null(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Clean"]), "--all-theorems")
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
def test_added_axiom_passes_replay_and_is_listed(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["AxiomCheat"]), "--reference",
                            str(oleans["Reference"]), "--target", "bridge_target")
    assert (code, out["ok"], out["stage"]) == (0, True, "done"), out  # the checker does not judge axioms
    t = only_target(out)
    assert t["type_matches"] is True and "bridge_cheat" in t["axioms"]


@pytest.mark.lean
def test_forged_environment_fails_replay(project: Path, checker: Path, oleans: dict[str, Path]) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Forged"]), "--target", "bridge_target")
    assert (code, out["ok"], out["stage"]) == (1, False, "replay"), out
    assert "(kernel)" in out["error"] and "bridge_forged_false" in out["error"], out["error"]
    assert out["imports"] == ["Lean"]


@pytest.mark.lean
def test_missing_target_and_bad_input(project: Path, checker: Path, oleans: dict[str, Path], tmp_path: Path) -> None:
    code, out = run_checker(project, checker, "--olean", str(oleans["Clean"]), "--target", "no_such_theorem")
    assert (code, out["ok"], out["stage"]) == (1, False, "target") and "no_such_theorem" in out["error"]
    junk = tmp_path / "Junk.olean"
    junk.write_bytes(b"not an olean")
    code, out = run_checker(project, checker, "--olean", str(junk))
    assert (code, out["ok"], out["stage"]) == (1, False, "read") and out["error"]
    code, out = run_checker(project, checker, "--target", "x")
    assert (code, out["ok"], out["stage"]) == (2, False, "args")


def test_fixtures_and_lakefile_declare_the_checker() -> None:
    for name in FIXTURE_NAMES:
        text = (FIXTURES / f"{name}.lean").read_text(encoding="utf-8")
        assert "bridge_target" in text and "Mathlib" not in text, name
    assert "sorry" in (FIXTURES / "Reference.lean").read_text(encoding="utf-8")
    assert "Lean.Environment.mk" in (FIXTURES / "Forged.lean").read_text(encoding="utf-8")
    src = ROOT / "lean_project" / "Bridge" / "Check.lean"
    text = src.read_text(encoding="utf-8")
    for needed in ("readModuleData", "importModulesCore", "finalizeImport", "replay", "CollectAxioms.collect",
                   "compress", "def main"):
        assert needed in text, needed
    lakefile = (ROOT / "lakefile.lean").read_text(encoding="utf-8")
    m = re.search(r"^lean_exe\s+«bridge-check»\s+where\n((?:[ \t]+.*\n?)*)", lakefile, re.M)
    assert m, "lakefile.lean declares no `lean_exe «bridge-check»`"
    body = m.group(1)
    assert re.search(r'^\s+srcDir\s*:=\s*"lean_project"\s*$', body, re.M)
    assert re.search(r"^\s+root\s*:=\s*`Bridge\.Check\s*$", body, re.M)
    assert re.search(r"^\s+supportInterpreter\s*:=\s*true\s*$", body, re.M)
