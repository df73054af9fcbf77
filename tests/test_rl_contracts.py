"""trl's private GRPOTrainer API that ``bridge.rl.grpo`` reads and overrides (issue 26). ``LeanGRPOTrainer``
wraps ``_generate(prompts)`` (timing it, and sampling through it for the pass-rate measurement, where it
reads the completions at index 3 of what it returns) and ``_calculate_rewards(inputs, prompts,
completions, completion_ids_list)``, and appends to ``self._metrics[mode][key]``. If a trl upgrade
changes any of that, these tests fail, not a run."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("torch")
trl = pytest.importorskip("trl")
pytest.importorskip("peft")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")

RETURNED = ("prompt_ids", "completion_ids", "tool_mask", "completions", "logprobs", "extra_fields", "images",
            "tool_images")  # trl 1.16's _generate; grpo.py reads index 3


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_private_signatures() -> None:
    from trl import GRPOTrainer

    assert _params(GRPOTrainer._generate) == ["self", "prompts"]
    assert _params(GRPOTrainer._calculate_rewards) == ["self", "inputs", "prompts", "completions", "completion_ids_list"]


def test_generate_returns_the_completions_at_index_3() -> None:
    """Every ``return`` of trl's ``_generate`` is a tuple with ``completions`` at index 3 (read statically)."""
    from trl import GRPOTrainer

    tree = ast.parse(textwrap.dedent(inspect.getsource(GRPOTrainer._generate)))
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    assert returns, "trl's _generate returns nothing"
    for r in returns:
        assert isinstance(r.value, ast.Tuple), ast.unparse(r)
        names = tuple(ast.unparse(e) for e in r.value.elts)
        assert len(names) > 3 and names[3] == "completions", names
        assert names == RETURNED, f"trl's _generate now returns {names}; bridge.rl.grpo reads index 3"


def test_the_override_runs_against_the_installed_trl(tmp_path: Path) -> None:
    """A real LeanGRPOTrainer on a tiny model: ``_generate`` gives the 8-tuple with one completion per prompt
    at index 3, the metrics are lists per mode, ``sample`` gives k texts per prompt and leaves them as they
    were."""
    from bridge.rl.grpo import _ml_stack, _trainer_class
    from tests.tiny_model import build_tiny_model

    stack = _ml_stack()
    model_dir = build_tiny_model(tmp_path / "model")
    tok = stack["AutoTokenizer"].from_pretrained(str(model_dir))
    tok.padding_side = "left"
    base = stack["AutoModelForCausalLM"].from_pretrained(str(model_dir))
    model = stack["get_peft_model"](base, stack["LoraConfig"](r=2, lora_alpha=4, target_modules="all-linear",
                                                              task_type="CAUSAL_LM"))
    args = stack["GRPOConfig"](output_dir=str(tmp_path / "out"), max_steps=1, num_generations=2,
                               per_device_train_batch_size=2, max_completion_length=3, report_to="none", use_cpu=True,
                               disable_tqdm=True, log_completions=False)
    ds = stack["Dataset"].from_list([{"prompt": "theorem foo : True := by\n"}])
    trainer = _trainer_class(stack)(model=model, reward_funcs=[lambda prompts, completions, **kw: [0.0] * len(prompts)],
                                    args=args, train_dataset=ds, processing_class=tok)
    assert isinstance(trainer._metrics["train"], defaultdict) and isinstance(trainer.state.num_input_tokens_seen, int)
    out = trainer._generate(["theorem a : True := by\n", "theorem b : True := by\n"])
    assert isinstance(out, tuple) and len(out) == len(RETURNED)
    assert len(out[3]) == 2 and len(out[1]) == 2  # completions, completion ids: one per prompt
    assert trainer._metrics["train"]["timing/generation_s"]  # the override's timing landed
    before = {k: list(v) for k, v in trainer._metrics["train"].items()}
    texts = trainer.sample(["theorem c : True := by\n"], 3)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert {k: list(v) for k, v in trainer._metrics["train"].items()} == before
