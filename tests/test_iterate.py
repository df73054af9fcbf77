"""`bridge iterate` end to end on the CPU: two rounds with a tiny random model and a stand-in REPL that
accepts a known subset of candidate texts; SIGKILL during round 2 and a rerun of the same command; the
canary alarm; resume with other settings refused."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA_HINT, ROOT, data_dir
from tests.test_train_support import build_word_model, standin_cmd

pytest.importorskip("trl")
pytest.importorskip("peft")

SAMPLES = 4
STATEMENTS = {"pool_a": "(n : Nat) : n * 1 = n", "pool_b": "(a b : Nat) (h : a = b) : b = a",
              "pool_c": "(xs : List Nat) : xs ++ [] = xs", "pool_hard": "(n : Nat) : n ≤ n * n + 1"}


def write_pool(path: Path, shared: Path) -> None:
    """Four statements of our own and a planted copy of a miniF2F test statement (renamed)."""
    rows = [{"name": k, "split": "train", "header": "import Init\n", "formal_statement": f"theorem {k} {v} := by\n"}
            for k, v in STATEMENTS.items()]
    mf = [json.loads(x) for x in (shared / "minif2f" / "minif2f.jsonl").read_text(encoding="utf-8").splitlines()]
    src = next(r for r in mf if r["split"] == "test")
    rows.append({"name": "planted_copy", "split": "train", "header": src["header"],
                 "formal_statement": src["formal_statement"].replace(src["name"], "planted_copy", 1)})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_informal(path: Path) -> None:
    """Informal rows of the three bands (prose reasoning of the informal model's curriculum)."""
    rows = [{"id": f"{band}-{i}", "band": band, "prompt": f"Problem ({band} {i}): show that {i} + 0 = {i}.\n",
             "completion": f" Adding zero changes nothing, so {i} + 0 = {i}."}
            for band in ("simple", "intermediate", "advanced") for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def iterate_args(pool: Path, model: Path, run_dir: Path, repl: str, *extra: str) -> list[str]:
    informal = pool.with_name("informal.jsonl")
    write_informal(informal)
    return ["iterate", str(pool), "--informal", str(informal), "--model", str(model), "--rounds", "2", "--samples", str(SAMPLES),
            "--run-dir", str(run_dir), "--template", "deepseek-v1.5", "--max-tokens", "8", "--device", "cpu",
            "--eval", "demo", "--eval-samples", "2", "--eval-limit", "2", "--repl-cmd", repl, "--no-sandbox",
            "--no-cache", "--workers", "1", "--canaries", "2", "--max-per-statement", "16", "--max-steps", "3",
            "--logging-steps", "1", "--warmup", "0", "--lr", "1e-2", "--max-length", "256", *extra]


def verdicts(store: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(store / "run.sqlite")
    try:
        return sorted(db.execute("SELECT sample_id, verdict FROM verdicts").fetchall())
    finally:
        db.close()


def fingerprint(d: Path) -> dict[str, Any]:
    """A directory's files (sha256), a run store by its rows (its WAL files come and go)."""
    out: dict[str, Any] = {}
    for f in sorted(d.rglob("*")):
        if f.name.endswith(("-wal", "-shm")) or not f.is_file():
            continue
        if f.suffix == ".sqlite":
            db = sqlite3.connect(f)
            out[str(f.relative_to(d))] = [db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                                          for t in ("samples", "verdicts", "problems", "meta")]
            db.close()
        else:
            out[str(f.relative_to(d))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    shared = data_dir()
    if shared is None:
        pytest.skip("decontamination needs miniF2F and ProofNet: " + DATA_HINT)
    tmp = tmp_path_factory.mktemp("iterate")
    model = build_word_model(tmp / "model")
    pool = tmp / "pool.jsonl"
    write_pool(pool, shared)
    run_dir = tmp / "run"
    repl = standin_cmd(tmp, FAKE_REPL_BURN="0.12")  # slow enough to be killed in the middle of round 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(BRIDGE_DATA_DIR=str(shared), XDG_CACHE_HOME=str(tmp / "cache"), XDG_CONFIG_HOME=str(tmp / "config"))
    argv = [sys.executable, "-m", "bridge", *iterate_args(pool, model, run_dir, repl)]
    p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store2 = run_dir / "round-2" / "samples"
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None:
        try:
            if (store2 / "run.sqlite").is_file() and len(verdicts(store2)) >= 1:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    assert p.poll() is None, p.communicate()[1][-3000:]
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed = {"round1": fingerprint(run_dir / "round-1"), "round2_verdicts": verdicts(store2),
              "round2_done": (run_dir / "round-2" / "round.json").is_file()}
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"dir": run_dir, "killed": killed, "stdout": r.stdout, "stderr": r.stderr, "argv": argv, "env": env,
            "pool": pool, "model": model, "repl": repl, "tmp": tmp}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_layout_and_rounds_json(run: dict[str, Any]) -> None:
    d: Path = run["dir"]
    rounds = _json(d / "rounds.json")
    assert [r["round"] for r in rounds] == [1, 2]
    for k, r in enumerate(rounds, 1):
        rd = d / f"round-{k}"
        assert (rd / "samples" / "run.sqlite").is_file() and (rd / "train" / "dataset_info.json").is_file()
        assert (rd / "adapter" / "adapter_config.json").is_file() and (rd / "eval" / "report.json").is_file()
        summary = _json(rd / "training_summary.json")
        pc = summary["model"]["parameter_counts"]
        assert set(pc) == {"total", "trainable", "frozen", "ratio"} and pc["total"] == pc["trainable"] + pc["frozen"]
        assert pc["ratio"] == pytest.approx(pc["trainable"] / pc["total"]) and 0 < pc["ratio"] < 1
        assert r["training_rows"] > 0 and r["training_tokens"] == summary["train_tokens"] > 0
        assert r["statements_in_pool"] == _json(rd / "pool.json")["statements"].__len__()
        assert r["heldout"]["pass_at_k"] == _json(rd / "eval" / "report.json")["pass_at_k"]
        assert r["strict"] is False and "unavailable" in r["strict_reason"]  # no lake here: said in the summary
        assert r["canaries"] == 2 and r["pool_total"] == 5
    assert rounds[0]["statements_in_pool"] == 5
    assert rounds[1]["solved_so_far"] >= rounds[0]["solved_so_far"] == 5 - rounds[1]["statements_in_pool"]
    assert (d / "rounds.md").read_text().count("\n| ") >= 2 and (d / "rounds.png").stat().st_size > 1000
    assert "held-out pass@1" in run["stdout"]  # the rounds table is printed


def test_round1_trains_on_exactly_the_distinct_accepted_proofs(run: dict[str, Any]) -> None:
    import datasets
    from bridge.runs.store import RunStore
    from bridge.train.data import normalise_proof

    d: Path = run["dir"]
    with RunStore(d / "round-1" / "samples") as store:
        rows = store.samples(round_=0)
        prompts = dict(((pid, r), text) for pid, r, text in store.db.execute("SELECT * FROM prompts"))
    body = {s.id: s.body for s, _ in rows}
    accepted = {(s.problem_id, normalise_proof(s.body)) for s, v in rows
                if v is not None and v.verdict == "proved" and not s.problem_id.startswith("bridge_canary_")}
    assert any(pid == "planted_copy" for pid, _ in accepted)  # the planted copy was proved ...
    expected = {x for x in accepted if x[0] != "planted_copy"}  # ... and never reaches training
    assert len(expected) >= 2
    mixed = datasets.load_from_disk(str(d / "round-1" / "train"))
    assert {"prompt", "completion", "problem_id", "band", "source"} <= set(mixed.column_names)
    ds = [r for r in mixed if r["band"] == "lean-formalized"]  # (Dataset.filter would write a cache file there)
    # informal rows by the default mix (lean-formalized 2 : 1 : 1 : 1): half as many per band as Lean rows
    informal = [r for r in mixed if r["band"] != "lean-formalized"]
    for band in ("simple", "intermediate", "advanced"):
        assert sum(r["band"] == band for r in informal) == min(6, round(len(ds) / 2))
    assert all(r["source"] == "informal:informal.jsonl" and r["problem_id"].startswith(r["band"]) for r in informal)
    got = [(r["problem_id"], normalise_proof(body[r["sample_id"]])) for r in ds]
    assert len(got) == len(set(got)) and set(got) == expected
    for r in ds:
        assert r["band"] == "lean-formalized" and r["source"] == f"{run['pool']}:round-1"
        assert r["prompt"] == prompts[(r["problem_id"], 0)]  # the text `bridge prove` sent
        assert r["completion"].endswith("```")
    data = _json(d / "round-1" / "data.json")
    assert data["decontamination"]["dropped_statements"] == ["planted_copy"]
    assert data["decontamination"]["matches"][0]["against"] == "minif2f"
    later = [r for r in datasets.load_from_disk(str(d / "round-2" / "train")) if r["band"] == "lean-formalized"]
    assert "planted_copy" not in {r["problem_id"] for r in later + ds}
    assert {r["sample_id"] for r in ds} <= {r["sample_id"] for r in later}  # --train-on all: round 2 keeps round 1's proofs


def test_round2_starts_from_round1_adapter_and_reloads_it(run: dict[str, Any]) -> None:
    from bridge.runs.store import RunStore
    from bridge.train.sft import adapter_digest

    d: Path = run["dir"]
    s1 = _json(d / "round-1" / "training_summary.json")
    s2 = _json(d / "round-2" / "training_summary.json")
    assert s1["init_adapter"] is None and Path(s2["init_adapter"]) == d / "round-1" / "adapter"
    # the weights round 2 started from are round 1's saved adapter, read back into the model
    assert s2["init_adapter_state_sha256"] == adapter_digest(d / "round-1" / "adapter") == s1["adapter_state_sha256"]
    assert s2["adapter_state_sha256"] == adapter_digest(d / "round-2" / "adapter") != s1["adapter_state_sha256"]
    rounds = _json(d / "rounds.json")
    assert rounds[1]["init_adapter"] == "round-1/adapter" and rounds[1]["sampled_with"]["adapter"] == "round-1/adapter"
    with RunStore(d / "round-2" / "samples") as store:
        assert store.meta()["adapter"] == str((d / "round-1" / "adapter").resolve())
    with RunStore(d / "round-2" / "eval") as store:
        assert store.meta()["adapter"] == str((d / "round-2" / "adapter").resolve())
    for s in (s1, s2):
        assert s["loss"] and s["loss"][0]["step"] == 1 and s["steps"] == 3 and s["wall_time_s"] > 0


def test_sigkill_in_round2_then_rerun(run: dict[str, Any]) -> None:
    d: Path = run["dir"]
    killed = run["killed"]
    assert not killed["round2_done"] and killed["round2_verdicts"]
    assert fingerprint(d / "round-1") == killed["round1"]  # round 1 untouched by the kill and the rerun
    pool2 = _json(d / "round-2" / "pool.json")
    n = (len(pool2["statements"]) + len(pool2["canaries"])) * SAMPLES
    after = verdicts(d / "round-2" / "samples")
    assert len(after) == n and len({s for s, _ in after}) == n  # exactly one verdict per sample
    db = sqlite3.connect(d / "round-2" / "samples" / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == n
    db.close()
    assert set(killed["round2_verdicts"]) <= set(after)  # nothing decided before the kill was redone or lost


def test_rerun_of_a_finished_run_redoes_nothing_and_other_settings_are_refused(
        run: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.cli.main import main

    monkeypatch.setenv("BRIDGE_DATA_DIR", str(data_dir()))  # in this process too, as the run's subprocess had it

    d: Path = run["dir"]
    args = run["argv"][3:]  # after `python -m bridge`
    skip = ("iterate.json", "rounds.png")  # rewritten with the same content (a PNG's bytes may vary)
    before = {k: v for k, v in fingerprint(d).items() if k not in skip}
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "round 1/2" not in err and "training:" not in err and "pass@k on" not in err
    assert main([a if a != str(SAMPLES) else "5" for a in args]) == 2
    assert "was made with samples" in capsys.readouterr().err
    assert {k: v for k, v in fingerprint(d).items() if k not in skip} == before


def test_card_of_the_run(run: dict[str, Any]) -> None:
    from bridge.cli.main import main

    d: Path = run["dir"]
    assert main(["card", str(d)]) == 0
    card = (d / "README.md").read_text(encoding="utf-8")
    s2 = _json(d / "round-2" / "training_summary.json")
    pc = s2["model"]["parameter_counts"]
    assert f"base_model: {run['model']}" in card and "## Rounds" in card and "| 2 | " in card
    assert f"{pc['trainable']:,}" in card and "█" in card and "lean-formalized" in card
    assert "demo` (test), 2 problems, 2 samples" in card and "pass@k: unbiased estimator" in card


def test_proved_canary_stops_the_run_before_training(tmp_path: Path, shared_data: Path) -> None:
    from bridge.cli.main import main

    model = build_word_model(tmp_path / "model")
    pool = tmp_path / "pool.jsonl"
    write_pool(pool, shared_data)
    run_dir = tmp_path / "run"
    args = iterate_args(pool, model, run_dir, standin_cmd(tmp_path, STANDIN_ACCEPT_CANARIES="1"))
    assert main(args) == 4
    alarm = _json(run_dir / "round-1" / "canary_alarm.json")
    assert alarm["proved"] and alarm["proved"][0]["problem_id"].startswith("bridge_canary_")
    assert not (run_dir / "round-1" / "train").exists() and not (run_dir / "round-1" / "adapter").exists()
    assert not (run_dir / "rounds.json").exists() or _json(run_dir / "rounds.json") == []
    n = len(verdicts(run_dir / "round-1" / "samples"))
    assert main(args) == 4  # a rerun stops again, without sampling more
    assert len(verdicts(run_dir / "round-1" / "samples")) == n
