"""Datasets: the published files load whole, malformed rows are named, resolution order, bands,
decontamination."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.data.bands import band_from_rate, prior_band
from bridge.data.decontam import EXACT, find_contamination
from bridge.data.loader import load_dataset, resolve
from bridge.data.problem import Problem
from bridge.data.specs import DatasetSpec, all_specs, get_spec
from bridge.data.validate import parse_rows
from bridge.errors import InputError
from tests.conftest import ROOT


def cfg(tmp_path: Path, data_dir: Path | None = None):
    return load_config(overrides={"data_dir": data_dir, "cache_dir": tmp_path / "cache"}, environ={})


def test_published_files_load_whole(shared_data: Path, tmp_path: Path) -> None:
    c = cfg(tmp_path, shared_data)
    m = load_dataset("minif2f", c)
    assert sum(p.split == "test" for p in m) == 244 and sum(p.split == "valid" for p in m) == 244
    pn = load_dataset("proofnet", c)
    assert sum(p.split == "test" for p in pn) == 186 and sum(p.split == "valid" for p in pn) == 185
    defs = [p for p in pn if "def " in p.formal_statement.split(":=")[0].split("(")[0]]
    assert len(defs) == 14
    for split in ("test", "valid"):
        ids = [p.id for p in pn if p.split == split]
        assert len(ids) == len(set(ids))
    import collections

    raw = [json.loads(x) for x in (shared_data / "proofnet" / "proofnet.jsonl").read_text().splitlines()]
    repeats = collections.Counter((r["split"], r["name"]) for r in raw)
    assert sum(1 for v in repeats.values() if v > 1) == 9  # 9 names repeat (one of them three times)
    dup = [p for p in pn if "@" in p.id]
    assert len(dup) == sum(v for v in repeats.values() if v > 1)
    again = load_dataset("proofnet", c)
    assert [p.id for p in again] == [p.id for p in pn]  # stable across runs


def test_data_list_json(shared_data: Path, tmp_path: Path) -> None:
    env = dict(os.environ, BRIDGE_DATA_DIR=str(shared_data), XDG_CACHE_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "bridge", "data", "list", "--json"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    d = {x["name"]: x for x in json.loads(r.stdout)}
    assert d["minif2f"]["splits"] == {"test": 244, "valid": 244}
    assert d["proofnet"]["splits"] == {"test": 186, "valid": 185}
    assert {"name", "splits", "source", "lean_version"} <= set(d["minif2f"])
    assert d["demo"]["splits"] == {"test": 12}


def test_every_spec_is_complete() -> None:
    specs = all_specs()
    assert {"minif2f", "proofnet", "lean_workbook", "putnambench", "formalmath", "demo", "conjectures"} <= set(specs)
    for s in specs.values():
        assert s.name and s.license and s.splits and s.file
    assert specs["minif2f"].source_sha256 and specs["proofnet"].source_url


SPEC = DatasetSpec(name="t", description="", file="t.jsonl", splits=["test"], license="", lean_version="")
GOOD = {"name": "a", "split": "test", "header": "import Mathlib\n", "formal_statement": "theorem a : True := by\n"}


@pytest.mark.parametrize("row,reason", [
    (b"{not json", "not valid JSON"),
    (b'{"name": "\xff"}', "not UTF-8"),
    (json.dumps({**GOOD, "formal_statement": ""}).encode(), "no statement"),
    (json.dumps({**GOOD, "formal_statement": "example : True := by\n"}).encode(), "not a `theorem`"),
    (json.dumps({**GOOD, "formal_statement": "theorem a : True := by trivial"}).encode(), "does not end in"),
    (json.dumps({**GOOD, "header": "import Mathlib\ndef cheat := 1\n"}).encode(), "outside imports/options/opens"),
    (json.dumps(GOOD).encode(), "duplicate id"),
])
def test_malformed_rows(row: bytes, reason: str, tmp_path: Path) -> None:
    raw = [json.dumps(GOOD).encode(), row]
    problems, errors = parse_rows(raw, SPEC)
    assert len(errors) == 1 and errors[0].line == 2 and reason in errors[0].reason
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b"\n".join(raw) + b"\n")
    with pytest.raises(InputError) as e:
        load_dataset(str(f), cfg(tmp_path))
    assert f"{f}:2: " in str(e.value) and "nothing was loaded" in str(e.value)
    r = subprocess.run([sys.executable, "-m", "bridge", "data", "check", str(f)], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 1 and f"{f}:2: " in r.stdout


def test_header_definitions_need_the_specs_leave() -> None:
    row = json.dumps({**GOOD, "header": "import Mathlib\n\nnoncomputable section\n\ndef g (n : ℕ) : ℝ := n\n\n"}).encode()
    assert parse_rows([row], SPEC)[1]
    assert not parse_rows([row], get_spec("proofnet"))[1]


def test_resolution_order(tmp_path: Path) -> None:
    spec = get_spec("minif2f")
    data = tmp_path / "data"
    (data / "minif2f").mkdir(parents=True)
    (data / "minif2f" / "minif2f.jsonl").write_text(json.dumps(GOOD) + "\n")
    cached = tmp_path / "cache" / "datasets" / "minif2f"
    cached.mkdir(parents=True)
    (cached / "minif2f.jsonl").write_text(json.dumps(GOOD) + "\n")
    explicit = tmp_path / "mine.jsonl"
    explicit.write_text(json.dumps(GOOD) + "\n")
    assert resolve(spec, cfg(tmp_path, data), path=explicit).how == "explicit"
    assert resolve(spec, cfg(tmp_path, data)).how == "data-dir"
    assert resolve(spec, cfg(tmp_path, None)).how == "cache"


def test_offline_error_says_where_and_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(InputError) as e:
        load_dataset("minif2f", cfg(tmp_path, None))
    msg = str(e.value)
    assert "no local copy" in msg and str(tmp_path / "cache" / "datasets" / "minif2f" / "minif2f.jsonl") in msg
    assert "data-dir" in msg and "raw.githubusercontent.com" in msg


def test_download_checks_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(b"tampered\n"))
    with pytest.raises(InputError) as e:
        load_dataset("minif2f", cfg(tmp_path, None))
    assert "sha256" in str(e.value)


def test_builtin_sets(tmp_path: Path) -> None:
    demo = load_dataset("demo", cfg(tmp_path))
    assert len(demo) == 12 and all(p.header.startswith("import Init") for p in demo)
    conj = load_dataset("conjectures", cfg(tmp_path))
    assert len(conj) >= 10 and all(p.informal_statement and not p.formal_statement for p in conj)
    assert {"open", "solved"} <= {t for p in conj for t in p.tags}


def _p(name: str, tags: list[str] | None = None) -> Problem:
    return Problem(id=name, split="test", header="", formal_statement="", name=name, tags=tags or [])


def test_bands_each_band() -> None:
    rules = get_spec("minif2f").band_rules
    assert prior_band(_p("mathd_algebra_10"), rules, None) == "simple"
    assert prior_band(_p("amc12a_2019_p21"), rules, None) == "intermediate"
    assert prior_band(_p("aime_1983_p1"), rules, None) == "advanced"
    assert prior_band(_p("imo_1959_p1"), rules, None) == "advanced"
    assert prior_band(_p("x", ["level:2"]), {}, None) == "simple"
    assert prior_band(_p("x", ["level:4"]), {}, None) == "intermediate"
    assert prior_band(_p("x", ["level:5"]), {}, None) == "advanced"
    assert band_from_rate(0.0, True, "advanced") == "lean-formalized"
    assert band_from_rate(0.9, False, "advanced") == "simple"
    assert band_from_rate(0.0, False, "simple") == "advanced"
    assert band_from_rate(None, False, "intermediate") == "intermediate"


def test_decontamination(shared_data: Path, tmp_path: Path) -> None:
    from tests.fakes.disguise import all_together

    m = [p for p in load_dataset("minif2f", cfg(tmp_path, shared_data)) if p.split == "test"]
    target = next(p for p in m if p.id == "amc12a_2015_p10") if any(p.id == "amc12a_2015_p10" for p in m) else m[0]
    # the theorem, its binders and hypotheses renamed, two hypotheses swapped, a comment, reflowed
    copy = Problem(id="t1", split="train", header="", formal_statement=all_together(target.formal_statement))
    different = Problem(id="t2", split="train", header="",
                        formal_statement="theorem other (n : ℕ) (h : 3 ∣ n) (h' : 5 ∣ n) : 15 ∣ n := by\n")
    hits = find_contamination([copy, different], m)
    assert [(h.train_id, h.eval_id, h.reason) for h in hits] == [("t1", target.id, EXACT)]
