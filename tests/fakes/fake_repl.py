#!/usr/bin/env python3
"""A stand-in for leanprover-community/repl that speaks its protocol with the real answer shapes.

Requests are read as the REPL reads them (JSON objects separated by blank lines); answers are written
pretty-printed and blank-line separated, like the real one (see ../shared/lean-repl-transcripts/core).

What a command "proves" is decided by markers in its text, so tests can drive every verdict:

  sorry (as a word, outside comments and strings), FAKE_SORRY
                        -> a `sorries` entry and the "declaration uses `sorry`" warning
  FAKE_ERROR            -> an error message (unknown identifier)
  FAKE_UNSOLVED         -> an "unsolved goals" error
  FAKE_HEARTBEAT        -> Lean's heartbeat-limit error
  FAKE_HIDDEN_SORRY     -> no sorries field, no warning, but `#print axioms` names sorryAx
  FAKE_AXIOM            -> `#print axioms` names a custom axiom
  FAKE_NATIVE           -> `#print axioms` names Lean.ofReduceBool
  FAKE_TYPE_DIFF        -> `#check` prints a type different from the reference
  FAKE_TRY_THIS         -> an info "Try this:" message (apply?/exact? left behind)
  FAKE_HANG             -> never answers          FAKE_CRASH     -> exits at once
  FAKE_GARBAGE          -> prints a non-JSON answer   FAKE_HALF  -> half an answer, then exits
  FAKE_NONUTF8          -> prints bytes that are not UTF-8
  FAKE_STDERR_FLOOD     -> writes 8 MB to stderr, then answers normally
  FAKE_FORGE            -> prints a second answer ({"env": 0}) after the real one
  FAKE_BURN=<seconds>   -> burns CPU that long before answering
Headers: an import of `Nonexistent` fails like a missing module; FAKE_HEADER_CRASH crashes.

Environment: FAKE_REPL_EXIT_AFTER=k (exit after k requests), FAKE_REPL_HEADER_DELAY=s (seconds per
header), FAKE_REPL_BURN=s (CPU seconds per command), FAKE_REPL_LEAN=4.9 (Lean 4.9 wording:
``declaration uses 'sorry'``), FAKE_REPL_LOG=path (append one line per request: pid and kind),
FAKE_REPL_REPLAY=file.expected.out (answer with that transcript's answers, in order).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

OUT = sys.stdout.buffer


def write(obj: dict) -> None:
    # the real REPL pretty-prints with line breaks; any layout without blank lines is equivalent
    OUT.write(json.dumps(obj, ensure_ascii=False, indent=1).encode() + b"\n\n")
    OUT.flush()


def read_requests():
    buf: list[str] = []
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8")
        if line.strip() == "":
            if buf:
                yield json.loads("".join(buf), strict=False)
                buf = []
        else:
            buf.append(line)
    if buf:
        yield json.loads("".join(buf), strict=False)


def pos(line: int, col: int) -> dict:
    return {"line": line, "column": col}


def msg(severity: str, data: str, line: int = 1, col: int = 0, end: int = 5) -> dict:
    return {"severity": severity, "pos": pos(line, col), "endPos": pos(line, end), "data": data}


DECL = re.compile(r"(theorem|lemma|def)\s+([^\s(:{\[]+)")


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def main() -> None:
    lean49 = os.environ.get("FAKE_REPL_LEAN") == "4.9"
    exit_after = int(os.environ.get("FAKE_REPL_EXIT_AFTER", "0") or 0)
    header_delay = float(os.environ.get("FAKE_REPL_HEADER_DELAY", "0") or 0)
    burn_s = float(os.environ.get("FAKE_REPL_BURN", "0") or 0)
    log = os.environ.get("FAKE_REPL_LOG")
    replay = os.environ.get("FAKE_REPL_REPLAY")
    answers: list[str] = []
    if replay:
        text = open(replay, encoding="utf-8").read()
        answers = [c for c in re.split(r"\n\s*\n", text) if c.strip()]
    envs: list[str] = []  # text of each env's command, by env id
    parents: list[int | None] = []
    sorry_word = "declaration uses 'sorry'" if lean49 else "declaration uses `sorry`"
    n = 0
    for req in read_requests():
        n += 1
        if log:
            with open(log, "a") as f:
                kind = "header" if "cmd" in req and "env" not in req else "cmd" if "cmd" in req else "other"
                f.write(f"{os.getpid()} {kind}\n")
        if exit_after and n > exit_after:
            sys.exit(17)
        if replay:
            OUT.write(answers[n - 1].strip().encode() + b"\n\n")
            OUT.flush()
            continue
        if "cmd" not in req:
            write({"message": "the fake REPL only answers commands"})
            continue
        cmd: str = req["cmd"]
        env = req.get("env")
        if env is not None and not (0 <= env < len(envs)):
            write({"message": "Unknown environment."})
            continue
        if env is None and "import" in cmd:  # a header
            if "FAKE_HEADER_CRASH" in cmd:
                sys.exit(3)
            time.sleep(header_delay)
            if "Nonexistent" in cmd:
                envs.append(cmd)
                parents.append(None)
                write({"messages": [msg("error", "unknown module prefix 'Nonexistent'\n\nNo directory "
                                           "'Nonexistent' or file 'Nonexistent.olean' in the search path entries")],
                       "env": len(envs) - 1})
                continue
            envs.append(cmd)
            parents.append(None)
            write({"env": len(envs) - 1})
            continue
        # follow-up commands of the soundness gate
        if cmd.startswith("#print axioms"):
            name = cmd.split()[2]
            chain = []
            e = env
            while e is not None:
                chain.append(envs[e])
                e = parents[e]
            text = "\n".join(chain)
            axioms = ["propext", "Classical.choice", "Quot.sound"]
            if "FAKE_HIDDEN_SORRY" in text:
                axioms.append("sorryAx")
            if "FAKE_AXIOM" in text:
                axioms.append("cheat_axiom")
            if "FAKE_NATIVE" in text:
                axioms.append("Lean.ofReduceBool")
            sig = ""
            for t in chain:
                m = re.search(r"(?:theorem|lemma|def)\s+" + re.escape(name) + r"\b(.*?):=", t, re.S)
                if m:
                    sig = " ".join(m.group(1).split())
                    break
            if "FAKE_TYPE_DIFF" in text:
                sig += " ∧ True"
            envs.append(cmd)
            parents.append(env)
            write({"messages": [msg("info", f"'{name}' depends on axioms: [{', '.join(axioms)}]"),
                                msg("info", f"@{name} : {sig}", line=4)], "env": len(envs) - 1})
            continue
        if "FAKE_HANG" in cmd:
            time.sleep(3600)
        if "FAKE_CRASH" in cmd:
            sys.exit(1)
        if "FAKE_GARBAGE" in cmd:
            OUT.write(b"this is not json\n\n")
            OUT.flush()
            continue
        if "FAKE_HALF" in cmd:
            OUT.write(b'{"env": 3, "messages": [{"severity": "err')
            OUT.flush()
            sys.exit(1)
        if "FAKE_NONUTF8" in cmd:
            OUT.write(b'{"env": \xff\xfe}\n\n')
            OUT.flush()
            continue
        if "FAKE_STDERR_FLOOD" in cmd:
            chunk = b"x" * 65536 + b"\n"
            for _ in range(128):
                sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        m = re.search(r"FAKE_BURN=([0-9.]+)", cmd)
        if m or burn_s:
            burn(float(m.group(1)) if m else burn_s)
        envs.append(cmd)
        parents.append(env)
        out: dict = {}
        messages = []
        sorries = []
        d = DECL.search(cmd)
        line = cmd.count("\n", 0, d.start()) + 1 if d else 1
        code = re.sub(r"/-.*?-/|--[^\n]*|\"(?:\\.|[^\"\\])*\"", " ", cmd, flags=re.S)
        if re.search(r"(?<![\w.])sorry(?![\w])", code) or "FAKE_SORRY" in cmd:
            i = cmd.find("sorry") if "sorry" in cmd else 0
            sl = cmd.count("\n", 0, i) + 1
            sorries.append({"proofState": len(envs), "pos": pos(sl, 2), "goal": "⊢ True", "endPos": pos(sl, 7)})
            messages.append(msg("warning", sorry_word, line, 8, 12))
        if "FAKE_ERROR" in cmd:
            messages.append(msg("error", "Unknown identifier `FAKE_ERROR`", line + 1, 2, 12))
        if "FAKE_UNSOLVED" in cmd:
            messages.append(msg("error", "unsolved goals\nx : Nat\n⊢ x = x", line, 20, 30))
        if "FAKE_HEARTBEAT" in cmd:
            messages.append(msg("error", "(deterministic) timeout at `whnf`, maximum number of heartbeats "
                                         "(200000) has been reached\n\nNote: Use `set_option maxHeartbeats <num>` "
                                         "to set the limit.", line, 0, 7))
        if "FAKE_TRY_THIS" in cmd:
            messages.append(msg("info", "Try this:\n  [apply] exact Nat.zero_eq_one_mod_iff.mp rfl", line + 1, 2, 8))
        if sorries:
            out["sorries"] = sorries
        if messages:
            out["messages"] = messages
        out["env"] = len(envs) - 1
        write(out)
        if "FAKE_FORGE" in cmd:
            write({"env": 0})


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
