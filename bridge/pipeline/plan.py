"""The pipeline's one configuration: a dataclass per stage, read from one TOML file and/or flags.

```toml
input = "problems.jsonl"        # rows with problem, answer (and solution, level, ...), like NuminaMath
run_dir = "runs/pipeline"
endpoint = "http://host:8000/v1"   # every model's default server
[solve]     model = "AI-MO/NuminaMath-7B-TIR"  samples = 8
[formalize] model = "Goedel-LM/Goedel-Formalizer-V2-8B"  candidates = 4
[prove]     model = "deepseek-ai/DeepSeek-Prover-V1.5-RL"  samples = 8
[synth]     methods = ["have-lift", "mutate"]
[iterate]   enabled = false  rounds = 1
```
Flags override the file; ``--set SECTION.KEY=VALUE`` sets any field.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.data.decontam import NGRAM
from bridge.errors import InputError
from provers.formalize.stages import DEFAULT_BUDGET

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class SolveStage:
    model: str = "AI-MO/NuminaMath-7B-TIR"
    endpoint: str | None = None
    template: str | None = None
    samples: int = 8
    temperature: float = 0.8
    top_p: float = 1.0
    max_tokens: int = 2048
    grader: str = "math-verify"
    grade_workers: int = 2
    rft_per_problem: int = 4


@dataclass
class FormalizeStage:
    model: str = "Goedel-LM/Goedel-Formalizer-V2-8B"
    endpoint: str | None = None
    template: str | None = None
    candidates: int = 4
    temperature: float | None = None  # None: the formalizer family's published settings
    top_p: float | None = None
    max_tokens: int | None = None
    header: str | None = None
    budget: list[str] = field(default_factory=lambda: list(DEFAULT_BUDGET))
    judges: list[str] = field(default_factory=list)  # default: the formalizer
    votes: int = 3
    vote: str = "unanimous"
    back_translation: bool = True
    judge_temperature: float = 0.7
    judge_max_tokens: int = 2048
    decontam: str = "minif2f,proofnet"
    ngram: int = NGRAM  # decontamination's near-duplicate score (docs/decontamination.md)


@dataclass
class ProveStage:
    model: str = "deepseek-ai/DeepSeek-Prover-V1.5-RL"
    endpoint: str | None = None
    template: str | None = None
    samples: int = 8
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 2048


@dataclass
class SynthStage:
    enabled: bool = True
    methods: list[str] = field(default_factory=lambda: ["have-lift", "mutate"])
    decontam: str | None = None  # default: the formalize stage's
    ngram: int = NGRAM  # decontamination's near-duplicate score (docs/decontamination.md)


@dataclass
class IterateStage:
    enabled: bool = False
    model: str | None = None  # default: the prove stage's model
    rounds: int = 1
    samples: int = 8
    max_tokens: int = 2048
    endpoint: str | None = None  # a server that loads the adapters it trains (default: sample locally)
    device: str | None = None  # cpu | cuda (default: cuda when there is one)
    canaries: int = 4
    max_steps: int = -1  # > 0: optimizer steps per round
    max_length: int = 2048
    learning_rate: float = 1e-4
    lora_r: int = 16


@dataclass
class Plan:
    input: str = ""
    run_dir: str = ""
    endpoint: str | None = None
    split: str | None = None
    limit: int | None = None
    seed: int = 0
    solve: SolveStage = field(default_factory=SolveStage)
    formalize: FormalizeStage = field(default_factory=FormalizeStage)
    prove: ProveStage = field(default_factory=ProveStage)
    synth: SynthStage = field(default_factory=SynthStage)
    iterate: IterateStage = field(default_factory=IterateStage)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fixed(self) -> dict[str, Any]:
        """What a resumed run must have been made with: everything but where the models are served."""
        d = self.to_json()
        d.pop("endpoint")
        for s in ("solve", "formalize", "prove", "iterate"):
            d[s].pop("endpoint", None)
        d["solve"].pop("grade_workers")
        return d

    def endpoint_of(self, stage: str) -> str | None:
        return getattr(self, stage).endpoint or self.endpoint


SECTIONS = ("solve", "formalize", "prove", "synth", "iterate")


def _set(obj: Any, key: str, value: Any, where: str) -> None:
    names = {f.name: f for f in dataclasses.fields(obj)}
    if key not in names:
        raise InputError(f"{where}: unknown key {key!r}", f"known keys: {', '.join(names)}")
    want = names[key].type
    if isinstance(value, str) and "bool" in str(want) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    elif isinstance(value, str) and "int" in str(want) and "str" not in str(want):
        try:
            value = int(value)
        except ValueError:
            raise InputError(f"{where}: {key} must be a whole number, not {value!r}") from None
    elif isinstance(value, str) and "float" in str(want) and "str" not in str(want):
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"{where}: {key} must be a number, not {value!r}") from None
    elif isinstance(value, str) and "list" in str(want):
        value = [v.strip() for v in value.split(",") if v.strip()]
    setattr(obj, key, value)


def apply(plan: Plan, data: dict[str, Any], where: str) -> Plan:
    """Set ``plan``'s fields from a TOML-shaped dict (top-level keys and one table per stage)."""
    for k, v in data.items():
        if k in SECTIONS:
            if not isinstance(v, dict):
                raise InputError(f"{where}: [{k}] must be a table")
            for kk, vv in v.items():
                _set(getattr(plan, k), kk, vv, f"{where}: [{k}]")
        else:
            _set(plan, k, v, where)
    return plan


def read_plan(path: Path) -> Plan:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML: {e}") from None
    plan = apply(Plan(), data, str(path))
    if plan.input and not Path(plan.input).is_absolute() and not Path(plan.input).exists():
        rel = Path(path).parent / plan.input  # relative to the plan file
        if rel.exists():
            plan.input = str(rel)
    return plan


def set_option(plan: Plan, text: str) -> None:
    """``--set SECTION.KEY=VALUE`` (or ``KEY=VALUE`` for a top-level key)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise InputError(f"--set {text}: expected SECTION.KEY=VALUE")
    section, dot, name = key.strip().partition(".")
    if dot:
        if section not in SECTIONS:
            raise InputError(f"--set {text}: unknown stage {section!r}", f"stages: {', '.join(SECTIONS)}")
        _set(getattr(plan, section), name, value.strip(), "--set")
    else:
        _set(plan, section, value.strip(), "--set")


def check(plan: Plan) -> None:
    """Every bad setting named before anything runs."""
    if not plan.input:
        raise InputError("no input", "give INPUT (a JSONL of problems) or `input = ...` in the plan file")
    for name, n in (("solve.samples", plan.solve.samples), ("formalize.candidates", plan.formalize.candidates),
                    ("prove.samples", plan.prove.samples), ("formalize.votes", plan.formalize.votes),
                    ("iterate.rounds", plan.iterate.rounds), ("iterate.samples", plan.iterate.samples)):
        if n < 1:
            raise InputError(f"{name} must be at least 1")
    if plan.limit is not None and plan.limit < 1:
        raise InputError("limit must be at least 1")


def dumps(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=1)
