"""``bridge rl grpo``: GRPO with the Lean verdict as the reward (trl's ``GRPOTrainer`` + a peft LoRA adapter).

Each epoch first measures every problem's pass rate with the current policy (``samples`` completions per
problem, the same generation path as the rollouts: vLLM colocate where installed, transformers
otherwise), keeps the problems whose rate lies in the pass window, and trains one pass over them; the
next epoch measures again. Every step of the run leaves an artefact, so a killed run resumes with the
same command::

    DIR/rl.json                    the settings (a resume must match the fixed ones; --steps may grow)
    DIR/epoch-E/pass_rates.jsonl   each problem's measured rate (written whole; a resume reuses it)
    DIR/epoch-E/epoch.json         the epoch's plan: its first and last step, the problems kept
    DIR/checkpoints/checkpoint-N/  trainer checkpoints (adapter, optimizer, scheduler, RNG, trainer state)
    DIR/steps.jsonl                one line per step: reward mean, all-zero groups, completion length,
                                   format-error rate, reward and generation seconds, loss
    DIR/rewards.jsonl              one line per completion: verdict, rule, reward terms (the reward's log)
    DIR/adapter/, DIR/rl_summary.json   the final adapter, then the summary (written last: the run is done)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bridge.config import BridgeConfig
from bridge.data.problem import Problem
from bridge.errors import InputError, SetupError
from bridge.rl.reward import LeanReward
from bridge.rl.shaping import ShapingConfig
from bridge.rl.window import EpochPlan, Window, pass_rate, plan_epoch, window_text
from bridge.runs import provenance
from bridge.train.data import write_json
from bridge.verify.api import Verifier
from provers.templates import Family, render

SETTINGS = "rl.json"
SUMMARY = "rl_summary.json"
ADAPTER = "adapter"
CHECKPOINTS = "checkpoints"
STEPS = "steps.jsonl"
REWARDS = "rewards.jsonl"
INTERRUPTED = 130
EMPTY_WINDOW = 6  # exit status of `bridge rl grpo` when no problem's pass rate lies in the window (docs/rl.md)
# settings a resumed run must share with the run it resumes (--steps may grow; learning-rate and logging
# knobs may change)
FIXED = ("dataset", "split", "limit", "model", "template", "samples", "pass_window", "prompts_per_step",
         "grad_accum", "max_completion_length", "temperature", "top_p", "seed", "lora_r", "lora_alpha",
         "lora_dropout", "target_modules", "shaping", "init_adapter", "beta")


@dataclass
class GRPORunConfig:
    """The knobs of one ``bridge rl grpo`` run (trl's ``GRPOConfig`` and peft's ``LoraConfig`` get them)."""

    dataset: str
    model: str
    run_dir: Path
    steps: int = 100  # optimizer steps in all (every epoch counts)
    samples: int = 8  # completions per prompt (GRPO's group size G), also per problem when measuring
    pass_window: Window | None = (0.0, 0.75)  # kept: lo < pass rate <= hi; None: every problem
    split: str | None = None
    limit: int | None = None
    template: str | None = None
    prompts_per_step: int = 2  # groups per optimizer step
    grad_accum: int = 1  # the step's groups in this many micro-batches
    max_completion_length: int = 2048
    temperature: float = 1.0
    top_p: float = 0.95
    learning_rate: float = 1e-5
    lr_scheduler: str = "constant"  # constant: a resumed run with a larger --steps keeps its schedule
    beta: float = 0.0  # KL coefficient (trl's default: no reference model)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str = "all-linear"
    save_steps: int = 50  # checkpoints every N steps (and at every epoch's end)
    logging_steps: int = 1
    seed: int = 0
    device: str | None = None  # "cpu" | "cuda"; None: cuda when available
    vllm: str = "auto"  # "auto": vLLM colocate when installed and on a GPU; "on"; "off"
    vllm_memory: float = 0.3  # vLLM's gpu_memory_utilization (training shares the GPU)
    init_adapter: str | None = None  # start from this peft adapter instead of a fresh LoRA
    shaping: ShapingConfig = field(default_factory=ShapingConfig)

    def __post_init__(self) -> None:
        for name in ("steps", "samples", "prompts_per_step", "grad_accum", "max_completion_length", "lora_r",
                     "logging_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1")
        if self.samples < 2:
            raise InputError("--samples must be at least 2 (GRPO compares the completions of one prompt)")
        if (self.prompts_per_step * self.samples) % self.grad_accum:
            raise InputError(f"--grad-accum {self.grad_accum} must divide the completions per step "
                             f"({self.prompts_per_step} prompts x {self.samples} samples)")
        if self.vllm not in ("auto", "on", "off"):
            raise InputError("vllm must be auto, on or off")

    def fixed(self) -> dict[str, Any]:
        d = asdict(self)
        d["pass_window"] = list(self.pass_window) if self.pass_window is not None else None
        return {k: d[k] for k in FIXED}


# -- pure helpers -------------------------------------------------------------------------------------------


def step_record(logs: dict[str, Any], step: int, epoch: int) -> dict[str, Any] | None:
    """One line of steps.jsonl from trl's logs of a step (None for logs that are not a training step)."""
    if "reward" not in logs:
        return None

    def g(k: str) -> float | None:
        v = logs.get(k)
        return float(v) if isinstance(v, (int, float)) and v == v else None

    gen, rew = g("timing/generation_s"), g("timing/reward_s")
    return {"step": step, "epoch": epoch, "reward_mean": g("reward"), "all_zero_groups": g("lean/all_zero_groups"),
            "completion_length": g("completions/mean_length"), "format_error_rate": g("lean/format_error_rate"),
            "reward_s": rew, "generation_s": gen,
            "reward_over_generation": rew / gen if rew is not None and gen else None,
            "proved_rate": g("lean/proved_rate"), "none_rate": g("lean/none_rate"),
            "frac_reward_zero_std": g("frac_reward_zero_std"), "loss": g("loss"),
            "learning_rate": g("learning_rate"), "trl": {k: v for k, v in logs.items() if isinstance(v, (int, float))}}


def checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[-1])


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (transformers writes trainer_state.json last)."""
    d = Path(run_dir) / CHECKPOINTS
    if not d.is_dir():
        return None
    done = [p for p in d.glob("checkpoint-*") if p.name.rsplit("-", 1)[-1].isdigit()
            and (p / "trainer_state.json").is_file()]
    return max(done, key=checkpoint_step) if done else None


def trim_jsonl(path: Path, keep: Callable[[dict[str, Any]], bool]) -> None:
    """Drop the lines a killed run wrote past its last checkpoint (they are written again)."""
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    kept = []
    for ln in lines:
        try:
            if keep(json.loads(ln)):
                kept.append(ln)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")
    tmp.replace(path)


def prompt_rows(problems: list[Problem], family: Family) -> list[dict[str, Any]]:
    """The GRPO dataset: the prompt ``bridge prove`` sends, and the columns the reward reads."""
    return [{"prompt": render(family, p), "header": p.header, "formal_statement": p.formal_statement,
             "problem_id": p.id} for p in problems]


# -- the run ------------------------------------------------------------------------------------------------


class GRPORun:
    """One resumable ``bridge rl grpo`` run. ``stop()`` (a signal) ends it at the next step, checkpointed."""

    def __init__(self, cfg: GRPORunConfig, bcfg: BridgeConfig, problems: list[Problem], family: Family,
                 log: Callable[[str], None] = lambda s: None, reward: LeanReward | None = None):
        if not problems:
            raise InputError(f"{cfg.dataset}: no problems to train on")
        self.cfg = cfg
        self.bcfg = bcfg
        self.problems = {p.id: p for p in problems}
        self.family = family
        self.log = log
        self.run_dir = Path(cfg.run_dir)
        self._reward = reward
        self.stopped = threading.Event()
        self.epoch = 0

    def stop(self) -> None:
        self.stopped.set()

    # -- settings and resume --------------------------------------------------------------------------------

    def _check_settings(self) -> dict[str, Any]:
        path = self.run_dir / SETTINGS
        fixed = json.loads(json.dumps(self.cfg.fixed()))  # as JSON gives it back
        if path.is_file():
            old = json.loads(path.read_text(encoding="utf-8"))
            diff = [k for k in FIXED if old.get("fixed", {}).get(k) != fixed[k]]
            if diff:
                raise InputError(f"{self.run_dir} holds a run made with other settings ({', '.join(diff)} differ)",
                                 "give another --run-dir, or the same settings to resume it")
        write_json(path, {"fixed": fixed, "steps": self.cfg.steps, "family": self.family.name,
                          "bridge_config": self.bcfg.as_dict()})
        return fixed

    def run(self) -> dict[str, Any]:
        """Train until ``steps`` (resuming whatever is there); returns the summary. Raises SetupError
        when the ML stack or the model is missing, and whatever the reward raises (a REPL that cannot start)."""
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._check_settings()
        if (self.run_dir / SUMMARY).is_file():
            done = json.loads((self.run_dir / SUMMARY).read_text(encoding="utf-8"))
            if done.get("steps", 0) >= cfg.steps and not done.get("stopped_early"):
                self.log(f"{self.run_dir}: already finished ({done.get('steps')} steps)")
                return done
            # a larger --steps goes on; so does a run an empty pass window stopped (before issue 26 it wrote
            # a summary that read as finished)
            (self.run_dir / SUMMARY).unlink()
        stack = _ml_stack()
        torch = stack["torch"]
        from bridge.train.sft import parameter_counts, resolve_device, state_digest

        device = resolve_device(cfg.device)
        cuda = device.startswith("cuda")
        use_vllm = _use_vllm(cfg.vllm, cuda)
        ckpt = latest_checkpoint(self.run_dir)
        start_step = checkpoint_step(ckpt) if ckpt else 0
        trim_jsonl(self.run_dir / STEPS, lambda r: int(r.get("step") or 0) <= start_step)
        trim_jsonl(self.run_dir / REWARDS, lambda r: r.get("step") is None or int(r["step"]) <= start_step)
        tok, peft_model = self._load_model(stack, device, ckpt)
        counts = parameter_counts(peft_model)
        init_digest = state_digest(stack["get_peft_model_state_dict"](peft_model))
        reward = self._reward or LeanReward(self.family, self.bcfg, shaping=cfg.shaping,
                                            log_path=self.run_dir / REWARDS)
        owns_reward = self._reward is None
        verifier = getattr(getattr(reward, "service", None), "verifier", None)
        if isinstance(verifier, Verifier):  # a test's stand-in reward has none
            provenance.record(self.run_dir, verifier)
        if self._reward is not None and reward.log_path is None:
            reward.log_path = self.run_dir / REWARDS
        self.log(f"GRPO: {len(self.problems)} problems, {cfg.samples} samples per prompt, {cfg.prompts_per_step} "
                 f"prompts per step, window {window_text(cfg.pass_window)}, {cfg.steps} steps, on {device}"
                 + (" (vLLM colocate)" if use_vllm else " (transformers generation)")
                 + (f"; resuming from {ckpt.name}" if ckpt else "")
                 + f"; {counts['trainable']:,} of {counts['total']:,} parameters trainable")
        progress = _Progress(self)
        trainer = self._trainer(stack, peft_model, tok, reward, device, use_vllm, progress)
        started = time.time()
        t0 = time.perf_counter()
        stopped_early: str | None = None
        epochs: list[dict[str, Any]] = []
        try:
            step = start_step
            self.epoch = self._epoch_at(step)
            while step < cfg.steps and not self.stopped.is_set():
                plan = self._plan(trainer, reward, step)
                if plan is None:  # stopped while measuring
                    break
                epochs.append({"epoch": self.epoch, "start": step, "end": step + plan.steps,
                               "kept": len(plan.kept)})
                if plan.steps == 0:
                    stopped_early = (f"epoch {self.epoch}: no problem's pass rate lies in the window "
                                     f"({window_text(cfg.pass_window)}; rates in "
                                     f"{self.run_dir / f'epoch-{self.epoch}' / 'pass_rates.jsonl'})")
                    break
                trainer.train_dataset = stack["Dataset"].from_list(
                    prompt_rows([self.problems[pid] for pid in plan.rows], self.family))
                progress.stop_at = step + plan.steps
                last = latest_checkpoint(self.run_dir)
                trainer.train(resume_from_checkpoint=str(last) if last else None)
                step = int(trainer.state.global_step)
                if step < progress.stop_at:  # stopped by a signal: the callback checkpointed this step
                    break
                self.epoch += 1
        finally:
            if owns_reward:
                reward.close()
        wall = time.perf_counter() - t0
        step = int(trainer.state.global_step)
        if stopped_early is not None and not self.stopped.is_set():
            # nothing to train on: no adapter and no summary are written (a summary would read as finished);
            # the measurement is kept, and the trained steps so far stay in their checkpoint
            last = latest_checkpoint(self.run_dir)
            return {"empty_window": True, "steps": step, "reason": stopped_early, "epoch": self.epoch,
                    "checkpoint": str(last) if last else None, "wall_time_s": wall}
        if self.stopped.is_set() and step < cfg.steps and not stopped_early:
            self.log(f"bridge: stopped at step {step}; checkpoint {latest_checkpoint(self.run_dir)}; run the same "
                     "command again to go on")
            return {"stopped": True, "steps": step}
        staging = self.run_dir / ".adapter.partial"
        shutil.rmtree(staging, ignore_errors=True)
        trainer.model.save_pretrained(str(staging))
        tok.save_pretrained(str(staging))
        shutil.rmtree(self.run_dir / ADAPTER, ignore_errors=True)
        staging.replace(self.run_dir / ADAPTER)
        final_digest = state_digest(stack["get_peft_model_state_dict"](trainer.model))
        from bridge.train.sft import _versions

        summary = {
            "kind": "lora-grpo", "base_model": cfg.model, "template": self.family.name,
            "adapter": str(self.run_dir / ADAPTER), "init_adapter": cfg.init_adapter,
            "initial_adapter_state_sha256": init_digest, "adapter_state_sha256": final_digest,
            "steps": step, "requested_steps": cfg.steps, "resumed_from_checkpoint": str(ckpt) if ckpt else None,
            "stopped_early": stopped_early, "epochs_this_process": epochs, "generation": "vllm" if use_vllm else "transformers",
            "device": device, "wall_time_s": wall, "problems": len(self.problems),
            "pass_window": list(cfg.pass_window) if cfg.pass_window else None,
            "hyperparameters": {**asdict(cfg), "run_dir": str(cfg.run_dir)},
            "model": {"parameter_counts": counts}, "verifier": {
                "lean_version": reward.service.verifier.launch.lean_version,
                "stats": dataclasses.asdict(reward.service.verifier.stats), "streams": reward.service.streams},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)), "versions": _versions(),
        }
        write_json(self.run_dir / SUMMARY, summary)
        if cuda:
            torch.cuda.empty_cache()
        return summary

    def _epoch_at(self, step: int) -> int:
        """The epoch a (resumed) run is in at ``step``: the first planned one not yet done, else the next."""
        e = 0
        while (self.run_dir / f"epoch-{e}" / "epoch.json").is_file():
            plan = json.loads((self.run_dir / f"epoch-{e}" / "epoch.json").read_text(encoding="utf-8"))
            if step < plan["start"] + plan["full_steps"] or plan["full_steps"] == 0:
                return e
            e += 1
        return e

    def _plan(self, trainer: Any, reward: LeanReward, step: int) -> EpochPlan | None:
        """Measure this epoch's pass rates and plan its steps, or read back the plan a killed run made."""
        cfg = self.cfg
        edir = self.run_dir / f"epoch-{self.epoch}"
        rates_path, plan_path = edir / "pass_rates.jsonl", edir / "epoch.json"
        if plan_path.is_file():
            saved = json.loads(plan_path.read_text(encoding="utf-8"))
            end = min(saved["start"] + saved["full_steps"], cfg.steps)  # a larger --steps may lengthen it
            return EpochPlan(tuple(saved["kept"]), tuple(saved["rows"]), max(0, end - step))
        if cfg.pass_window is None:
            rates: dict[str, float | None] = {pid: None for pid in self.problems}
        else:
            measured = self._measure(trainer, reward, rates_path)
            if measured is None:
                return None
            rates = measured
        plan = plan_epoch(rates, cfg.pass_window, cfg.prompts_per_step, step, cfg.steps)
        edir.mkdir(parents=True, exist_ok=True)
        write_json(plan_path, {"epoch": self.epoch, "start": step, "steps": plan.steps,
                               "full_steps": len(plan.rows) // cfg.prompts_per_step,
                               "window": list(cfg.pass_window) if cfg.pass_window else None,
                               "kept": list(plan.kept), "rows": list(plan.rows), "measured": len(rates),
                               "unmeasured": sum(1 for r in rates.values() if r is None)})
        self.log(f"epoch {self.epoch}: {len(plan.kept)} of {len(rates)} problems in the window "
                 f"({window_text(cfg.pass_window)}); steps {step + 1}..{step + plan.steps}")
        return plan

    def _measure(self, trainer: Any, reward: LeanReward, path: Path) -> dict[str, float | None] | None:
        """Each problem's pass rate under the current policy; written whole, read back on a resume."""
        if path.is_file():
            rows = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            return {r["problem_id"]: r["pass_rate"] for r in rows if r["problem_id"] in self.problems}
        cfg = self.cfg
        out: dict[str, float | None] = {}
        lines: list[str] = []
        ids = list(self.problems)
        t0 = time.perf_counter()
        for i in range(0, len(ids), cfg.prompts_per_step):
            if self.stopped.is_set():
                return None
            chunk = [self.problems[pid] for pid in ids[i:i + cfg.prompts_per_step]]
            answers = trainer.sample([render(self.family, p) for p in chunk], cfg.samples)
            probs = [p for p in chunk for _ in range(cfg.samples)]
            judged = reward.judge(probs, answers)
            for j, p in enumerate(chunk):
                part = judged[j * cfg.samples:(j + 1) * cfg.samples]
                rate = pass_rate([r for _, r in part])
                out[p.id] = rate
                lines.append(json.dumps({"problem_id": p.id, "pass_rate": rate, "samples": cfg.samples,
                                         "verdicts": [v.verdict for v, _ in part]}))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
        tmp.replace(path)
        self.log(f"epoch {self.epoch}: measured {len(ids)} problems x {cfg.samples} samples in "
                 f"{time.perf_counter() - t0:.1f}s")
        return out

    # -- model and trainer ----------------------------------------------------------------------------------

    def _load_model(self, stack: dict[str, Any], device: str, ckpt: Path | None) -> tuple[Any, Any]:
        from provers.backends.hf import NEXT_STEP_MODEL, model_source

        torch = stack["torch"]
        cfg = self.cfg
        cuda = device.startswith("cuda")
        dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
        source, offline = model_source(cfg.model)
        try:
            tok = stack["AutoTokenizer"].from_pretrained(source, local_files_only=offline)
            base = stack["AutoModelForCausalLM"].from_pretrained(source, dtype=dtype, local_files_only=offline)
        except Exception as e:  # noqa: BLE001 - hub, file and format errors: one message with the next step
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise SetupError(f"cannot load the model {cfg.model}: {type(e).__name__}: {first}", NEXT_STEP_MODEL) from None
        if self.family.mode == "chat" and not getattr(tok, "chat_template", None):
            raise InputError(f"template {self.family.name} prompts with chat turns, but {cfg.model}'s tokenizer has "
                             "no chat template", "use --template deepseek-v1.5 or a chat model")
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"  # trl generates from left-padded prompts
        stack["transformers"].set_seed(cfg.seed)  # the LoRA matrices are initialised at random
        start = ckpt or (Path(cfg.init_adapter) if cfg.init_adapter else None)
        if start is not None:
            if not (start / "adapter_config.json").is_file():
                raise InputError(f"{start}: not a peft adapter (no adapter_config.json)")
            model = stack["PeftModel"].from_pretrained(base, str(start), is_trainable=True)
        else:
            targets: Any = cfg.target_modules if cfg.target_modules == "all-linear" else [
                t.strip() for t in cfg.target_modules.split(",") if t.strip()]
            model = stack["get_peft_model"](base, stack["LoraConfig"](
                r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
                task_type="CAUSAL_LM"))
        return tok, model

    def _trainer(self, stack: dict[str, Any], model: Any, tok: Any, reward: LeanReward, device: str,
                 use_vllm: bool, progress: _Progress) -> Any:
        cfg = self.cfg
        torch = stack["torch"]
        cuda = device.startswith("cuda")
        bf16 = cuda and torch.cuda.is_bf16_supported()
        vllm_kw: dict[str, Any] = {}
        if use_vllm:
            vllm_kw = {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": cfg.vllm_memory}
        args = stack["GRPOConfig"](
            output_dir=str(self.run_dir / CHECKPOINTS), max_steps=cfg.steps, num_generations=cfg.samples,
            per_device_train_batch_size=cfg.prompts_per_step * cfg.samples // cfg.grad_accum,
            gradient_accumulation_steps=cfg.grad_accum, max_completion_length=cfg.max_completion_length,
            temperature=cfg.temperature, top_p=cfg.top_p, learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.lr_scheduler, beta=cfg.beta, logging_steps=cfg.logging_steps,
            save_strategy="steps", save_steps=max(1, cfg.save_steps), save_total_limit=2, report_to="none",
            use_cpu=not cuda, bf16=bf16, seed=cfg.seed, data_seed=cfg.seed, ignore_data_skip=True,
            disable_tqdm=True, log_completions=False, **vllm_kw)
        placeholder = stack["Dataset"].from_list(prompt_rows(list(self.problems.values())[:1], self.family))
        trainer = _trainer_class(stack)(model=model, reward_funcs=[reward], args=args, train_dataset=placeholder,
                                        processing_class=tok, callbacks=[progress.callback(stack)])
        trainer.remove_callback(stack["PrinterCallback"])  # stdout is for the result; steps go to stderr and steps.jsonl
        return trainer


class _Progress:
    """Stops a training segment at its epoch's end (checkpointed) or on a signal; writes steps.jsonl."""

    def __init__(self, run: GRPORun):
        self.run = run
        self.stop_at = 0

    def callback(self, stack: dict[str, Any]) -> Any:
        progress = self

        class Callback(stack["TrainerCallback"]):  # type: ignore[misc, valid-type]
            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
                if state.global_step >= progress.stop_at or progress.run.stopped.is_set():
                    control.should_save = True
                    control.should_training_stop = True
                return control

            def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
                rec = step_record(logs or {}, int(state.global_step), progress.run.epoch)
                if rec is None:
                    return
                with (progress.run.run_dir / STEPS).open("a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
                progress.run.log(
                    f"step {rec['step']}: reward {_fmt(rec['reward_mean'])}, all-zero groups "
                    f"{_fmt(rec['all_zero_groups'])}, length {_fmt(rec['completion_length'], 1)}, format errors "
                    f"{_fmt(rec['format_error_rate'])}, reward {_fmt(rec['reward_s'], 2)}s vs generation "
                    f"{_fmt(rec['generation_s'], 2)}s")

        return Callback()


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _use_vllm(mode: str, cuda: bool) -> bool:
    import importlib.util

    have = importlib.util.find_spec("vllm") is not None
    if mode == "on" and not (have and cuda):
        raise SetupError("--vllm on needs vLLM and a CUDA GPU", 'pip install -e ".[vllm]" on a GPU machine, or --vllm off')
    return mode == "on" or (mode == "auto" and have and cuda)


def _ml_stack() -> dict[str, Any]:
    try:
        import torch
        import transformers
        from peft import LoraConfig, PeftModel, get_peft_model
        from peft.utils import get_peft_model_state_dict
        from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
        from trl import GRPOConfig, GRPOTrainer

        from datasets import Dataset
    except ImportError as e:
        raise SetupError(f"`bridge rl grpo` needs torch, transformers, peft and trl ({e.name} is missing)",
                         'pip install -e ".[ml]"') from None
    return {"torch": torch, "transformers": transformers, "Dataset": Dataset, "LoraConfig": LoraConfig,
            "PeftModel": PeftModel, "get_peft_model": get_peft_model,
            "get_peft_model_state_dict": get_peft_model_state_dict, "AutoModelForCausalLM": AutoModelForCausalLM,
            "AutoTokenizer": AutoTokenizer, "TrainerCallback": TrainerCallback, "PrinterCallback": PrinterCallback, "GRPOConfig": GRPOConfig,
            "GRPOTrainer": GRPOTrainer}


_TRAINER: Any = None


def _trainer_class(stack: dict[str, Any]) -> Any:
    """trl's GRPOTrainer, timing generation and reward per batch (the number users watch) and sampling for
    the pass-rate measurement through the rollouts' own generation path."""
    global _TRAINER
    if _TRAINER is not None:
        return _TRAINER
    torch = stack["torch"]

    class LeanGRPOTrainer(stack["GRPOTrainer"]):  # type: ignore[misc, valid-type]
        def _generate(self, prompts: list) -> Any:
            t0 = time.perf_counter()
            out = super()._generate(prompts)
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["timing/generation_s"].append(time.perf_counter() - t0)
            return out

        def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
            t0 = time.perf_counter()
            out = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["timing/reward_s"].append(time.perf_counter() - t0)
            return out

        def sample(self, prompts: list, k: int) -> list[str]:
            """``k`` completions per prompt (prompt-major), with the rollouts' sampling settings; leaves the
            training metrics as they were."""
            from bridge.rl.shaping import completion_text

            saved = {m: {k2: list(v) for k2, v in d.items()} for m, d in self._metrics.items()}
            seen = self.state.num_input_tokens_seen
            try:
                with torch.no_grad():
                    out = self._generate([p for p in prompts for _ in range(k)])
            finally:
                for m, d in saved.items():
                    self._metrics[m].clear()
                    self._metrics[m].update(d)
                self.state.num_input_tokens_seen = seen
            return [completion_text(c) for c in out[3]]

    _TRAINER = LeanGRPOTrainer
    return _TRAINER

