"""The try-it tab's work: an informal statement is formalized by the configured formalizer (one Lean
statement), a formal one is taken as written; then ``bridge prove``'s pipeline samples proofs from the
configured model or endpoint and the verifier checks each, and every verdict is handed on as it comes.
Each try is a small run directory of its own under the lab's work directory (``bridge report`` and the
run tab read it like any other)."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.config import BridgeConfig
from bridge.data.problem import Problem
from bridge.errors import BridgeError, InputError

_THEOREM = re.compile(r"(?m)^\s*(?:@\[[^\]]*\]\s*)?(?:private\s+)?(theorem|lemma)\s+([^\s:({\[]+)")


@dataclass(frozen=True)
class TrySettings:
    model: str
    config: BridgeConfig
    work_dir: Path
    endpoint: str | None = None
    template: str | None = None
    formalizer: str | None = None  # default: the prover model
    formalizer_endpoint: str | None = None  # default: the prover's endpoint
    samples: int = 4
    max_tokens: int = 1024
    temperature: float = 1.0
    top_p: float = 0.95


@dataclass
class TryEvent:
    kind: str  # "statement" | "verdict" | "done" | "error"
    text: str
    verdict: dict[str, Any] | None = None


@dataclass
class TryState:
    """What the tab shows so far; ``table`` has one row per sample."""

    statement: str = ""
    status: str = ""
    table: list[list[Any]] = field(default_factory=list)


def is_formal(text: str) -> bool:
    """A Lean statement (``theorem NAME ... :=``) rather than prose."""
    return bool(_THEOREM.search(text)) and ":=" in text


def formal_problem(text: str, pid: str) -> Problem:
    """The statement as written: its own header (imports, opens) if it has one, else Mathlib's; the
    proof after ``:=`` (if any) is dropped so that the model writes it."""
    from bridge.verify.candidate import split_header
    from provers.formalize.prompts import DEFAULT_HEADER, statement_from_code

    header, rest = split_header(text.strip() + "\n")
    got = statement_from_code(rest, header or DEFAULT_HEADER)
    if got.statement is None:
        raise InputError(f"the statement: {got.reason}", "write one `theorem name ... := by`")
    return Problem(pid, "lab", header or DEFAULT_HEADER, got.statement + "\n", source="bridge lab")


def formalize(text: str, pid: str, s: TrySettings, make_backend: Callable[..., Any]) -> Problem:
    """One formalization of an informal statement by the configured formalizer."""
    import dataclasses

    from provers.formalize.prompts import (
        DEFAULT_HEADER,
        extract_statement,
        formalization_prompt,
        formalizer_for,
        informal_text,
    )

    model = s.formalizer or s.model
    f = formalizer_for(model)
    prompt = formalization_prompt(f, informal_text(text.strip()), pid, DEFAULT_HEADER)
    backend = make_backend(model, endpoint=s.formalizer_endpoint or s.endpoint)
    params = dataclasses.replace(f.sampling, max_tokens=min(f.sampling.max_tokens, max(s.max_tokens, 2048)))
    answer = backend.generate(prompt, 1, params)[0]
    got = extract_statement(f, answer, pid, DEFAULT_HEADER)
    if got.statement is None:
        raise InputError(f"the formalizer's answer gave no statement: {got.reason}",
                         "try again, or write the Lean statement yourself")
    return Problem(pid, "lab", DEFAULT_HEADER, got.statement + "\n", informal_statement=text.strip(),
                   source=f"bridge lab (formalized by {model})")


def try_statement(text: str, s: TrySettings, make_backend: Callable[..., Any] | None = None) -> Iterator[TryEvent]:
    """Formalize (when informal), then prove; one event per step, each verdict as soon as it is decided."""
    from bridge.runs.store import RunStore
    from bridge.scale import make_verifier
    from provers.backends import make_backend as default_backend
    from provers.backends.base import SamplingParams
    from provers.pipeline import Pipeline, ProveSettings
    from provers.templates import family_for

    make = make_backend or default_backend
    if not text or not text.strip():
        yield TryEvent("error", "write a statement first (informal prose, or a Lean `theorem ... := by`)")
        return
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
    pid = f"lab_try_{stamp.replace('-', '_')}"
    try:
        if is_formal(text):
            problem = formal_problem(text, pid)
        else:
            yield TryEvent("status", f"formalizing with {s.formalizer or s.model} ...")
            problem = formalize(text, pid, s, make)
        yield TryEvent("statement", problem.header + "\n" + problem.formal_statement)
        family = family_for(s.model, s.template)
        params = SamplingParams(s.temperature, s.top_p, s.max_tokens, 0)
        run_dir = Path(s.work_dir) / f"try-{stamp}"
        verdicts: queue.Queue = queue.Queue()
        errors: list[BaseException] = []
        backend = make(s.model, endpoint=s.endpoint)
        with make_verifier(s.config) as verifier, RunStore(run_dir) as store:
            store.set_meta({"dataset": "bridge lab", "split": "lab", "model": s.model, "template": family.name,
                            "sampling": params.to_json(), "samples": s.samples, "endpoint": s.endpoint,
                            "lean_version": verifier.launch.lean_version, "count_fast_gate": s.config.count_fast_gate})
            store.add_problems([problem])
            settings = ProveSettings(samples=s.samples, params=params, chunk=s.samples,
                                     count_fast_gate=s.config.count_fast_gate)
            pipe = Pipeline(backend, family, verifier, store, settings, on_verdict=verdicts.put)

            def work() -> None:
                try:
                    pipe.run([problem])
                except BaseException as e:  # noqa: BLE001 - shown in the tab, not a traceback
                    errors.append(e)
                finally:
                    verdicts.put(None)

            yield TryEvent("status", f"proving: {s.samples} samples from {s.model}"
                           + (f" at {s.endpoint}" if s.endpoint else ""))
            t = threading.Thread(target=work, daemon=True, name="bridge-lab-try")
            t.start()
            while True:
                v = verdicts.get()
                if v is None:
                    break
                yield TryEvent("verdict", v.verdict, v.to_json())
            t.join()
        if errors:
            e = errors[0]
            yield TryEvent("error", str(e) if isinstance(e, BridgeError) else f"{type(e).__name__}: {e}")
            return
        yield TryEvent("done", f"run directory {run_dir}")
    except BridgeError as e:
        yield TryEvent("error", str(e))


def fold(state: TryState, ev: TryEvent) -> TryState:
    """The tab's state after one event (pure)."""
    if ev.kind == "statement":
        state.statement = ev.text
    elif ev.kind == "verdict" and ev.verdict is not None:
        v = ev.verdict
        first = next(iter(v.get("messages") or []), None)
        state.table.append([v["id"], v["verdict"], v.get("gate") if v["verdict"] == "proved" else (v.get("reason") or ""),
                            (str(first.get("data", "")).splitlines() or [""])[0][:160] if first else ""])
        proved = sum(1 for r in state.table if r[1] == "proved")
        state.status = f"{len(state.table)} verdict(s), {proved} proved"
    elif ev.kind == "done":
        state.status = (state.status or "no samples") + f"; done ({ev.text})"
    elif ev.kind in ("error", "status"):
        state.status = ev.text if ev.kind == "status" else f"error: {ev.text}"
    return state
