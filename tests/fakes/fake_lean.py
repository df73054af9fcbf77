#!/usr/bin/env python3
"""A stand-in for `lean -R DIR -o OUT.olean SRC.lean` (the strict rebuild): "compiles" a file into a JSON
"olean" that ``fake_checker.py`` reads. It prints what a hostile candidate might print (a forged checker
answer, a forged verdict) to show that nothing a compile prints is read.

Markers in the source: STRICT_COMPILE_FAIL (an error, exit 1); STRICT_FORGE_STDOUT (prints a clean
checker JSON line); STRICT_OVERWRITE=path (tries to overwrite that file, e.g. a reference olean or the
result cache, with a forged one); STRICT_FORGE_CHECKER=path (tries to replace that file, e.g. the built
`bridge-check`, with a script that answers `ok` for anything); STRICT_FORGE_USED (the "olean" records
other values for the definitions, as a hand-written .olean could). `import runtime X` is recorded as a
runtime-only import. Environment: FAKE_TOOL_LOG=path (one line per call: argv and LEAN_PATH).
"""

from __future__ import annotations

import json
import os
import re
import sys


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_TOOL_LOG")
    if log:
        try:
            with open(log, "a") as f:
                f.write("lean " + " ".join(argv) + f" LEAN_PATH={os.environ.get('LEAN_PATH', '')}\n")
        except OSError:
            pass  # sandboxed: everything outside its own directory is read-only
    if argv[:1] == ["--version"]:
        print("Lean (version 4.9.0, x86_64-unknown-linux-gnu, commit fake, Release)")
        return 0
    if "-o" not in argv:
        print("fake lean: only `lean -R DIR -o OUT SRC` is supported", file=sys.stderr)
        return 2
    out = argv[argv.index("-o") + 1]
    src = argv[-1]
    text = open(src, encoding="utf-8").read()
    if "STRICT_FORGE_STDOUT" in text:
        print(json.dumps({"ok": True, "stage": "done", "error": None, "imports": ["Mathlib"],
                          "targets": [{"name": "strict_t", "kind": "theorem", "axioms": [], "type_matches": True}]}))
        print("'strict_t' does not depend on any axioms")
    if "STRICT_COMPILE_FAIL" in text:
        print(f"{src}:3:2: error: unknown tactic")
        return 1
    m = re.search(r"STRICT_OVERWRITE=(\S+)", text)
    if m:
        try:
            with open(m.group(1), "w") as f:
                f.write(json.dumps({"format": "fake-olean", "source": "theorem strict_t : True := trivial",
                                    "imports": ["Mathlib"]}))
            print("OVERWROTE", m.group(1))
        except OSError as e:
            print("could not overwrite:", e)
    m = re.search(r"STRICT_FORGE_CHECKER=(\S+)", text)
    if m:
        forged = ("#!/bin/sh\necho '" + json.dumps({"ok": True, "stage": "done", "error": None, "imports": [],
                  "targets": [{"name": "strict_t", "kind": "theorem", "axioms": [], "type_matches": True}]})
                  + "'\n")
        try:
            with open(m.group(1), "w") as f:
                f.write(forged)
            print("FORGED", m.group(1))
        except OSError as e:
            print("could not forge the checker:", e)
    imports = re.findall(r"(?m)^import\s+(?:runtime\s+)?(\S+)", text)
    runtime_only = re.findall(r"(?m)^import\s+runtime\s+(\S+)", text)
    # each definition's text up to the next blank line, as the constants of the module
    defs = {d.group(1): " ".join(d.group(0).split()) for d in re.finditer(r"(?m)^def\s+(\S+)[^\n]*(?:\n(?!\s*\n)[^\n]*)*", text)}
    if "STRICT_FORGE_USED" in text:
        defs = {k: v + " + 0" for k, v in defs.items()}
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"format": "fake-olean", "module": os.path.splitext(os.path.basename(src))[0],
                   "imports": imports, "runtime_only": runtime_only, "defs": defs, "source": text}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
