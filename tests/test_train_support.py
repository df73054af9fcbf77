"""Shared by the training and iteration tests: a tiny random Llama whose word-level tokenizer has only
pieces of indented tactic text (so random samples pass the static screen and reach the REPL), and a
stand-in REPL (the fake REPL behind a filter) that accepts a known subset of candidate texts. The tests
here check both."""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

from bridge.demo.tiny_model import CHAT, PIECES, build_word_model  # noqa: F401  (one copy, the package's)
from tests.conftest import ROOT


def accepted(cmd: str, accept_canaries: bool = False) -> bool:
    """The stand-in's known subset: never a canary (unless asked) nor `pool_hard`, always `planted_copy`,
    else a non-empty proof whose text hashes into the lower 5/8."""
    if "bridge_canary" in cmd:
        return accept_canaries
    if "pool_hard" in cmd:
        return False
    if "planted_copy" in cmd:
        return True
    proof = cmd.split(":= by", 1)[-1]
    return bool(proof.strip()) and hashlib.sha256(cmd.encode()).digest()[0] < 160


STANDIN = """import json, os, re, sys
sys.path.insert(0, {root!r})
from tests.fakes import fake_repl
from tests.test_train_support import accepted

canaries = os.environ.get("STANDIN_ACCEPT_CANARIES") == "1"
if canaries:
    os.environ["FAKE_REPL_ACCEPT_CANARIES"] = "1"  # the stand-in models Lean and refuses canaries otherwise
plain = fake_repl.read_requests


def requests():
    for text in plain():
        req = json.loads(text, strict=False)
        cmd = req.get("cmd", "")
        # a candidate's body (not a header, not the gate's follow-up): a Lean error unless accepted
        if "env" in req and not re.search(r"#print axioms|#check", cmd) and not accepted(cmd, canaries):
            req["cmd"] = cmd + "\\n  FAKE_ERROR"
            text = json.dumps(req)
        yield text


fake_repl.read_requests = requests
fake_repl.main()
"""


def standin_cmd(tmp: Path, **env: str) -> str:
    """The stand-in REPL's command line (its script written into ``tmp``)."""
    script = tmp / "iterate_repl.py"  # not `standin_repl.py`: that name is bridge demo's stand-in, never training data
    script.write_text(STANDIN.format(root=str(ROOT)))
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    return f"env {prefix} {cmd}" if prefix else cmd


def test_standin_accepts_its_subset(tmp_path: Path) -> None:
    from bridge.config import load_config
    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_parts

    cfg = load_config(overrides=dict(repl_cmd=standin_cmd(tmp_path), workers=1, timeout=10, sandbox=False,
                                     use_cache=False, cache_dir=tmp_path / "cache"))
    stmt = "theorem pool_b (a b : Nat) (h : a = b) : b = a := by\n"
    proofs = [f"  simp -- {i}" for i in range(12)]
    cands = [from_parts(f"b{i}", "import Init\n", stmt, p) for i, p in enumerate(proofs)]
    cands += [from_parts("canary", "import Init\n", "theorem bridge_canary_false : False := by\n", "  simp"),
              from_parts("planted", "import Init\n", "theorem planted_copy : 1 = 1 := by\n", "  rfl"),
              from_parts("empty", "import Init\n", stmt, "\n")]
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify(cands)}
    for i, p in enumerate(proofs):
        want = "proved" if accepted(stmt + p) else "failed"
        assert got[f"b{i}"].verdict == want and got[f"b{i}"].gate == "full"
    assert 0 < sum(got[f"b{i}"].verdict == "proved" for i in range(12)) < 12
    assert got["canary"].verdict == "failed" and got["planted"].verdict == "proved" and got["empty"].verdict == "failed"


def test_word_model_samples_reach_the_repl(tmp_path: Path) -> None:
    from bridge.data.problem import Problem
    from bridge.verify.screen import screen
    from provers.backends.base import SamplingParams
    from provers.backends.hf import TransformersBackend
    from provers.templates import FAMILIES, extract, render

    fam = FAMILIES["deepseek-v1.5"]
    p = Problem("pool_a", "train", "import Init\n", "theorem pool_a (n : Nat) : n * 1 = n := by\n")
    be = TransformersBackend(str(build_word_model(tmp_path / "m")), device="cpu")
    texts = be.generate(render(fam, p), 16, SamplingParams(max_tokens=8, seed=3))
    assert all(set(t) <= set("".join(PIECES)) for t in texts)
    passed = [t for t in texts if screen(extract(fam, p, t, "x")) is None]
    assert len(passed) >= 8  # most samples are judged by the REPL, not stopped by the screen
