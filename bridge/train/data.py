"""Training data: verified proofs -> prompt/completion rows, prompted exactly as ``bridge prove`` prompts.

Pure decisions in the middle (normalising and selecting proofs, the band mix, rows from samples); I/O at
the edges (proofs read from run stores, informal rows, evaluation sets, the ``datasets`` snapshot).
"""

from __future__ import annotations

import functools
import random
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge import jsonl
from bridge.data import decontam
from bridge.data.decontam import NEAR_THRESHOLD, NGRAM, EvalIndex, find_text_contamination
from bridge.data.problem import Problem
from bridge.errors import InputError
from bridge.jsonl import write_json  # noqa: F401 - kept importable from here (rounds, merge, sft, iterate)
from bridge.verify.lean_text import mask
from bridge.verify.lexer import LexError, tokenize
from provers.templates import Family, Prompt, render

if TYPE_CHECKING:
    from bridge.config import BridgeConfig
    from bridge.runs.store import RunStore

LEAN_BAND = "lean-formalized"
INFORMAL_BANDS = ("simple", "intermediate", "advanced")
DEFAULT_MIX = "lean-formalized=2,simple=1,intermediate=1,advanced=1"
DEFAULT_DECONTAM = ("minif2f", "proofnet")
COLUMNS = ("prompt", "completion", "problem_id", "band", "source", "sample_id", "round")


def parse_mix(text: str) -> dict[str, float]:
    """``lean-formalized=2,simple=1,...`` -> band weights (a band left out gets none)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        band, sep, value = part.partition("=")
        band = band.strip()
        if not sep or band not in (LEAN_BAND, *INFORMAL_BANDS):
            raise InputError(f"--mix: {part!r} is not BAND=WEIGHT with BAND one of {LEAN_BAND}, "
                             + ", ".join(INFORMAL_BANDS), f"e.g. --mix {DEFAULT_MIX}")
        try:
            w = float(value)
        except ValueError:
            raise InputError(f"--mix: the weight of {band} is not a number: {value!r}") from None
        if w < 0:
            raise InputError(f"--mix: the weight of {band} is negative")
        out[band] = w
    if out.get(LEAN_BAND, 0) <= 0:
        raise InputError("--mix: the lean-formalized band needs a positive weight (its rows set the scale)",
                         f"e.g. --mix {DEFAULT_MIX}")
    return out


@dataclass
class DataConfig:
    """How a round's training set is built from its verified proofs."""

    max_per_statement: int = 4  # m: proofs kept per statement
    near_duplicate: float = 0.8  # token-bigram Jaccard from which two proofs count as the same idea
    mix: dict[str, float] = field(default_factory=lambda: parse_mix(DEFAULT_MIX))
    decontam: tuple[str, ...] = DEFAULT_DECONTAM  # evaluation sets, NAME or NAME:SPLIT
    train_on: str = "all"  # "all": every round's proofs so far; "new": this round's only
    seed: int = 0


@dataclass(frozen=True)
class Proof:
    """One verified sample: what the model wrote and what Lean checked."""

    problem_id: str
    sample_id: str
    round: int  # the expert-iteration round (1-based) whose samples it came from
    completion: str  # the model's answer as stored
    body: str  # the checked text after the header: helpers + statement + proof
    statement: str = ""  # the reference statement (left out when proofs are compared)


@dataclass
class TrainRow:
    prompt: Prompt
    completion: str | list[dict[str, str]]
    problem_id: str
    band: str
    source: str
    sample_id: str = ""
    round: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InformalRow:
    prompt: Prompt
    completion: str | list[dict[str, str]]
    band: str
    id: str


# -- normalising and selecting (pure) ------------------------------------------------------------------


def normalise_proof(text: str) -> str:
    """Comments dropped and whitespace folded (tokens joined by one space): two proofs that differ only
    there are one proof."""
    try:
        return " ".join(t.text for t in tokenize(text))
    except LexError:  # text Lean's lexer refuses: comments and strings masked, which is coarser but safe
        return " ".join(mask(text).split())


@functools.lru_cache(maxsize=4096)
def _statement_tokens(statement: str) -> tuple[str, ...]:
    st = normalise_proof(statement).split()
    return tuple(st[: len(st) - st[::-1].index(":=")] if ":=" in st else st)


def proof_part(key: str, statement: str) -> str:
    """A normalised body without its statement (up to its `:=`): what two proofs of one statement differ in."""
    toks, st = key.split(), list(_statement_tokens(statement))
    for i in range(len(toks) - len(st) + 1):
        if st and toks[i:i + len(st)] == st:
            return " ".join(toks[:i] + toks[i + len(st):])
    return key


def _grams(key: str) -> set[tuple[str, ...]]:
    toks = key.split()
    return {tuple(toks[i:i + 2]) for i in range(len(toks) - 1)} or {tuple(toks)}


def _jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _idx(p: Proof) -> int:
    tail = p.sample_id.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def select_proofs(proofs: Iterable[Proof], m: int, near: float = 0.8) -> list[Proof]:
    """At most ``m`` proofs per statement, in order of first appearance of the statement.

    Exact duplicates after :func:`normalise_proof` count once (the shortest answer stands for them);
    shorter proofs come first; a proof whose token bigrams overlap one already kept by ``near`` or more
    (Jaccard, the statement left out) is taken only when no more distinct one is left.
    """
    groups: dict[str, dict[str, Proof]] = {}
    for p in proofs:
        key = proof_part(normalise_proof(p.body), p.statement)
        g = groups.setdefault(p.problem_id, {})
        old = g.get(key)
        if old is None or (len(p.completion), p.round, _idx(p)) < (len(old.completion), old.round, _idx(old)):
            g[key] = p
    out: list[Proof] = []
    for g in groups.values():
        ranked = sorted(g.items(), key=lambda kv: (len(kv[0]), kv[0]))
        chosen: list[tuple[str, Proof]] = []
        close: list[tuple[str, Proof]] = []
        for key, p in ranked:
            if len(chosen) >= m:
                break
            if all(_jaccard(_grams(key), _grams(k)) < near for k, _ in chosen):
                chosen.append((key, p))
            else:
                close.append((key, p))
        chosen += close[: max(0, m - len(chosen))]
        out += [p for _, p in sorted(chosen, key=lambda kv: (len(kv[0]), kv[0]))]
    return out


def training_completion(fam: Family, answer: str) -> str | list[dict[str, str]]:
    """What the model is trained to write: for a completion-mode family the proof up to and including
    the closing fence that ``extract`` cuts at (so the model learns to stop there); for a chat family the
    whole answer as one assistant message (its plan or thinking included)."""
    if fam.mode == "completion":
        cut = answer.find("```")
        return answer[: cut + 3] if cut >= 0 else answer.rstrip("\n") + "\n```"
    return [{"role": "assistant", "content": answer}]


def proof_completion(fam: Family, problem: Problem, proof: str) -> str:
    """A known proof as the model's answer would hold it: the proof text for a completion-mode family
    (it continues the statement), the whole theorem in a fenced block for a chat family."""
    if fam.mode == "completion":
        return proof
    return "```lean4\n" + problem.header + problem.formal_statement + proof.rstrip("\n") + "\n```"


def lean_rows(proofs: Iterable[Proof], problems: dict[str, Problem], fam: Family, source: str) -> list[TrainRow]:
    """Verified proofs -> rows of the lean-formalized band, prompted as ``bridge prove`` prompts."""
    return [TrainRow(render(fam, problems[p.problem_id]), training_completion(fam, p.completion), p.problem_id,
                     LEAN_BAND, f"{source}:round-{p.round}", p.sample_id, p.round) for p in proofs]


def mix_quota(n_lean: int, available: dict[str, int], weights: dict[str, float]) -> dict[str, int]:
    """Informal rows per band so that each band makes its weight's share of the set: every verified Lean
    row is kept and sets the scale; a band with fewer rows than its share gives all it has."""
    w_lean = weights.get(LEAN_BAND, 0.0)
    out = {}
    for band in INFORMAL_BANDS:
        want = round(n_lean * weights.get(band, 0.0) / w_lean) if w_lean > 0 else 0
        out[band] = min(available.get(band, 0), want)
    return out


def pick_informal(rows: list[InformalRow], quota: dict[str, int], seed: str) -> list[InformalRow]:
    """``quota[band]`` rows of each band, drawn without replacement (the same draw for the same seed),
    kept in file order."""
    picked: set[int] = set()
    for band, k in quota.items():
        idxs = [i for i, r in enumerate(rows) if r.band == band]
        picked |= set(random.Random(f"{seed}/{band}").sample(idxs, min(k, len(idxs))))
    return [rows[i] for i in sorted(picked)]


def informal_train_rows(rows: Iterable[InformalRow], fam: Family, source: str) -> list[TrainRow]:
    """Informal rows in the family's format: plain text for completion mode, chat turns for chat mode."""
    out = []
    for r in rows:
        prompt, completion = r.prompt, r.completion
        if fam.mode == "chat":
            if isinstance(prompt, str):
                prompt = [{"role": "user", "content": prompt}]
            if isinstance(completion, str):
                completion = [{"role": "assistant", "content": completion}]
        elif not isinstance(prompt, str) or not isinstance(completion, str):
            raise InputError(f"informal row {r.id}: chat messages, but the template {fam.name} is completion mode",
                             "give plain prompt/completion strings, or a chat template (--template)")
        out.append(TrainRow(prompt, completion, r.id, r.band, source))
    return out


def contaminated(problems: Iterable[Problem], against: dict[str, list[Problem]], n: int = NGRAM,
                 threshold: float = NEAR_THRESHOLD) -> list[dict[str, Any]]:
    """Every problem whose statement matches one of an evaluation set (``bridge.data.decontam``: the same
    canonical statement, or a near-duplicate with the same conclusion), once per evaluation set, with the
    evaluation problem it matched, why, and the score."""
    ps = list(problems)
    out = []
    for name, ev in against.items():
        index = EvalIndex(ev, n)
        for p in ps:
            c = index.match(p.id, p.formal_statement, threshold) if p.formal_statement else None
            if c is not None:
                out.append({"problem_id": c.train_id, "against": name, "against_id": c.eval_id, "reason": c.reason,
                            "score": round(c.score, 4), **({"also": list(c.also)} if c.also else {})})
    return out


def _prompt_text(prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(str(m.get("content", "")) for m in prompt)


def informal_contaminated(rows: Iterable[InformalRow], against: dict[str, list[Problem]]) -> list[dict[str, str]]:
    """Every informal row whose problem text shares a long word run with an evaluation problem's informal
    statement (``bridge.data.decontam.find_text_contamination``), once per evaluation set."""
    texts = [(r.id, _prompt_text(r.prompt)) for r in rows]
    out = []
    for name, ev in against.items():
        for c in find_text_contamination(texts, ev):
            out.append({"id": c.train_id, "against": name, "against_id": c.eval_id, "reason": c.reason})
    return out


# -- I/O at the edges -----------------------------------------------------------------------------------


def verified_proofs(store: RunStore, round_: int, count_fast_gate: bool,
                    skip: Callable[[str], bool] = lambda pid: False, count_stand_in: bool = False) -> list[Proof]:
    """The proofs a round's sample store holds (a fast-gate `proved` only with ``count_fast_gate``; the
    stand-in REPL's, not Lean's, only with ``count_stand_in``: in a `bridge demo` run, never elsewhere)."""
    statements = {p.id: p.formal_statement for p in store.problems()}
    out = []
    for s, v in store.samples(round_=0):
        if v is None or v.verdict != "proved" or skip(s.problem_id):
            continue
        if v.counted(count_fast_gate, count_stand_in):
            out.append(Proof(s.problem_id, s.id, round_, s.completion, s.body, statements.get(s.problem_id, "")))
    return out


def load_against(names: Iterable[str], cfg: BridgeConfig) -> dict[str, list[Problem]]:
    """Evaluation sets by ``NAME`` (every split) or ``NAME:SPLIT``; one that cannot be had is an error
    (decontamination fails closed)."""
    return decontam.load_against(names, cfg, flag="--decontam")


def read_informal(path: Path) -> list[InformalRow]:
    """Informal rows: JSONL (or a ``datasets`` snapshot) of ``{"prompt", "completion", "band"}`` or
    ``{"informal_statement", "informal_solution", "band"}``, band one of simple/intermediate/advanced."""
    path = Path(path)
    if path.is_dir():
        import datasets

        raw: list[tuple[int, Any]] = list(enumerate(datasets.load_from_disk(str(path)), 1))
    else:
        raw, errors = [], []
        for i, row, bad in jsonl.rows(jsonl.read_lines(path)):
            if bad:
                errors.append(f"{path}:{i}: {bad}")
            else:
                raw.append((i, row))
        if errors:
            raise InputError("\n  ".join(errors[:20]), "fix the rows")
    out, errors = [], []
    for i, row in raw:
        if not isinstance(row, dict):
            errors.append(f"{path}:{i}: not a JSON object")
            continue
        band = row.get("band")
        if band not in INFORMAL_BANDS:
            errors.append(f"{path}:{i}: `band` is {band!r}, not one of {', '.join(INFORMAL_BANDS)}")
            continue
        if row.get("prompt") and row.get("completion"):
            prompt, completion = row["prompt"], row["completion"]
        elif row.get("informal_statement") and row.get("informal_solution"):
            prompt, completion = f"Problem: {row['informal_statement'].strip()}\nSolution:", \
                " " + row["informal_solution"].strip()
        else:
            errors.append(f"{path}:{i}: needs `prompt` and `completion`, or `informal_statement` and "
                          "`informal_solution`")
            continue
        out.append(InformalRow(prompt, completion, band, str(row.get("id") or row.get("name") or f"{path.name}:{i}")))
    if errors:
        raise InputError(f"{path}: {len(errors)} malformed informal row(s):\n  " + "\n  ".join(errors[:20]),
                         "fix the rows")
    return out


def read_synthetic(path: Path) -> list[tuple[Problem, str]]:
    """``bridge synth``'s ``synthetic.jsonl`` (or any JSONL of problem rows with a known ``proof``):
    (problem, proof) pairs. Every malformed row is reported as ``FILE:LINE`` and nothing is loaded."""
    path = Path(path)
    out: list[tuple[Problem, str]] = []
    errors: list[str] = []
    first: dict[str, int] = {}
    for i, row, bad in jsonl.rows(jsonl.read_lines(path)):
        if bad:
            errors.append(f"{path}:{i}: {bad}")
            continue
        if not (isinstance(row, dict) and isinstance(row.get("formal_statement"), str) and row["formal_statement"].strip()
                and isinstance(row.get("proof"), str) and row["proof"].strip()
                and (row.get("id") or row.get("name"))):
            errors.append(f"{path}:{i}: needs `name` (or `id`), `formal_statement` and `proof`")
            continue
        problem, proof = problem_with_proof(row)
        if problem.id in first:
            errors.append(f"{path}:{i}: id {problem.id!r} repeats line {first[problem.id]}")
            continue
        first[problem.id] = i
        out.append((problem, proof))
    if errors:
        raise InputError(f"{path}: {len(errors)} malformed synthetic row(s):\n  " + "\n  ".join(errors[:20]),
                         "fix the rows (or write them again with `bridge synth`)")
    return out


def save_snapshot(rows: list[TrainRow], path: Path) -> None:
    """``datasets.Dataset.save_to_disk`` into ``path``, atomically: a killed run leaves no half snapshot."""
    import datasets

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    # by columns: much faster than from_list on large sets
    ds = datasets.Dataset.from_dict({c: [getattr(r, c) for r in rows] for c in COLUMNS})
    ds.save_to_disk(str(tmp))
    tmp.replace(path)


def problem_with_proof(row: dict[str, Any]) -> tuple[Problem, str]:
    """A ``{"name"|"id", "header", "formal_statement", "proof", "informal_prefix"?}`` row (a dataset row
    with its known proof)."""
    pid = str(row.get("id") or row.get("name") or "")
    informal = row.get("informal_statement") or row.get("informal_prefix") or ""
    return (Problem(id=pid, split=str(row.get("split") or "train"), header=row.get("header") or "import Mathlib\n",
                    formal_statement=row["formal_statement"], informal_statement=informal, name=pid), row["proof"])


def rows_for_training(data: Path, fam: Family) -> Any:
    """``bridge train sft DATA``: a ``datasets`` snapshot, or JSONL rows of ``prompt``/``completion`` (used
    as they are) or of problems with a known ``proof`` (prompted with the family's template, the same
    text ``bridge prove`` sends). Returns a ``datasets.Dataset``."""
    import datasets

    data = Path(data)
    if data.is_dir():
        try:
            return datasets.load_from_disk(str(data), keep_in_memory=True)  # no cache files written there
        except (FileNotFoundError, ValueError) as e:
            raise InputError(f"{data}: not a `datasets` snapshot ({e})", "give a JSONL file or a save_to_disk "
                             "directory") from None
    if not data.is_file():
        raise InputError(f"{data}: no such file or directory")
    rows, errors = [], []
    for i, row, bad in jsonl.rows(jsonl.read_lines(data)):
        if bad:
            errors.append(f"{data}:{i}: {bad}")
            continue
        if isinstance(row, dict) and row.get("checker") not in (None, "lean"):
            # `bridge demo`'s export: the stand-in REPL's verdict, not Lean's, is never training data
            errors.append(f"{data}:{i}: verified by {row['checker']!r}, not Lean (a `bridge demo` export)")
            continue
        if isinstance(row, dict) and "prompt" in row and "completion" in row:
            rows.append({"prompt": row["prompt"], "completion": row["completion"],
                         "problem_id": str(row.get("problem_id", row.get("id", ""))),
                         "band": str(row.get("band") or LEAN_BAND), "source": str(row.get("source") or data.name)})
        elif isinstance(row, dict) and row.get("formal_statement") and isinstance(row.get("proof"), str):
            problem, proof = problem_with_proof(row)
            completion = proof_completion(fam, problem, proof)
            r = lean_rows([Proof(problem.id, problem.id, 0, completion, "")], {problem.id: problem}, fam, data.name)[0]
            rows.append({"prompt": r.prompt, "completion": r.completion, "problem_id": r.problem_id,
                         "band": r.band, "source": data.name})
        else:
            errors.append(f"{data}:{i}: needs `prompt` and `completion`, or `formal_statement` and `proof`")
    if errors:
        raise InputError(f"{data}: {len(errors)} malformed row(s):\n  " + "\n  ".join(errors[:20]), "fix the rows")
    if not rows:
        raise InputError(f"{data}: no rows")
    kinds = {isinstance(r["prompt"], str) for r in rows}
    if len(kinds) > 1:
        raise InputError(f"{data}: some prompts are text and some are chat messages", "use one kind per file")
    return datasets.Dataset.from_list(rows)


