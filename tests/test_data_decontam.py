"""Statement decontamination by the whole statement (issue 26): a canonical form that disguises cannot
change, a near-duplicate score that needs the same conclusion, and a threshold that reports nothing
between the disjoint splits of the shipped data while every planted disguise is caught against the
problem it copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.data.decontam import (
    EXACT,
    NEAR_THRESHOLD,
    EvalIndex,
    canonical,
    find_contamination,
    find_overlaps,
    similarity,
)
from bridge.data.loader import load_dataset
from bridge.data.problem import Problem
from tests.fakes.disguise import DISGUISES, disguises
from tests.test_data import cfg
from tests.test_data_check import data

BOILERPLATE = "(x y z : ℝ) (h₀ : 0 < x ∧ 0 < y ∧ 0 < z)"


def P(pid: str, statement: str, split: str = "train") -> Problem:
    return Problem(id=pid, split=split, header="", formal_statement=statement)


def test_canonical_form_ignores_what_a_copier_changes() -> None:
    base = "theorem t (a b : ℝ) (h₀ : 0 < a) (h₁ : a + b = 3) : a * b ≤ 9 / 4 := by\n"
    same = [
        "theorem other (x y : ℝ) (h₀ : 0 < x) (h₁ : x + y = 3) : x * y ≤ 9 / 4 := by\n",  # variables
        "theorem t (a b : ℝ) (ha : 0 < a) (hsum : a + b = 3) : a * b ≤ 9 / 4 := by\n",  # hypotheses
        "theorem t (a b : ℝ) (h₁ : a + b = 3) (h₀ : 0 < a) : a * b ≤ 9 / 4 := by\n",  # swapped
        "theorem t   (a b : ℝ)\n  (h₀ : 0 < a)   -- positive\n  /- the sum -/ (h₁ : a + b = 3) :\n a*b ≤ 9/4 := by\n",
        "theorem t (a b : ℝ) (h₀ : (0 < a)) (h₁ : ((a + b) = 3)) : (a * b ≤ 9 / 4) := by\n",  # parentheses
        "theorem t (a b : ℝ) (h₀ : a > 0) (h₁ : a + b = 3) : a * b ≤ 9 / 4 := by\n",  # > read as <
        "theorem t (a : ℝ) (b : ℝ) (h : 0 < a ∧ a + b = 3) : a * b ≤ 9 / 4 := by\n  nlinarith\n",  # conjunction, proof
    ]
    for s in same:
        assert canonical(s).key == canonical(base).key, s
    differ = [
        "theorem t (a b : ℝ) (h₀ : 0 < a) (h₁ : a + b = 4) : a * b ≤ 9 / 4 := by\n",
        "theorem t (a b : ℝ) (h₀ : 0 < b) (h₁ : a + b = 3) : a * b ≤ 9 / 4 := by\n",
        "theorem t (a b : ℝ) (h₀ : 0 < a) (h₁ : a + b = 3) : a * b < 9 / 4 := by\n",
        "theorem t (a b : ℕ) (h₀ : 0 < a) (h₁ : a + b = 3) : a * b ≤ 9 / 4 := by\n",
    ]
    for s in differ:
        assert canonical(s).key != canonical(base).key, s


def test_bound_variables_and_set_builders_are_alpha_normalised() -> None:
    a = canonical("theorem t (f : ℕ → ℕ) (h : ∀ n, f (n + 1) > f n) : ∃ k ∈ Finset.range 3, f k = ∑ i in Finset.range k, i")
    b = canonical("theorem u (g : ℕ → ℕ) (hg : ∀ (m : ℕ), g m < g (m + 1)) : ∃ j ∈ Finset.range 3, g j = ∑ t in Finset.range j, t")
    assert a.conclusion == b.conclusion
    assert canonical("theorem t : {x : ℝ | 0 < x} = S").key == canonical("theorem t : {y : ℝ | 0 < y} = S").key


def test_shared_boilerplate_is_not_a_match() -> None:
    """The old rule's false positive: a long shared run of hypothesis boilerplate, another problem."""
    ev = [P("e", f"theorem e {BOILERPLATE} (h₁ : x * y * z = 1) : x + y + z ≥ 3 := by\n", "test")]
    train = [P("t", f"theorem t {BOILERPLATE} (h₁ : x + y + z = 1) : x * y * z ≤ 1 / 27 := by\n")]
    assert find_contamination(train, ev) == []


def test_the_near_duplicate_score_needs_the_same_conclusion() -> None:
    hyps = " ".join(f"(h{i} : a {i} = {i} * {i} + {i})" for i in range(12))
    ev = P("e", f"theorem e (a : ℕ → ℕ) {hyps} : a 12 = 156 := by\n", "test")
    near = P("near", f"theorem n (a : ℕ → ℕ) {hyps} (extra : a 0 = 0) : a 12 = 156 := by\n")
    other = P("other", f"theorem o (a : ℕ → ℕ) {hyps} (extra : a 0 = 0) : a 13 = 182 := by\n")
    s = similarity(canonical(near.formal_statement), canonical(ev.formal_statement))
    assert s >= NEAR_THRESHOLD
    hits = find_contamination([near, other], [ev])
    assert [(h.train_id, h.eval_id) for h in hits] == [("near", "e")]
    assert hits[0].reason.startswith("near-duplicate statement (score ") and hits[0].score == pytest.approx(s)
    # the same conclusion alone is not enough
    assert find_contamination([P("c", "theorem c (a : ℕ → ℕ) (h : a 1 = 7) : a 12 = 156 := by\n")], [ev]) == []


@pytest.mark.parametrize("name", ["minif2f", "proofnet"])
def test_calibration_on_the_shipped_data(name: str, shared_data: Path, tmp_path: Path) -> None:
    """0 overlaps between `valid` and `test`, and every planted disguise of every `test` statement (each one
    alone, and all together) caught against the very problem it copies."""
    problems = load_dataset(name, cfg(tmp_path, shared_data))
    valid = [p for p in problems if p.split == "valid"]
    test = [p for p in problems if p.split == "test"]
    assert valid and test
    assert find_contamination(valid, test) == []
    assert find_contamination(test, valid) == []
    index = EvalIndex(test)
    planted: dict[str, int] = {}
    missed = []
    for p in test:
        for kind, text in disguises(p.formal_statement).items():
            planted[kind] = planted.get(kind, 0) + 1
            hit = index.match(f"{p.id}/{kind}", text)
            # no two statements of a split share a canonical form, so the match must be the original itself
            if hit is None or (hit.eval_id, hit.also, hit.reason) != (p.id, (), EXACT):
                missed.append((p.id, kind, hit and hit.eval_id))
    assert missed == []
    assert set(planted) == {*DISGUISES, "all together"}  # every disguise was planted somewhere
    assert planted["all together"] == len(test)


def test_itself_is_split_against_split() -> None:
    ps = [P("a", "theorem a (n : ℕ) : n + 0 = n", "valid"), P("b", "theorem b (m : ℕ) : m + 0 = m", "test"),
          P("c", "theorem c (n : ℕ) : n * 1 = n", "valid")]
    found = find_overlaps(ps, {"d:test": [ps[1]]}, itself=["d:test"])
    assert [(o.id, o.against_id, o.reason) for o in found] == [("a", "b", EXACT)]


def test_data_decontam_takes_name_colon_split(shared_data: Path, tmp_path: Path) -> None:
    env = {"BRIDGE_DATA_DIR": str(shared_data)}
    test = [p for p in load_dataset("minif2f", cfg(tmp_path, shared_data)) if p.split == "test"]
    train = tmp_path / "train.jsonl"
    rows = [{"name": f"copy_{k}", "split": "train", "formal_statement": text}
            for k, text in enumerate(disguises(test[0].formal_statement).values())]
    rows.append({"name": "fresh", "split": "train", "formal_statement": "theorem fresh (n : ℕ) (h : 7 ∣ n) : 7 ∣ 2 * n := by\n"})
    train.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    r = data("decontam", str(train), "--against", "minif2f:test,proofnet", "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"dataset", "against", "ngram", "threshold", "problems", "overlaps"}
    assert out["against"] == ["minif2f:test", "proofnet"] and out["problems"] == len(rows)
    assert {(o["id"], o["against"], o["against_id"], o["against_split"], o["reason"]) for o in out["overlaps"]} == {
        (row["name"], "minif2f:test", test[0].id, "test", EXACT) for row in rows[:-1]}
    # the valid split against the test split: nothing
    v = data("decontam", "minif2f", "--split", "valid", "--against", "minif2f:test", env=env)
    assert v.returncode == 0 and "0 of 244 problem(s)" in v.stderr, v.stderr
    bad = data("decontam", "minif2f", "--against", "minif2f:nosuch", env=env)
    assert bad.returncode != 0 and "no problems in split 'nosuch'" in bad.stderr and "Traceback" not in bad.stderr
