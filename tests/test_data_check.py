"""`bridge data check` by path and by name agree, counts add up, a missing file is named as one; and
`bridge data decontam` prints the overlapping problems."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bridge.data.decontam import EXACT, NEAR_THRESHOLD, NGRAM
from bridge.data.loader import load_dataset
from bridge.data.specs import spec_for_file
from bridge.data.validate import parse_rows
from tests.conftest import ROOT
from tests.test_data import GOOD, SPEC, cfg


def data(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "bridge", "data", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=e)


def test_check_by_path_agrees_with_by_name(shared_data: Path, tmp_path: Path) -> None:
    env = {"BRIDGE_DATA_DIR": str(shared_data)}
    path = shared_data / "proofnet" / "proofnet.jsonl"
    by_name = data("check", "proofnet", env=env)
    by_path = data("check", str(path), env=env)
    assert by_name.returncode == 0 and by_path.returncode == 0, by_path.stdout[-2000:]
    assert "371 problems OK (test 186, valid 185)" in by_name.stdout
    assert "371 problems OK (test 186, valid 185)" in by_path.stdout
    assert "proofnet dataset's rules" in by_path.stderr
    # a renamed copy is known by its content, a changed one by its name
    copy = tmp_path / "mine.jsonl"
    shutil.copy(path, copy)
    assert spec_for_file(copy)[0].name == "proofnet"  # type: ignore[index]
    edited = tmp_path / "proofnet.jsonl"
    edited.write_text(path.read_text().replace("exercise_1_13a", "exercise_1_13a_mine", 1))
    assert spec_for_file(edited) is not None and spec_for_file(edited)[1] == "file name"  # type: ignore[index]
    assert "371 problems OK" in data("check", str(edited)).stdout
    # by path, `prove` and `bands` read the same problems (the same ids) as by name
    c = cfg(tmp_path, shared_data)
    assert [p.id for p in load_dataset(str(copy), c)] == [p.id for p in load_dataset("proofnet", c)]
    # --spec still chooses; the counts then add up to the rows of the file
    other = data("check", str(copy), "--spec", "minif2f")
    m = re.search(r"(\d+) malformed row\(s\), (\d+) good, of (\d+) row", other.stderr)
    assert other.returncode == 1 and m and int(m.group(1)) + int(m.group(2)) == int(m.group(3)) == 371


def test_duplicates_are_not_also_counted_good(tmp_path: Path) -> None:
    raw = [json.dumps(GOOD).encode(), json.dumps(GOOD).encode(), json.dumps({**GOOD, "name": "b"}).encode()]
    problems, errors = parse_rows(raw, SPEC)
    assert [p.id for p in problems] == ["a", "b"] and [e.line for e in errors] == [2]
    f = tmp_path / "dups.jsonl"
    f.write_bytes(b"\n".join(raw) + b"\n")
    r = data("check", str(f))
    assert r.returncode == 1 and "1 malformed row(s), 2 good, of 3 row(s)" in r.stderr


def test_missing_file_is_no_such_file(tmp_path: Path) -> None:
    for arg in (str(tmp_path / "nope.jsonl"), "./some/dir/nope", "nope.jsonl"):
        r = data("check", arg)
        assert r.returncode == 2 and "no such file" in r.stderr and "unknown dataset" not in r.stderr, arg
    r = data("check", "nope")
    assert r.returncode == 2 and "unknown dataset 'nope'" in r.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    r = data("check", str(empty))
    assert r.returncode == 1 and "no problems" in r.stderr


def test_decontam_prints_overlaps(shared_data: Path, tmp_path: Path) -> None:
    env = {"BRIDGE_DATA_DIR": str(shared_data)}
    m = {p.id: p for p in load_dataset("minif2f", cfg(tmp_path, shared_data))}
    target = m["mathd_algebra_10"] if "mathd_algebra_10" in m else next(iter(m.values()))
    renamed = target.formal_statement.replace(target.name, "my_copy", 1).replace(" : ", "  :\n    ")
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in [
        {"name": "my_copy", "split": "train", "formal_statement": renamed},
        {"name": "fresh", "split": "train", "formal_statement": "theorem fresh (n : ℕ) (h : 7 ∣ n) : 7 ∣ 2 * n := by\n"},
    ]) + "\n")
    r = data("decontam", str(train), "--against", "minif2f,proofnet", "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["problems"] == 2 and out["against"] == ["minif2f", "proofnet"] and out["ngram"] == NGRAM and out["threshold"] == NEAR_THRESHOLD
    assert [(o["id"], o["against"], o["against_id"], o["reason"]) for o in out["overlaps"]] == [
        ("my_copy", "minif2f", target.id, EXACT)]
    text = data("decontam", str(train), "--against", "minif2f", env=env)
    assert text.returncode == 0 and "my_copy" in text.stdout and f"minif2f:{target.split}:{target.id}" in text.stdout
    assert "1 of 2 problem(s)" in text.stderr
    # a dataset against itself: its splits against each other, never a problem against itself
    selfcheck = data("decontam", "demo", "--against", "demo", "--json", env=env)
    assert selfcheck.returncode == 0 and json.loads(selfcheck.stdout)["overlaps"] == []
