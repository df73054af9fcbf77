"""A scripted stand-in prover for ``bridge demo``: not a model. Each bundled problem has fixed answers,
one per sample index, chosen to show every kind of verdict: right proofs, wrong ones (marked for the
stand-in REPL, which is not Lean, with its ``FAKE_ERROR`` / ``FAKE_UNSOLVED`` markers), a ``sorry`` and a
cheat (an axiom) that bridge's gate refuses before anything runs."""

from __future__ import annotations

import re

from provers.backends.base import Prompt, SamplingParams

WRONG = "  rfl  -- FAKE_ERROR (the stand-in REPL's mark for a proof Lean would reject)"
UNSOLVED = "  simp  -- FAKE_UNSOLVED (the stand-in REPL's mark for goals left open)"

# problem name -> answers by sample index (cycled); the deepseek-v1.5 template: the proof after `:= by`
SCRIPT: dict[str, list[str]] = {
    "demo_add_zero": ["  simp"],                                         # right every time
    "demo_two_add_two": ["  decide", WRONG],                             # right half the time
    "demo_succ_le": [UNSOLVED, UNSOLVED, UNSOLVED, "  omega"],           # right once in four
    "demo_mul_comm": [WRONG, UNSOLVED],                                  # never right
    "demo_linear": ["  sorry"],                                          # incomplete: the gate's `sorry` rule
    "demo_not_dvd": ["  exact cheat\n\naxiom cheat : ¬ (7 ∣ 50)"],      # a cheat: the gate's `axiom` rule
}

_THEOREM = re.compile(r"theorem\s+(\S+)")


class ScriptedProver:
    """The ``Backend`` interface (``generate``) answered from ``SCRIPT``; an unknown problem gets a wrong
    answer."""

    name = "bridge-demo-scripted-prover"

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        names = _THEOREM.findall(text)
        answers = SCRIPT.get(names[-1] if names else "", [WRONG])
        # which samples are asked is not passed; a resumed run asks only for the missing ones, which is
        # fine here: the answers depend on the problem only through the cycle below
        return [answers[i % len(answers)] for i in range(n)]
