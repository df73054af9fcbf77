#!/usr/bin/env python3
"""bridge's stand-in REPL: NOT Lean. It speaks leanprover-community/repl's protocol with the real answer
shapes and decides by markers in the text (below), so ``bridge demo`` and the tests can show every verdict
without a Lean toolchain. The verifier recognises it by its packaged path (``bridge.verify.api.is_stand_in``):
its verdicts say ``checker: stand-in``, are never cached and never count as solved outside a demo run.
It imports nothing of ``bridge`` (it runs as a script inside the sandbox); ``tests/fakes/fake_repl.py``
is a link to this file.

Requests are read as the REPL reads them (JSON objects separated by blank lines); answers are written
pretty-printed and blank-line separated, like the real one (see ../shared/lean-repl-transcripts).

Two behaviours:

* default: a REPL that flushes every answer (as REPL tags on the v4.10.0 toolchain and later do) and
  reports a failing header's messages (as REPLs of the v4.14 era and later do);
* ``FAKE_REPL_PINNED=1``: REPL v4.9.0 exactly as bad as it is, read from its source at that tag:
  - ``REPL/Main.lean``: each answer is ``IO.println <| toString json`` then ``IO.println ""``, never
    flushed. Lean's runtime writes through C stdio: on a terminal that flushes at each newline, on a
    pipe it holds output in blocks (4,096 bytes here) and writes the rest only at a normal exit; a
    crash loses what is held;
  - ``REPL/Frontend.lean`` ``processCommandsWithInfoTrees``: the header's messages are dropped
    (``s.messages.toList.drop commandState.messages.toList.length``), so an import that fails answers a
    bare ``{"env": N}``; the environment is then empty and every later command in it fails with
    ``unknown identifier``;
  - ``repl.loop``: an input that starts with ``#`` or ``--`` gets no answer at all;
  - Lean 4.9 wording: ``declaration uses 'sorry'``.
* ``FAKE_REPL_PINNED=backport``: the same REPL v4.9.0 after ``bridge setup`` backported upstream's flush
  (``bridge/lean/flush_backport.py``): the JSON is still held by C stdio, and the blank line is written
  with ``printFlush``, so the whole answer leaves in one write (blocks of 4,096 bytes before it, for a
  big one).

What a command "proves" is decided by markers in its text, so tests can drive every verdict:

  sorry (as a word, outside comments and strings), FAKE_SORRY
                        -> a `sorries` entry and the "declaration uses `sorry`" warning
  FAKE_ERROR            -> an error message (unknown identifier)
  FAKE_UNSOLVED         -> an "unsolved goals" error
  FAKE_HEARTBEAT        -> Lean's heartbeat-limit error
  FAKE_HIDDEN_SORRY     -> no sorries field, no warning, but `#print axioms` names sorryAx
  FAKE_AXIOM            -> `#print axioms` names a custom axiom (FAKE_AXIOM_IN=name: only for that theorem)
  FAKE_NATIVE           -> `#print axioms` names Lean.ofReduceBool
  FAKE_TYPE_DIFF        -> `#check` prints a type different from the reference
  FAKE_TRY_THIS         -> an info "Try this:" message (apply?/exact? left behind; after `simp?`, its
                           `simp only [...]` suggestion, as Lean prints it)
  FAKE_QUIET_AXIOMS     -> `#print axioms` in that env answers with no message (a replaced command)
  FAKE_WRONG_CONST      -> `#print axioms` and `#check` answer about another constant
  FAKE_TAKEOVER         -> from this command on, every request is answered `{"env": n}` with no
                           message (code that took over the process's stdin/stdout)
  FAKE_TAKEOVER_LATER   -> answers this command and its follow-up honestly, then takes over
  FAKE_HANG             -> never answers          FAKE_CRASH     -> exits at once
  FAKE_GARBAGE          -> prints a non-JSON answer   FAKE_HALF  -> half an answer, then exits
  FAKE_NONUTF8          -> prints bytes that are not UTF-8
  FAKE_STDERR_FLOOD     -> writes 8 MB to stderr, then answers normally
  FAKE_FORGE            -> prints a second answer ({"env": 0}) after the real one
  FAKE_BURN=<seconds>   -> burns CPU that long before answering
  FAKE_LEN              -> an info message with the byte length and sha256 of the command received
  FAKE_ECHO             -> an info message whose text is the whole command (a big proof, a big answer)
Headers: an import of `Nonexistent` fails like a missing module; FAKE_HEADER_CRASH crashes.

Canaries: a theorem named ``bridge_canary_...`` (``bridge.train.canary``: statements known to be false,
which expert iteration adds to every round's pool) gets an "unsolved goals" error whatever its proof: the
stand-in's model of Lean, which can prove no false statement. ``FAKE_REPL_ACCEPT_CANARIES=1`` turns that
off (a broken verifier, for the tests of the canary alarm).

Environment: FAKE_REPL_PINNED=1 (above), FAKE_REPL_EXIT_AFTER=k (exit after k requests),
FAKE_REPL_HEADER_DELAY=s (seconds per header), FAKE_REPL_BURN=s (CPU seconds per command),
FAKE_REPL_LEAN=4.9 (Lean 4.9 wording only), FAKE_REPL_LOG=path (append one line per request: pid and
kind), FAKE_REPL_REPLAY=file.expected.out (answer with that transcript's answers, in order),
FAKE_REPL_START_FAIL=text (write text to stderr and exit 1 before reading anything),
FAKE_REPL_KILL_PARENT_ONCE=path (a command with FAKE_KILL_PARENT, the first time on this machine, as
that file records: SIGKILL to the REPL's parent, a Ray actor that runs it unsandboxed, then hang; later
times answer as without the marker).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

BLOCK = 4096  # glibc's buffer for a pipe: st_blksize


class Stdout:
    """fd 1, written the way the REPL's does: flushed per answer, or held like C stdio (pinned)."""

    def __init__(self, pinned: bool, flush_each_answer: bool = False):
        self.pinned = pinned
        self.flush_each_answer = flush_each_answer
        self.tty = os.isatty(1)
        self.held = bytearray()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]

    def println(self, data: bytes) -> None:
        """One ``IO.println`` call."""
        data += b"\n"
        if not self.pinned or self.tty:
            # flushing REPL: each answer leaves at once; C stdio on a terminal: at each newline
            self._write(data)
            return
        self.held += data
        while len(self.held) >= BLOCK:
            self._write(bytes(self.held[:BLOCK]))
            del self.held[:BLOCK]

    def end_answer(self) -> None:
        """The blank line after an answer: ``IO.println ""``, or (backported) ``printFlush "\\n"``."""
        self.println(b"")
        if self.flush_each_answer and self.held:
            self._write(bytes(self.held))
            del self.held[:]

    def raw(self, data: bytes) -> None:
        """Bytes printed without a newline (a half answer); held like the rest when pinned."""
        if not self.pinned or self.tty:
            self._write(data)
        else:
            self.held += data

    def exit(self, code: int, crash: bool) -> None:
        if not crash and self.held:
            self._write(bytes(self.held))  # a normal exit flushes C stdio
        os._exit(code)  # a crash loses what is held


OUT = Stdout(os.environ.get("FAKE_REPL_PINNED") in ("1", "backport"),
             flush_each_answer=os.environ.get("FAKE_REPL_PINNED") == "backport")


def answer(obj: dict) -> None:
    # the real REPL pretty-prints with line breaks; any layout without blank lines is equivalent
    OUT.println(json.dumps(obj, ensure_ascii=False, indent=1).encode())
    OUT.end_answer()


def read_requests():
    """Blank-line separated inputs, as ``getLines`` reads them; yields the raw text of each."""
    buf: list[str] = []
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8")
        if line.strip() == "":
            if buf:
                yield "".join(buf)
                buf = []
        else:
            buf.append(line)
    if buf:
        yield "".join(buf)


def pos(line: int, col: int) -> dict:
    return {"line": line, "column": col}


def msg(severity: str, data: str, line: int = 1, col: int = 0, end: int = 5) -> dict:
    return {"severity": severity, "pos": pos(line, col), "endPos": pos(line, end), "data": data}


DECL = re.compile(r"(theorem|lemma|def)\s+([^\s(:{\[]+)")
CANARY = "bridge_canary_"  # bridge.train.canary.PREFIX (this script imports nothing of bridge)
IDENT = re.compile(r"[A-Za-z_][\w.']*")


def line_of(cmd: str, marker: str) -> int:
    return cmd.count("\n", 0, cmd.find(marker)) + 1


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def main() -> None:
    pinned = OUT.pinned
    lean49 = pinned or os.environ.get("FAKE_REPL_LEAN") == "4.9"
    if os.environ.get("FAKE_REPL_START_FAIL"):
        sys.stderr.write(os.environ["FAKE_REPL_START_FAIL"] + "\n")
        sys.stderr.flush()
        OUT.exit(1, crash=True)
    exit_after = int(os.environ.get("FAKE_REPL_EXIT_AFTER", "0") or 0)
    header_delay = float(os.environ.get("FAKE_REPL_HEADER_DELAY", "0") or 0)
    burn_s = float(os.environ.get("FAKE_REPL_BURN", "0") or 0)
    log = os.environ.get("FAKE_REPL_LOG")
    accept_canaries = os.environ.get("FAKE_REPL_ACCEPT_CANARIES") == "1"
    replay = os.environ.get("FAKE_REPL_REPLAY")
    answers: list[str] = []
    if replay:
        text = open(replay, encoding="utf-8").read()
        answers = [c for c in re.split(r"\n\s*\n", text) if c.strip()]
    envs: list[str] = []  # text of each env's command, by env id
    parents: list[int | None] = []
    broken: list[bool] = []  # an env built on a header whose imports failed: empty, nothing resolves
    sorry_word = "declaration uses 'sorry'" if lean49 else "declaration uses `sorry`"
    taken_over = False
    takeover_after: int | None = None  # request number after which the process is taken over
    n = 0

    def new_env(cmd: str, parent: int | None, is_broken: bool) -> int:
        envs.append(cmd)
        parents.append(parent)
        broken.append(is_broken)
        return len(envs) - 1

    for text in read_requests():
        n += 1
        if pinned and (text.startswith("#") or text.startswith("--")):
            continue  # REPL v4.9.0 `repl.loop` skips such inputs without an answer
        req = json.loads(text, strict=False)
        if log:
            with open(log, "a") as f:
                kind = "header" if "cmd" in req and "env" not in req else "cmd" if "cmd" in req else "other"
                first = req.get("cmd", "")[:60].replace("\n", " ")
                f.write(f"{os.getpid()} {kind} {first}\n")
        if exit_after and n > exit_after:
            OUT.exit(17, crash=True)
        if replay:
            OUT.println(answers[n - 1].strip().encode())
            OUT.end_answer()
            continue
        if takeover_after is not None and n > takeover_after:
            taken_over = True
        if taken_over:
            # code running inside the process answers for the REPL: a clean answer to everything
            answer({"env": new_env("", None, False)})
            continue
        if "cmd" not in req:
            answer({"message": "the fake REPL only answers commands"})
            continue
        cmd: str = req["cmd"]
        env = req.get("env")
        if env is not None and not (0 <= env < len(envs)):
            answer({"message": "Unknown environment."})
            continue
        if env is None and "import" in cmd:  # a header
            if "FAKE_HEADER_CRASH" in cmd:
                OUT.exit(3, crash=True)
            time.sleep(header_delay)
            if "Nonexistent" in cmd:
                e = new_env(cmd, None, True)
                if pinned:
                    answer({"env": e})  # the header's messages are dropped (REPL/Frontend.lean, v4.9.0)
                else:
                    answer({"messages": [msg("error", "unknown module prefix 'Nonexistent'\n\nNo directory "
                                                "'Nonexistent' or file 'Nonexistent.olean' in the search path entries")],
                            "env": e})
                continue
            answer({"env": new_env(cmd, None, False)})
            continue
        if env is not None and broken[env]:
            # the empty environment of a failed import: the first identifier is unknown
            m = IDENT.search(re.sub(r"^\s*#?\w+\s*", "", cmd) or cmd)
            ident = m.group(0) if m else "Nat"
            answer({"messages": [msg("error", f"unknown identifier '{ident}'")], "env": new_env(cmd, env, True)})
            continue
        chain = []
        e = env
        while e is not None:
            chain.append(envs[e])
            e = parents[e]
        context = "\n".join(chain)
        # follow-up commands of the soundness gate: `#print axioms X` lines, then `#check @X`
        printed = re.findall(r"#print axioms\s+(\S+)", cmd)
        checked = re.search(r"#check @(\S+)", cmd)
        if printed or checked:
            e = new_env(cmd, env, False)
            if "FAKE_QUIET_AXIOMS" in context:
                answer({"env": e})
                continue
            axioms = ["propext", "Classical.choice", "Quot.sound"]
            if "FAKE_HIDDEN_SORRY" in context:
                axioms.append("sorryAx")
            if re.search(r"FAKE_AXIOM(?!_IN)", context):
                axioms.append("cheat_axiom")
            if "FAKE_NATIVE" in context:
                axioms.append("Lean.ofReduceBool")
            messages = []
            for name in printed:
                shown = name + "_other" if "FAKE_WRONG_CONST" in context else name
                extra = ["cheat_axiom"] if f"FAKE_AXIOM_IN={name}" in context else []
                messages.append(msg("info", f"'{shown}' depends on axioms: [{', '.join(axioms + extra)}]"))
            if checked:
                name = checked.group(1)
                sig = ""
                for t in chain:
                    m = re.search(r"(?:theorem|lemma|def)\s+" + re.escape(name) + r"\b(.*?):=", t, re.S)
                    if m:
                        sig = " ".join(m.group(1).split())
                        break
                if "FAKE_TYPE_DIFF" in context:
                    sig += " ∧ True"
                shown = name + "_other" if "FAKE_WRONG_CONST" in context else name
                messages.append(msg("info", f"@{shown} : {sig}", line=4))
            answer({"messages": messages, "env": e})
            continue
        m = re.match(r"#check\s+([\w.']+)\s*$", cmd)
        if m:
            answer({"messages": [msg("info", f"{m.group(1)} : Type")], "env": new_env(cmd, env, False)})
            continue
        flag = os.environ.get("FAKE_REPL_KILL_PARENT_ONCE")
        if flag and "FAKE_KILL_PARENT" in cmd:
            try:
                os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass
            else:
                os.kill(os.getppid(), 9)
                time.sleep(3600)  # an orphan now: whoever started the run must end it
        if "FAKE_HANG" in cmd:
            time.sleep(3600)
        if "FAKE_CRASH" in cmd:
            OUT.exit(1, crash=True)
        if "FAKE_GARBAGE" in cmd:
            OUT.println(b"this is not json")
            OUT.end_answer()
            continue
        if "FAKE_HALF" in cmd:
            OUT.raw(b'{"env": 3, "messages": [{"severity": "err')
            OUT.exit(1, crash=not pinned)  # unpinned: already written; pinned: held, lost
        if "FAKE_NONUTF8" in cmd:
            OUT.println(b'{"env": \xff\xfe}')
            OUT.end_answer()
            continue
        if "FAKE_STDERR_FLOOD" in cmd:
            chunk = b"x" * 65536 + b"\n"
            for _ in range(128):
                sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        m = re.search(r"FAKE_BURN=([0-9.]+)", cmd)
        if m or burn_s:
            burn(float(m.group(1)) if m else burn_s)
        if "FAKE_TAKEOVER_LATER" in cmd:
            takeover_after = n + 1  # this command and its follow-up are answered honestly
        elif "FAKE_TAKEOVER" in cmd:
            taken_over = True
            answer({"env": new_env(cmd, env, False)})
            continue
        e = new_env(cmd, env, False)
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
        if d and d.group(2).startswith(CANARY) and not accept_canaries:
            # a canary is a false statement: Lean proves none, so neither does its stand-in
            messages.append(msg("error", "unsolved goals\n⊢ False", line, 0, 7))
        if "FAKE_ERROR" in cmd:  # placed on the marker's line, as Lean places its message
            messages.append(msg("error", "Unknown identifier `FAKE_ERROR`", line_of(cmd, "FAKE_ERROR"), 2, 12))
        if "FAKE_UNSOLVED" in cmd:
            messages.append(msg("error", "unsolved goals\nx : Nat\n⊢ x = x", line_of(cmd, "FAKE_UNSOLVED"), 20, 30))
        if "FAKE_HEARTBEAT" in cmd:
            messages.append(msg("error", "(deterministic) timeout at `whnf`, maximum number of heartbeats "
                                         "(200000) has been reached\n\nNote: Use `set_option maxHeartbeats <num>` "
                                         "to set the limit.", line, 0, 7))
        if "FAKE_LEN" in cmd:
            messages.append(msg("info", f"received {len(cmd.encode())} bytes, sha256 "
                                        f"{__import__('hashlib').sha256(cmd.encode()).hexdigest()}", line, 0, 1))
        if "FAKE_ECHO" in cmd:
            messages.append(msg("info", cmd, line, 0, 1))
        if "FAKE_TRY_THIS" in cmd:
            # as Lean 4.9 answers: `simp?` suggests its simp call, apply?/exact? a term
            text = ("Try this: simp only [add_zero]" if re.search(r"(?<![\w.])simp\?", cmd)
                    else "Try this:\n  [apply] exact Nat.zero_eq_one_mod_iff.mp rfl")
            messages.append(msg("info", text, line + 1, 2, 8))
        if sorries:
            out["sorries"] = sorries
        if messages:
            out["messages"] = messages
        out["env"] = e
        answer(out)
        if "FAKE_FORGE" in cmd:
            answer({"env": 0})
    OUT.exit(0, crash=False)  # end of input: the REPL returns from `main`, and C stdio is flushed


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        os._exit(0)
