"""`bridge rl grpo` on the CPU: a few GRPO steps of a tiny random model (trl GRPOTrainer + LoRA) with the Lean
reward on the fake REPL; the pass-window filter, the step logs, checkpoints and resume."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

import pytest

from bridge.errors import InputError
from bridge.rl import LeanReward, lean_reward
from tests.conftest import fake_repl_cmd

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning",
                                        "ignore::DeprecationWarning")

HEADER = "import Init\n"
# what the fake REPL makes of each problem, whatever the model writes: proved unless the proof itself trips
# the screen (about half of the tiny model's 4-token answers do), always failed, always crashed
STATEMENTS = {
    "good_a": "theorem good_a (n : Nat) : n + 0 = n := by\n",
    "bad": "theorem bad /- FAKE_ERROR -/ (n : Nat) : n = n := by\n",
    "good_b": "theorem good_b : True := by\n",
    "crashy": "theorem crashy /- FAKE_CRASH -/ : 1 = 1 := by\n",
}
STEP_KEYS = ("reward_mean", "all_zero_groups", "completion_length", "format_error_rate", "reward_s", "generation_s")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "problems.jsonl"
    path.write_text("".join(json.dumps({"name": k, "split": "train", "header": HEADER, "formal_statement": v}) + "\n"
                            for k, v in STATEMENTS.items()))
    return path


def parser() -> argparse.ArgumentParser:
    from bridge.cli import rl

    p = argparse.ArgumentParser(prog="bridge")
    rl.add_parser(p.add_subparsers())
    return p


def cli_args(problems: Path, model: Path, run_dir: Path, cache: Path, *extra: str) -> list[str]:
    return ["rl", "grpo", str(problems), "--model", str(model), "--samples", "4", "--max-tokens", "4",
            "--run-dir", str(run_dir), "--repl-cmd", fake_repl_cmd(), "--workers", "2", "--timeout", "5",
            "--cache-dir", str(cache), "--no-sandbox", "--lr", "1e-2", "--lora-r", "4", *extra]


def steps_of(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "steps.jsonl").read_text().splitlines() if x.strip()]


class Recording(LeanReward):
    """The reward trl calls, recording what it was given and gave back."""

    seen: list

    async def __call__(self, prompts, completions, **kw):  # noqa: ANN001, ANN204
        out = await super().__call__(prompts, completions, **kw)
        self.seen.append((list(completions), list(kw["formal_statement"]), list(kw["header"]), out,
                          threading.current_thread() is threading.main_thread()))
        return out


def test_grpo_steps_reward_equals_the_fakes_verdicts(tiny_model: Path, tmp_path: Path, fake_cfg) -> None:
    from bridge.data.problem import Problem
    from bridge.rl.grpo import GRPORun, GRPORunConfig
    from bridge.train.sft import adapter_digest
    from bridge.verify.api import Verifier
    from provers.templates import FAMILIES, extract

    fam = FAMILIES["deepseek-v1.5"]
    cfg = fake_cfg(workers=2, timeout=5.0, sandbox=False)
    probs = [Problem(id=k, split="train", header=HEADER, formal_statement=v) for k, v in STATEMENTS.items()]
    reward = Recording(fam, cfg)
    reward.seen = []
    run_cfg = GRPORunConfig(dataset="test", model=str(tiny_model), run_dir=tmp_path / "run", steps=2, samples=4,
                            pass_window=None, prompts_per_step=2, max_completion_length=4, learning_rate=1e-2,
                            lora_r=4, device="cpu", save_steps=100)
    try:
        summary = GRPORun(run_cfg, cfg, probs, fam, reward=reward).run()
    finally:
        reward.close()
    assert summary["steps"] == 2 and summary["generation"] == "transformers"
    assert summary["adapter_state_sha256"] != summary["initial_adapter_state_sha256"]  # the adapter learned
    assert adapter_digest(tmp_path / "run" / "adapter") == summary["adapter_state_sha256"]
    assert summary["verifier"]["streams"] == 1  # one pool for the whole run
    # every reward trl got equals the verdict of the same candidate checked afresh by the Verifier
    answers, expected_none = [], 0
    rewards: list = []
    for comps, stmts, headers, out, on_main in reward.seen:
        assert not on_main  # trl awaits async rewards on its event-loop thread
        for c, s, h in zip(comps, stmts, headers, strict=True):
            answers.append(extract(fam, Problem(id="x", split="x", header=h, formal_statement=s), c, f"a{len(answers)}"))
        rewards += out
    assert len(rewards) == 2 * 2 * 4
    with Verifier(fake_cfg(workers=2, timeout=5.0, sandbox=False)) as v:
        verdicts = v.verify_all(answers)
    assert rewards == [lean_reward(x.verdict, x.gate) for x in verdicts]
    expected_none = sum(1 for x in verdicts if x.verdict == "crashed")
    crashy_rows = [i for i, a in enumerate(answers) if "crashy" in a.statement]
    assert crashy_rows and all(rewards[i] in (None, 0.0) for i in crashy_rows)
    assert expected_none > 0 and rewards.count(None) == expected_none  # injected crashes: None, never 0
    assert all(rewards[i] == 0.0 for i, a in enumerate(answers) if "FAKE_ERROR" in a.statement)
    lines = steps_of(tmp_path / "run")
    assert [x["step"] for x in lines] == [1, 2]
    for x in lines:
        assert all(x[k] is not None for k in STEP_KEYS), x
        assert x["reward_over_generation"] == pytest.approx(x["reward_s"] / x["generation_s"])


def test_cli_window_epochs_and_resume(tiny_model: Path, problems_file: Path, tmp_path: Path) -> None:
    from bridge.train.sft import adapter_digest

    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    p = parser()
    a = p.parse_args(cli_args(problems_file, tiny_model, run_dir, cache, "--steps", "2", "--pass-window", "0,1",
                              "--save-steps", "1"))
    assert a.func(a) == 0
    first = json.loads((run_dir / "rl_summary.json").read_text())
    assert first["steps"] == 2 and first["resumed_from_checkpoint"] is None
    epochs = sorted(run_dir.glob("epoch-*/pass_rates.jsonl"))
    assert len(epochs) >= 1
    for path in epochs:  # measured per epoch; the always-failing problem is never in the window
        rates = {r["problem_id"]: r for r in map(json.loads, path.read_text().splitlines())}
        assert set(rates) == set(STATEMENTS) and rates["bad"]["pass_rate"] == 0.0
        plan = json.loads((path.parent / "epoch.json").read_text())
        assert "bad" not in plan["kept"] and all(0 < rates[k]["pass_rate"] <= 1 for k in plan["kept"])
    ckpt = run_dir / "checkpoints" / "checkpoint-2"
    assert (ckpt / "trainer_state.json").is_file()
    # a larger --steps resumes from the last checkpoint: its adapter, its step count
    a = p.parse_args(cli_args(problems_file, tiny_model, run_dir, cache, "--steps", "3", "--pass-window", "0,1",
                              "--save-steps", "1"))
    assert a.func(a) == 0
    second = json.loads((run_dir / "rl_summary.json").read_text())
    assert second["steps"] == 3 and second["resumed_from_checkpoint"] == str(ckpt)
    assert second["initial_adapter_state_sha256"] == adapter_digest(ckpt) == first["adapter_state_sha256"]
    assert [x["step"] for x in steps_of(run_dir)] == [1, 2, 3]
    state = json.loads((run_dir / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    # the same directory with other fixed settings is refused
    a = p.parse_args(cli_args(problems_file, tiny_model, run_dir, cache, "--steps", "3", "--pass-window", "0,0.5"))
    with pytest.raises(InputError, match="pass_window"):
        a.func(a)


def test_sigterm_checkpoints_and_the_rerun_continues(tiny_model: Path, problems_file: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """SIGTERM during step 2 (sent from the step log, so it lands while the CLI's handler is installed):
    the step is checkpointed and the exit status is 130. What a hard kill would leave past the checkpoint
    (log lines of a step not saved) is trimmed, and the same command goes on from the checkpoint."""
    from bridge.cli import rl
    from bridge.rl.grpo import latest_checkpoint

    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    args = cli_args(problems_file, tiny_model, run_dir, cache, "--steps", "4", "--pass-window", "none",
                    "--save-steps", "100")
    sent = []

    def log(msg: str) -> None:
        if msg.startswith("step 1:") and not sent:
            sent.append(msg)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(rl, "eprint", log)
    before = signal.getsignal(signal.SIGTERM)
    a = parser().parse_args(args)
    assert a.func(a) == 130 and sent
    assert signal.getsignal(signal.SIGTERM) == before
    ckpt = latest_checkpoint(run_dir)
    assert ckpt is not None and ckpt.name in ("checkpoint-1", "checkpoint-2")
    assert not (run_dir / "rl_summary.json").exists()
    k = int(ckpt.name.split("-")[1])
    with (run_dir / "steps.jsonl").open("a") as f:  # a step a hard kill would have logged but not saved
        f.write(json.dumps({"step": k + 1, "reward_mean": 9.0}) + "\n")
    with (run_dir / "rewards.jsonl").open("a") as f:
        f.write(json.dumps({"step": k + 1, "id": "ghost", "verdict": "proved"}) + "\n")
    monkeypatch.setattr(rl, "eprint", lambda msg: None)
    capsys.readouterr()
    a = parser().parse_args(args)
    assert a.func(a) == 0
    summary = json.loads((run_dir / "rl_summary.json").read_text())
    assert summary["steps"] == 4 and summary["resumed_from_checkpoint"] == str(ckpt)
    assert [x["step"] for x in steps_of(run_dir)] == [1, 2, 3, 4] and 9.0 not in [x["reward_mean"] for x in steps_of(run_dir)]
    rewards = [json.loads(x) for x in (run_dir / "rewards.jsonl").read_text().splitlines()]
    assert "ghost" not in {r.get("id") for r in rewards} and {r["step"] for r in rewards} == {1, 2, 3, 4}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 4  # stdout: the result only


def test_an_empty_pass_window_saves_nothing_and_a_resume_is_not_finished(tiny_model: Path, problems_file: Path,
                                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No problem's rate lies in (0, 0.01] with 4 samples: the run says so, writes no adapter and no
    summary, and exits EMPTY_WINDOW; the same command again does not take the run for finished."""
    from bridge.cli import rl
    from bridge.rl.grpo import EMPTY_WINDOW

    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    said: list[str] = []
    monkeypatch.setattr(rl, "eprint", said.append)
    args = cli_args(problems_file, tiny_model, run_dir, cache, "--steps", "2", "--pass-window", "0,0.01")
    a = parser().parse_args(args)
    assert a.func(a) == EMPTY_WINDOW == 6
    assert not (run_dir / "adapter").exists() and not (run_dir / "rl_summary.json").exists()
    assert not list((run_dir / "checkpoints").glob("checkpoint-*")) if (run_dir / "checkpoints").exists() else True
    plan = json.loads((run_dir / "epoch-0" / "epoch.json").read_text())
    assert plan["kept"] == [] and plan["steps"] == 0  # the measurement is kept
    last = [m for m in said if "nothing to train on" in m]
    assert len(last) == 1 and "pass rate lies in the window" in last[0] and "nothing was trained or saved" in last[0]
    said.clear()
    a = parser().parse_args(args)
    assert a.func(a) == EMPTY_WINDOW
    assert not any("already finished" in m for m in said) and any("nothing to train on" in m for m in said)
    assert not (run_dir / "rl_summary.json").exists()
