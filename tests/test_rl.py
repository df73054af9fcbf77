"""`bridge.rl`'s Lean reward: the pure decisions, the trl contract, one long-lived pool usable from any thread,
the verl shim. The fake REPL decides the verdicts (no torch needed here)."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from pathlib import Path

import pytest

from bridge.data.problem import Problem
from bridge.errors import InputError, SetupError
from bridge.rl import LeanReward, ShapingConfig, format_ok, lean_reward, make_lean_reward, shape
from bridge.rl.service import VerifierService
from bridge.rl.shaping import batch_stats, completion_text, group_stats
from bridge.rl.window import EpochPlan, in_window, parse_window, pass_rate, plan_epoch
from bridge.verify.api import Verifier
from provers.templates import FAMILIES, extract
from tests.conftest import fake_repl_cmd, repl_log

pytestmark = pytest.mark.filterwarnings("ignore:running model-written Lean without a sandbox")

HEADER = "import Init\n"
STMT = "theorem t (n : Nat) : n + 0 = n := by\n"

# DeepSeek-V1.5 completions (the proof continues the statement, the block closes with a fence) -> reward
CASES = [
    ("  simp\n```", 1.0),                      # proved
    ("  exact FAKE_ERROR\n```", 0.0),          # failed
    ("  simp -- FAKE_UNSOLVED\n```", 0.0),     # incomplete
    ("  sorry\n```", 0.0),                     # rejected (the screen)
    ("  simp -- FAKE_AXIOM\n```", 0.0),        # rejected (the gate: an axiom)
    ("  rfl -- FAKE_CRASH\n```", None),        # crashed twice
    ("  omega\n```", 1.0),
]


def call(reward: LeanReward, completions: list, **cols) -> list[float | None]:
    n = len(completions)
    cols.setdefault("formal_statement", [STMT] * n)
    cols.setdefault("header", [HEADER] * n)
    return asyncio.run(reward(prompts=["prompt"] * n, completions=completions, **cols))


# -- pure decisions ---------------------------------------------------------------------------------------


def test_verdict_to_reward() -> None:
    assert lean_reward("proved") == 1.0
    assert [lean_reward(v) for v in ("failed", "incomplete", "rejected")] == [0.0, 0.0, 0.0]
    assert lean_reward("timeout") is None and lean_reward("crashed") is None
    assert lean_reward("proved", gate="fast") is None  # not Lean: not known to be a proof
    assert lean_reward("proved", gate="fast", count_fast_gate=True) == 1.0
    with pytest.raises(ValueError):
        lean_reward("maybe")


def test_shaping_terms() -> None:
    off = ShapingConfig()
    assert shape(1.0, False, 5000, off).reward == 1.0 and not off.active
    assert shape(None, True, 10, ShapingConfig(format_weight=0.1)).reward is None  # a fault stays a fault
    fmt = ShapingConfig(format_weight=0.1)
    assert shape(0.0, True, 10, fmt).reward == pytest.approx(0.1)
    assert shape(1.0, False, 10, fmt).reward == 1.0
    req = ShapingConfig(require_format=True)
    assert shape(1.0, False, 10, req).reward == 0.0 and shape(1.0, True, 10, req).reward == 1.0
    pen = ShapingConfig(length_penalty=0.2, length_free=1000)
    s = shape(1.0, True, 3000, pen)
    assert s.reward == pytest.approx(0.6) and s.length_term == pytest.approx(0.4) and s.lean == 1.0
    assert shape(1.0, True, 800, pen).reward == 1.0
    with pytest.raises(ValueError):
        ShapingConfig(length_unit=0)


def test_format_per_family() -> None:
    ds, goedel, kimina = FAMILIES["deepseek-v1.5"], FAMILIES["goedel-v2"], FAMILIES["kimina"]
    assert format_ok(ds, "  simp\n```") and not format_ok(ds, "  simp") and not format_ok(ds, "```")
    block = "plan...\n```lean4\ntheorem t : True := by\n  trivial\n```"
    assert format_ok(goedel, block) and not format_ok(goedel, "```lean4\ntheorem t : True := by\n  triv")
    assert format_ok(kimina, "<think>hmm</think>\n" + block)
    assert not format_ok(kimina, block) and not format_ok(kimina, "<think>" + block)


def test_group_and_batch_stats() -> None:
    keys = ["a", "a", "b", "b", "c", "c"]
    g = group_stats(keys, [0.0, 0.0, 1.0, 0.0, None, None])
    assert g["all_zero_groups"] == pytest.approx(1 / 3) and g["unscored_groups"] == pytest.approx(1 / 3)
    scored = [shape(r, ok, 10, ShapingConfig()) for r, ok in [(1.0, True), (0.0, False), (None, True)]]
    st = batch_stats(["proved", "failed", "crashed"], scored, ["a", "a", "a"], [False, True, False], 0.5)
    assert st["reward_mean"] == 0.5 and st["none_rate"] == pytest.approx(1 / 3)
    assert st["format_error_rate"] == pytest.approx(1 / 3) and st["cached_rate"] == pytest.approx(1 / 3)
    assert st["verdict/crashed"] == pytest.approx(1 / 3) and st["all_zero_groups"] == 0.0


def test_completion_text_forms() -> None:
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]) == "ab"
    with pytest.raises(TypeError):
        completion_text(3)


def test_pass_window() -> None:
    assert parse_window("0,0.75") == (0.0, 0.75) and parse_window("none") is None
    for bad in ("0.8,0.2", "x,1", "0,1.5", "0.5"):
        with pytest.raises(InputError):
            parse_window(bad)
    w = (0.0, 0.75)
    assert [in_window(r, w) for r in (0.0, 0.125, 0.75, 0.875, None)] == [False, True, True, False, False]
    assert in_window(None, None) and in_window(0.0, None)
    assert pass_rate([1.0, 0.0, None, 1.0]) == pytest.approx(2 / 3) and pass_rate([None, None]) is None
    rates = {"a": 0.0, "b": 0.5, "c": 1.0, "d": 0.25, "e": None}
    assert plan_epoch(rates, w, 2, 0, 100) == EpochPlan(("b", "d"), ("b", "d"), 1)
    assert plan_epoch(rates, w, 3, 0, 100) == EpochPlan(("b", "d"), ("b", "d", "b"), 1)  # repeated to fill a step
    assert plan_epoch({k: 0.5 for k in "abcdefg"}, w, 2, 8, 10).steps == 2  # never past the total
    assert plan_epoch(rates, (0.6, 0.9), 2, 0, 100) == EpochPlan((), (), 0)


# -- the reward against the fake REPL ------------------------------------------------------------------------


def test_reward_equals_the_verifiers_verdicts(fake_cfg) -> None:
    cfg = fake_cfg(workers=2, timeout=3.0, sandbox=False)
    completions = [c for c, _ in CASES]
    with make_lean_reward(template="deepseek-v1.5", config=cfg) as reward:
        got = call(reward, completions, problem_id=["t"] * len(completions))
        stats = reward.last
    assert got == [r for _, r in CASES]
    fam = FAMILIES["deepseek-v1.5"]
    prob = Problem(id="t", split="x", header=HEADER, formal_statement=STMT)
    with Verifier(cfg) as v:
        verdicts = v.verify_all([extract(fam, prob, c, f"c{i}") for i, c in enumerate(completions)])
    assert got == [lean_reward(x.verdict, x.gate) for x in verdicts]
    assert stats["none_rate"] == pytest.approx(1 / 7) and stats["verdict/rejected"] == pytest.approx(2 / 7)
    assert stats["groups"] == 1.0


def test_hang_is_none_not_zero(fake_cfg) -> None:
    cfg = fake_cfg(workers=1, timeout=1.0, sandbox=False)
    with make_lean_reward(template="deepseek-v1.5", config=cfg) as reward:
        assert call(reward, ["  rfl -- FAKE_HANG\n```", "  rfl\n```"]) == [None, 1.0]


def test_trl_contract(fake_cfg, tmp_path: Path) -> None:
    """What trl's GRPOTrainer relies on: an async callable named lean_reward, every trl keyword accepted,
    metrics through log_metric, extra completion columns through log_extra, conversational completions."""
    from trl.trainer.utils import get_callable_name, is_async_callable

    cfg = fake_cfg(workers=2, sandbox=False)
    metrics: dict[str, float] = {}
    extra: dict[str, list] = {}

    class State:
        global_step = 4

    with make_lean_reward(template="goedel-v2", config=cfg, log_path=tmp_path / "r.jsonl",
                          shaping=ShapingConfig(format_weight=0.5)) as reward:
        assert is_async_callable(reward) and get_callable_name(reward) == "lean_reward"
        block = "```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  {}"
        answers = ["plan\n" + block.format("simp\n```"), block.format("exact FAKE_ERROR\n```"),
                   block.format("exact FAKE_ERROR -- cut off")]
        comps = [[{"role": "assistant", "content": a}] for a in answers]
        got = call(reward, comps, completion_ids=[[1, 2, 3], [4], [5, 6]], trainer_state=State(),
                   problem_id=["t"] * 3, log_metric=lambda k, v: metrics.__setitem__(k, v),
                   log_extra=lambda k, v: extra.__setitem__(k, v), some_other_column=["a", "b", "c"])
    assert got == [1.5, 0.5, 0.0]  # proved + the format term; failed + the format term; failed, malformed
    assert metrics["lean/format_error_rate"] == pytest.approx(1 / 3)
    assert metrics["lean/proved_rate"] == pytest.approx(1 / 3)
    assert "lean/reward_seconds" in metrics and metrics["lean/all_zero_groups"] == 0.0
    assert extra["verdict"] == ["proved", "failed", "failed"] and extra["format_ok"] == [True, True, False]
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[0]["step"] == 5 and "stats" in lines[0]
    assert [(x["verdict"], x["length"], x["reward"]) for x in lines[1:]] == [
        ("proved", 3, 1.5), ("failed", 1, 0.5), ("failed", 2, 0.0)]


def test_missing_statement_column_is_an_error(fake_cfg) -> None:
    with make_lean_reward(template="deepseek-v1.5", config=fake_cfg(sandbox=False)) as reward:
        with pytest.raises(InputError, match="formal_statement"):
            asyncio.run(reward(prompts=["p"], completions=["  simp\n```"], header=[HEADER]))
        with pytest.raises(InputError, match="problem q"):
            call(reward, ["  simp"], formal_statement=["theorem q : True"], problem_id=["q"])


def test_a_repl_that_cannot_start_raises_never_scores_zero(fake_cfg) -> None:
    # one worker: with several, the pool waits up to 10 s for its feeder (blocked on the next submission)
    cfg = fake_cfg(workers=1, timeout=3.0, sandbox=False, FAKE_REPL_START_FAIL="error: cannot load libleanshared.so")
    with make_lean_reward(template="deepseek-v1.5", config=cfg) as reward:
        with pytest.raises(SetupError, match="libleanshared"):
            call(reward, ["  simp\n```"] * 3)
        with pytest.raises(SetupError):  # and every later call, at once
            reward.score(["p"], ["  simp\n```"], formal_statement=[STMT], header=[HEADER])


def test_config_none_reads_the_file_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BRIDGE_REPL_CMD", fake_repl_cmd())
    monkeypatch.setenv("BRIDGE_WORKERS", "1")
    monkeypatch.setenv("BRIDGE_SANDBOX", "0")
    monkeypatch.setenv("BRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    with make_lean_reward(template="deepseek-v1.5") as reward:
        assert reward.config.workers == 1 and reward.config.repl_cmd == fake_repl_cmd()
        assert call(reward, ["  simp\n```"]) == [1.0]


def test_sandboxed_reward_built_and_called_off_the_main_thread(fake_cfg) -> None:
    """The Verifier and its pool need no main thread and no signal: bubblewrap where it works here."""
    cfg = fake_cfg(workers=2, timeout=5.0)
    out: list = []

    def work() -> None:
        with make_lean_reward(template="deepseek-v1.5", config=cfg) as reward:
            out.append(call(reward, [c for c, _ in CASES]))
            out.append(reward.service.verifier.sandboxed)

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=120)
    assert out[0] == [r for _, r in CASES]
    from bridge.lean.sandbox import sandbox_available

    assert out[1] == sandbox_available()[0]


def test_one_long_lived_pool_from_threads_and_the_cache(fake_cfg, tmp_path: Path) -> None:
    """Built and called off the main thread: the same rewards as on the main thread, headers elaborated
    once for every call (one pool), repeated completions from the cache, and no signal handler touched."""
    log = tmp_path / "repl.log"
    cfg = fake_cfg(workers=2, timeout=5.0, sandbox=False, FAKE_REPL_LOG=str(log))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    completions = [c for c, r in CASES if r is not None]  # no crash: it would restart a worker
    made: list[LeanReward] = []
    t = threading.Thread(target=lambda: made.append(make_lean_reward(template="deepseek-v1.5", config=cfg)))
    t.start()
    t.join()
    reward = made[0]
    try:
        main = reward.score(["p"] * len(completions), completions, formal_statement=[STMT] * len(completions),
                            header=[HEADER] * len(completions))
        headers_after_first = sum(1 for _, kind, _ in repl_log(log) if kind == "header")
        results: dict[str, list] = {}

        def in_thread(name: str, fn) -> threading.Thread:
            th = threading.Thread(target=lambda: results.__setitem__(name, fn()), name=name)
            th.start()
            return th

        extra = [f"  simp -- variant {i}\n```" for i in range(4)]
        threads = [
            in_thread("sync", lambda: reward.score(["p"] * len(completions), completions,
                                                   formal_statement=[STMT] * len(completions),
                                                   header=[HEADER] * len(completions))),
            in_thread("async", lambda: call(reward, completions + extra)),
        ]
        for th in threads:
            th.join(timeout=60)
        assert results["sync"] == main and results["async"] == main + [1.0] * 4
        assert main == [r for _, r in CASES if r is not None]
        assert sum(1 for _, kind, _ in repl_log(log) if kind == "header") == headers_after_first
        assert reward.service.streams == 1
        assert reward.last["cached_rate"] > 0  # repeated completions cost no Lean check
    finally:
        reward.close()
    assert {s: signal.getsignal(s) for s in handlers} == handlers


def test_service_restarts_its_stream_and_keeps_order(fake_cfg) -> None:
    cfg = fake_cfg(workers=2, sandbox=False)
    from bridge.verify.candidate import from_parts

    with VerifierService(cfg, restart_after=3) as svc:
        cands = [from_parts(f"x{i}", HEADER, STMT, "  simp" if i % 2 else "  exact FAKE_ERROR") for i in range(7)]
        got = svc.verify(cands)
        assert [v.id for v in got] == [c.id for c in cands]
        assert [v.verdict for v in got] == ["failed" if i % 2 == 0 else "proved" for i in range(7)]
        assert svc.streams >= 3
    from bridge.rl.service import ServiceClosed

    with pytest.raises(ServiceClosed):
        svc.submit(cands)


# -- verl ---------------------------------------------------------------------------------------------------


@pytest.fixture
def verl_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from bridge.rl import verl_reward

    monkeypatch.setenv("BRIDGE_REPL_CMD", fake_repl_cmd())
    monkeypatch.setenv("BRIDGE_WORKERS", "2")
    monkeypatch.setenv("BRIDGE_TIMEOUT", "3")
    monkeypatch.setenv("BRIDGE_SANDBOX", "0")
    monkeypatch.setenv("BRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    yield verl_reward
    verl_reward.close()


def test_verl_compute_score(verl_env, monkeypatch: pytest.MonkeyPatch) -> None:
    vr = verl_env
    one = vr.compute_score("minif2f", "  simp\n```", STMT, {"header": HEADER, "problem_id": "t"})
    assert one["score"] == 1.0 and one["proved"] == 1.0 and one["fault"] == 0.0 and one["verdict"] == "proved"
    gt = json.dumps({"formal_statement": STMT, "header": HEADER})
    assert vr.compute_score("minif2f", "  exact FAKE_ERROR\n```", gt, None)["score"] == 0.0
    kimina = "<think>ok</think>\n```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  simp\n```"
    batch = vr.compute_score_batch(["a", "a", "a"], ["  simp\n```", "  sorry\n```", kimina],
                                   [STMT, {"formal_statement": STMT, "header": HEADER}, STMT],
                                   [None, None, {"template": "kimina"}])
    assert [b["score"] for b in batch] == [1.0, 0.0, 1.0] and batch[2]["format_ok"] == 1.0
    with pytest.raises(vr.RewardFault, match="crashed"):  # verl cannot drop a response: never a silent 0
        vr.compute_score("a", "  rfl -- FAKE_CRASH\n```", STMT, {"header": HEADER})
    monkeypatch.setenv("BRIDGE_VERL_ON_FAULT", "zero")
    before = vr.FAULTS["count"]
    got = vr.compute_score("a", "  rfl -- FAKE_CRASH 2\n```", STMT, {"header": HEADER})
    assert got["score"] == 0.0 and got["fault"] == 1.0 and vr.FAULTS["count"] == before + 1


def test_verl_score_from_worker_threads(verl_env) -> None:
    """Ray runs reward functions in worker threads: no signal, no main thread needed."""
    vr = verl_env
    out: list = [None] * 4
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, vr.compute_score(
        "a", "  simp\n```" if i % 2 else "  exact FAKE_ERROR\n```", STMT, {"header": HEADER})["score"]))
        for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert out == [0.0, 1.0, 0.0, 1.0]
