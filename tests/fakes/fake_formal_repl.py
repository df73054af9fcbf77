#!/usr/bin/env python3
"""A REPL stand-in for the autoformalization funnel and synthesis tests. It speaks the protocol with the
real answer shapes (the helpers of ``fake_repl.py``) and answers the soundness follow-up as that fake
does (``#print axioms`` with the standard axioms, ``#check @NAME`` with the signature found in the
environment's text), so the fail-closed gate runs in full. What it "proves" is decided from the text:

* brackets that do not pair, or an identifier listed in ``FORMAL_FAKE_UNKNOWN`` (comma-separated;
  default ``Nat.IsSuperPrime,Real.frobnicate``) -> an error, as Lean's parser or elaborator gives;
* ``sorry`` in the code -> a ``sorries`` entry and the sorry warning (``incomplete``);
* the funnel's tactic-budget theorems (``bridge_consistency``, ``bridge_trivial``, ``bridge_negation``)
  are proved only when a tiny oracle says the budget would: its goal is ``False`` and a hypothesis is a closed false arithmetic
  fact (``2 + 2 = 5``), ``False``, or the negation of another hypothesis; its goal is ``¬ (...)`` of
  a closed false fact (after any ``∀ ...,``); or its goal is a closed true fact, ``True``, or one of
  its hypotheses. Otherwise the budget fails with linarith's error;
* a declaration whose text matches the regular expression ``FORMAL_FAKE_REJECT`` -> a type mismatch
  error (a proof the real Lean would refuse: how the tests show a synthetic item dropped);
* anything else elaborates cleanly.

Environment: FORMAL_FAKE_UNKNOWN, FORMAL_FAKE_REJECT, FORMAL_FAKE_BURN=seconds (CPU per body command,
so a test can kill a run mid-way), FORMAL_FAKE_LOG=path (one line per body command: its first line).
"""

from __future__ import annotations

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_repl  # noqa: E402 - the stand-in next to this file

answer, msg, pos, read_requests, OUT, burn = (fake_repl.answer, fake_repl.msg, fake_repl.pos, fake_repl.read_requests,
                                             fake_repl.OUT, fake_repl.burn)

BUDGET_THEOREMS = ("bridge_consistency", "bridge_trivial", "bridge_negation")  # the funnel's budget candidates
DECL = re.compile(r"(?m)^\s*(?:open [^\n]* in\s*\n\s*)?(theorem|lemma|def)\s+(\S+)")
OPEN, CLOSE = "([{⦃⟨", ")]}⦄⟩"
_CLOSED = re.compile(r"^[\d\s+\-*/%^()=<>≤≥≠∧∨¬.]*$|^(True|False)$")


def strip_comments(text: str) -> str:
    return re.sub(r"/-.*?-/|--[^\n]*|\"(?:\\.|[^\"\\])*\"", " ", text, flags=re.S)


def balanced(text: str) -> bool:
    stack: list[str] = []
    for c in strip_comments(text):
        if c in OPEN:
            stack.append(CLOSE[OPEN.index(c)])
        elif c in CLOSE and (not stack or stack.pop() != c):
            return False
    return not stack


def depth0_split(text: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for c in text:
        depth += c in OPEN
        depth -= c in CLOSE
        if c == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
    return [*out, cur]


def evaluate(prop: str) -> bool | None:
    """A closed arithmetic fact's truth, or None when it is not one."""
    p = re.sub(r"\(\s*(\d+)\s*:\s*[ℕℤℝℚ]\s*\)", r"\1", " ".join(prop.split()))
    if p in ("True", "False"):
        return p == "True"
    if not _CLOSED.match(p) or not re.search(r"[=<>≤≥≠]", p):
        return None
    py = (p.replace("≠", "!=").replace("≤", "<=").replace("≥", ">=").replace("∧", " and ").replace("∨", " or ")
          .replace("¬", " not ").replace("^", "**").replace("/", "//"))
    py = re.sub(r"(?<![<>!=])=(?!=)", "==", py)
    try:
        return bool(eval(py, {"__builtins__": {}}, {}))  # noqa: S307 - digits and operators only
    except Exception:  # noqa: BLE001
        return None


def signature(decl_text: str) -> tuple[list[str], str] | None:
    """(hypothesis types, goal) of ``theorem NAME BINDERS : GOAL := ...``."""
    m = re.search(r"(?:theorem|lemma)\s+\S+(.*?):=", decl_text, re.S)
    if not m:
        return None
    sig = m.group(1)
    hyps, i, depth, start = [], 0, 0, None
    while i < len(sig):
        c = sig[i]
        if c in OPEN:
            if depth == 0:
                start = i
            depth += 1
        elif c in CLOSE:
            depth -= 1
            if depth == 0 and start is not None:
                inner = sig[start + 1:i]
                parts = depth0_split(inner, ":")
                if len(parts) >= 2:
                    hyps.append(":".join(parts[1:]).strip())
                start = None
        elif c == ":" and depth == 0:
            return hyps, " ".join(sig[i + 1:].split())
        i += 1
    return None


def budget_proves(decl_text: str) -> bool:
    sig = signature(decl_text)
    if sig is None:
        return False
    hyps, goal = sig
    norm = [" ".join(h.split()) for h in hyps]
    if goal == "False":
        if any(evaluate(h) is False for h in norm):
            return True
        return any(f"¬{h}" in norm or f"¬ {h}" in norm or f"¬({h})" in norm or f"¬ ({h})" in norm for h in norm)
    if goal.startswith("¬"):
        inner = goal[1:].strip()
        if inner.startswith("(") and inner.endswith(")"):
            inner = inner[1:-1].strip()
        if inner.startswith("∀"):
            inner = depth0_split(inner, ",")[-1].strip()
        return evaluate(inner) is False
    return evaluate(goal) is True or goal in norm or any(evaluate(h) is False for h in norm)


def decls(cmd: str) -> list[tuple[str, str]]:
    """(name, text) of each declaration in a command."""
    ms = list(DECL.finditer(cmd))
    return [(m.group(2), cmd[m.start():ms[k + 1].start() if k + 1 < len(ms) else len(cmd)]) for k, m in enumerate(ms)]


def body_answer(cmd: str, env_id: int) -> dict:
    unknown = [u for u in (os.environ.get("FORMAL_FAKE_UNKNOWN") or "Nat.IsSuperPrime,Real.frobnicate").split(",") if u]
    reject = os.environ.get("FORMAL_FAKE_REJECT")
    code = strip_comments(cmd)
    messages, sorries = [], []
    line_of = lambda i: cmd.count("\n", 0, max(i, 0)) + 1  # noqa: E731
    if not balanced(cmd):
        messages.append(msg("error", "unexpected token ':'; expected ')'", 1, 0, 5))
    for u in unknown:
        i = code.find(u)
        if i >= 0:
            messages.append(msg("error", f"unknown identifier '{u}'", line_of(i), 2, 12))
    if re.search(r"(?<![\w.])sorry(?![\w])", code):
        i = cmd.find("sorry")
        sorries.append({"proofState": env_id, "pos": pos(line_of(i), 2), "goal": "⊢ True", "endPos": pos(line_of(i), 7)})
        messages.append(msg("warning", "declaration uses `sorry`", 1, 8, 12))
    if not messages or all(m["severity"] == "warning" for m in messages):
        for name, text in decls(cmd):
            at = line_of(cmd.find(text))
            if reject and re.search(reject, text):
                messages.append(msg("error", f"type mismatch in `{name}`", at, 2, 10))
            elif name in BUDGET_THEOREMS and not budget_proves(text):
                messages.append(msg("error", "linarith failed to find a contradiction", at + 2, 2, 10))
    out: dict = {}
    if sorries:
        out["sorries"] = sorries
    if messages:
        out["messages"] = messages
    out["env"] = env_id
    return out


def main() -> None:
    burn_s = float(os.environ.get("FORMAL_FAKE_BURN", "0") or 0)
    log = os.environ.get("FORMAL_FAKE_LOG")
    envs: list[str] = []
    parents: list[int | None] = []

    def new_env(cmd: str, parent: int | None) -> int:
        envs.append(cmd)
        parents.append(parent)
        return len(envs) - 1

    for text in read_requests():
        req = json.loads(text, strict=False)
        cmd: str = req.get("cmd", "")
        env = req.get("env")
        if "cmd" not in req:
            answer({"message": "the stand-in only answers commands"})
            continue
        if env is not None and not (0 <= env < len(envs)):
            answer({"message": "Unknown environment."})
            continue
        if env is None:  # a header
            answer({"env": new_env(cmd, None)})
            continue
        chain, e = [], env
        while e is not None:
            chain.append(envs[e])
            e = parents[e]
        printed = re.findall(r"#print axioms\s+(\S+)", cmd)
        checked = re.search(r"#check @(\S+)", cmd)
        if printed or checked:
            messages = [msg("info", f"'{n}' depends on axioms: [propext, Classical.choice, Quot.sound]") for n in printed]
            if checked:
                name, sig = checked.group(1), ""
                for t in chain:
                    m = re.search(r"(?:theorem|lemma|def)\s+" + re.escape(name) + r"\b(.*?):=", t, re.S)
                    if m:
                        sig = " ".join(m.group(1).split())
                        break
                messages.append(msg("info", f"@{name} : {sig}", line=4))
            answer({"messages": messages, "env": new_env(cmd, env)})
            continue
        m = re.match(r"#check\s+([\w.']+)\s*$", cmd)
        if m:
            answer({"messages": [msg("info", f"{m.group(1)} : Type")], "env": new_env(cmd, env)})
            continue
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(cmd.strip().splitlines()[0][:120] + "\n")
        if burn_s:
            burn(burn_s)
        e = new_env(cmd, env)
        answer(body_answer(cmd, e))
    OUT.exit(0, crash=False)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        os._exit(0)
