"""`bridge data trace REPO --rev REV`: a repository traced by lean-dojo becomes problem rows. Tested at
lean-dojo's API boundary with a traced result the test builds: stand-in objects carrying the attribute and
method names lean-dojo v4.20.0 gives them (src/lean_dojo/data_extraction/traced_data.py, lean.py); lean-dojo
itself is not installed."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bridge.data.trace import trace_rows


@dataclass(frozen=True)
class LeanGitRepo:
    url: str
    commit: str
    lean_version: str = "v4.9.0"


@dataclass(frozen=True)
class Pos:
    line_nb: int
    column_nb: int = 1


@dataclass(frozen=True)
class Comment:
    start: Pos
    end: Pos
    text: str


@dataclass(frozen=True)
class Theorem:
    repo: LeanGitRepo
    file_path: Path
    full_name: str


@dataclass
class LeanFile:
    path: Path
    code: list[str]


@dataclass
class TracedFile:
    lean_file: LeanFile


@dataclass
class TracedTheorem:
    theorem: Theorem
    statement: str
    tactic_proof: str | None
    start: Pos
    traced_file: TracedFile
    comments: list[Comment] = field(default_factory=list)
    is_private: bool = False

    def get_theorem_statement(self) -> str:
        return self.statement

    def get_tactic_proof(self) -> str | None:
        return self.tactic_proof

    def has_tactic_proof(self) -> bool:
        return self.tactic_proof is not None


@dataclass
class TracedRepo:
    repo: LeanGitRepo
    theorems: list[TracedTheorem]
    dependencies: dict = field(default_factory=dict)

    def get_traced_theorems(self) -> list[TracedTheorem]:
        return self.theorems


REPO = LeanGitRepo("https://github.com/example/lean-example", "0123456789abcdef0123")
MATHLIB = LeanGitRepo("https://github.com/leanprover-community/mathlib4", "fedcba")
CODE = """import Mathlib.Data.Nat.Basic
import Mathlib.Tactic

open Nat

namespace Example

/-- Adding zero changes nothing. -/
theorem add_zero' (n : ℕ) : n + 0 = n := by
  simp

theorem mul_one' (n : ℕ) : n * 1 = n :=
  Nat.mul_one n

@[simp] private lemma two : 1 + 1 = 2 := by decide

end Example
""".splitlines(keepends=True)


def traced() -> TracedRepo:
    f = TracedFile(LeanFile(Path("Example/Basic.lean"), CODE))
    path = Path("Example/Basic.lean")
    return TracedRepo(REPO, [
        TracedTheorem(Theorem(REPO, path, "Example.add_zero'"), "theorem add_zero' (n : ℕ) : n + 0 = n :=",
                      "by\n  simp", Pos(9), f, [Comment(Pos(8), Pos(8), "/-- Adding zero changes nothing. -/")]),
        TracedTheorem(Theorem(REPO, path, "Example.mul_one'"), "theorem mul_one' (n : ℕ) : n * 1 = n :=", None,
                      Pos(12), f),
        TracedTheorem(Theorem(REPO, path, "Example.two"), "@[simp] private lemma two : 1 + 1 = 2 :=", "by decide",
                      Pos(15), f, is_private=True),
        TracedTheorem(Theorem(REPO, path, "Example.odd"), "theorem odd : ∀ n : ℕ, n = n\n  | _ => rfl", None, Pos(17), f),
        TracedTheorem(Theorem(MATHLIB, Path("Mathlib/X.lean"), "Nat.x"), "theorem x : True :=", "by trivial",
                      Pos(3), TracedFile(LeanFile(Path("Mathlib/X.lean"), ["import Mathlib.Init\n"]))),
    ])


def test_traced_theorems_become_problem_rows() -> None:
    out = trace_rows(traced())
    rows = {r["name"]: r for r in out.rows}
    assert list(rows) == ["Example.add_zero'", "Example.mul_one'", "Example.two"]
    r = rows["Example.add_zero'"]
    assert r["header"] == "import Mathlib.Data.Nat.Basic\nimport Mathlib.Tactic\nopen Nat\nopen Example\n"
    assert r["formal_statement"] == "theorem add_zero' (n : ℕ) : n + 0 = n := by\n"
    assert r["proof"] == "  simp\n"  # the human proof, continuing `:= by`
    assert r["informal_prefix"] == "/-- Adding zero changes nothing. -/\n"
    assert r["informal_statement"] == "Adding zero changes nothing."
    assert r["source"] == f"{REPO.url}@{REPO.commit}" and r["file"] == "Example/Basic.lean"
    assert r["lean_version"] == "v4.9.0" and r["split"] == "train"
    assert "proof" not in rows["Example.mul_one'"] and rows["Example.mul_one'"]["informal_prefix"] == ""
    assert rows["Example.two"]["proof"] == " decide\n" and "private" in rows["Example.two"]["tags"]
    assert out.skipped == {"in a dependency": 1, "no `:=` ends the statement (pattern-matching or `where` "
                                                "definitions)": 1}
    deps = trace_rows(traced(), with_dependencies=True)
    assert "Nat.x" in {r["name"] for r in deps.rows}
    assert trace_rows(traced(), limit=1).rows[0]["name"] == "Example.add_zero'"


def test_rows_are_a_pool_prove_and_train_read(tmp_path: Path) -> None:
    from bridge.config import load_config
    from bridge.data.loader import load_dataset
    from bridge.train.data import read_synthetic
    from bridge.verify.candidate import from_parts

    path = tmp_path / "traced.jsonl"
    rows = trace_rows(traced()).rows
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    problems = load_dataset(str(path), load_config(), split="train")
    assert [p.id for p in problems] == ["Example.add_zero'", "Example.mul_one'", "Example.two"]
    assert problems[0].informal_statement and problems[0].header.startswith("import Mathlib.Data.Nat.Basic")
    # the human proofs, as `iterate --synthetic` and `train sft` take them
    with_proof = tmp_path / "sft.jsonl"
    with_proof.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows if "proof" in r))
    pairs = read_synthetic(with_proof)
    assert [p.id for p, _ in pairs] == ["Example.add_zero'", "Example.two"]
    c = from_parts("x", rows[0]["header"], rows[0]["formal_statement"], rows[0]["proof"])
    assert c.body == "theorem add_zero' (n : ℕ) : n + 0 = n := by\n  simp\n" and c.name == "add_zero'"


def test_the_command_through_a_stand_in_lean_dojo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from bridge.cli.main import main

    calls = []
    fake = types.ModuleType("lean_dojo")

    def make_repo(url: str, commit: str) -> LeanGitRepo:
        calls.append((url, commit))
        return LeanGitRepo(url, commit, "v4.15.0")

    fake.LeanGitRepo = make_repo  # type: ignore[attr-defined]
    def trace(repo: LeanGitRepo) -> TracedRepo:  # the theorems of the repository that was asked for
        t = traced().theorems[0]
        return TracedRepo(repo, [dataclasses.replace(t, theorem=dataclasses.replace(t.theorem, repo=repo))])

    fake.trace = trace  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lean_dojo", fake)
    out = tmp_path / "rows.jsonl"
    assert main(["data", "trace", REPO.url, "--rev", "v1.0", "-o", str(out)]) == 0
    assert calls == [(REPO.url, "v1.0")]
    got = capsys.readouterr()
    assert "1 theorem(s), 1 with a human tactic proof" in got.out
    assert "is on Lean v4.15.0" in got.err  # the verifier's pin differs: said, not hidden
    assert [json.loads(x)["name"] for x in out.read_text().splitlines()] == ["Example.add_zero'"]


def test_without_lean_dojo_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from bridge.cli.main import main

    monkeypatch.setitem(sys.modules, "lean_dojo", None)  # an import of it fails
    assert main(["data", "trace", REPO.url, "--rev", "main"]) == 3
    assert '.[dojo]' in capsys.readouterr().err
