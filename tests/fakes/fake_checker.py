#!/usr/bin/env python3
"""A stand-in for `bridge-check` (lean_project/Bridge/Check.lean) with its exact command line and its one
JSON line, reading the JSON "oleans" that ``fake_lean.py`` writes.

Markers in the candidate's source: STRICT_KERNEL (the kernel replay fails), STRICT_AXIOM (an added
axiom `cheat`), STRICT_TYPE (the target's type differs from the reference), `sorry` (sorryAx),
native_decide / FAKE_NATIVE (Lean.ofReduceBool, and the replay fails as lean4checker's ReduceBool test
does), STRICT_CHECKER_CRASH (dies without a JSON line). Environment: FAKE_TOOL_LOG=path.
"""

from __future__ import annotations

import json
import os
import re
import sys


def emit(ok: bool, stage: str, error: str | None, imports: list[str], targets: list[dict]) -> int:
    print(json.dumps({"ok": ok, "stage": stage, "error": error, "imports": imports, "targets": targets}))
    return 0 if ok else (2 if stage == "args" else 1)


def sig(source: str, name: str) -> tuple[str, str] | None:
    m = re.search(r"(theorem|lemma|def)\s+" + re.escape(name) + r"\b(.*?):=", source, re.S)
    return (("theorem" if m.group(1) == "lemma" else m.group(1)), " ".join(m.group(2).split())) if m else None


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_TOOL_LOG")
    if log:
        try:
            with open(log, "a") as f:
                f.write("bridge-check " + " ".join(argv) + f" LEAN_PATH={os.environ.get('LEAN_PATH', '')}\n")
        except OSError:
            pass
    olean = ref = None
    targets: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--olean", "--reference", "--target") and i + 1 < len(argv):
            if a == "--olean":
                olean = argv[i + 1]
            elif a == "--reference":
                ref = argv[i + 1]
            else:
                targets.append(argv[i + 1])
            i += 2
        elif a == "--all-theorems":
            i += 1
        else:
            return emit(False, "args", f"unexpected or incomplete argument '{a}'", [], [])
    if olean is None:
        return emit(False, "args", "--olean is required", [], [])
    try:
        mod = json.load(open(olean, encoding="utf-8"))
        assert mod.get("format") == "fake-olean"
    except (OSError, ValueError, AssertionError) as e:
        return emit(False, "read", f"cannot read {olean}: {e}", [], [])
    src = mod["source"]
    imports = mod["imports"]
    # what is code (as the fake REPL reads it): comments and strings do not count for the markers below
    code = re.sub(r"/-.*?-/|--[^\n]*|\"(?:\\.|[^\"\\])*\"", " ", src, flags=re.S)
    if "STRICT_CHECKER_CRASH" in src:
        os._exit(139)
    if "STRICT_KERNEL" in src:
        return emit(False, "replay", "(kernel) declaration type mismatch, 'strict_t' has type\n  Prop", imports, [])
    if "native_decide" in code or "FAKE_NATIVE" in src:
        return emit(False, "replay", "(kernel) unknown declaration 'foo'", imports, [])
    refmod = None
    if ref is not None:
        try:
            refmod = json.load(open(ref, encoding="utf-8"))
        except (OSError, ValueError) as e:
            return emit(False, "reference", f"cannot read {ref}: {e}", imports, [])
        if refmod.get("imports") != imports:
            return emit(False, "reference", "the candidate's imports differ from the reference's", imports, [])
    out = []
    for name in targets:
        got = sig(src, name)
        if got is None:
            return emit(False, "target", f"unknown target '{name}'", imports, out)
        axioms = ["propext"]
        if "STRICT_AXIOM" in src:
            axioms.append("cheat")
        if re.search(r"(?<![\w.])sorry(?![\w])", code):
            axioms.append("sorryAx")
        matches = None
        if refmod is not None:
            want = sig(refmod["source"], name)
            typ = got[1] + (" ∧ True" if "STRICT_TYPE" in src else "")
            matches = want is not None and want == (got[0], typ)
        out.append({"name": name, "kind": got[0], "axioms": sorted(axioms), "type_matches": matches})
    if refmod is not None and not all(t["type_matches"] for t in out):
        return emit(False, "target", "the target's type differs from the reference", imports, out)
    return emit(True, "done", None, imports, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
