"""Whether a header's environment really loaded, and whether a REPL can start at all: pure decisions.

REPL v4.9.0 drops the header's messages: ``processCommandsWithInfoTrees`` (``REPL/Frontend.lean`` at tag
v4.9.0) builds the command state *with* the header's messages and returns only
``s.messages.toList.drop commandState.messages.toList.length``. An ``import`` that fails therefore
answers a bare ``{"env": 0}``, and ``processHeader`` has left an empty environment behind (not even
``Init``). Every REPL answers a probe in that environment with an error, which is how we tell, on every
REPL version, without reading the (missing) header messages.
"""

from __future__ import annotations

from bridge.lean.protocol import CommandResponse, ReplError, Response

# Elaborated in the header's env on every worker, once per header: `Nat` is in every environment that
# imports anything (Init included), and nowhere in the empty one a failed import leaves.
HEADER_PROBE = "#check Nat"

# Sent to a fresh REPL, without imports, when a REPL died on its first request: if this one is answered,
# the REPL can start and the header is what killed it; if not, the REPL itself cannot start.
START_PROBE = "example : True := trivial"


def header_probe_failure(resp: Response) -> str | None:
    """Why the header's env is unusable according to the probe's answer, or None when it loaded."""
    if isinstance(resp, ReplError):
        return f"the REPL refused the probe `{HEADER_PROBE}`: {resp.message}"
    if not isinstance(resp, CommandResponse):  # pragma: no cover - Repl.send checks the shape
        return f"the probe `{HEADER_PROBE}` got an answer of the wrong shape"
    errors = resp.errors
    if errors:
        first = errors[0].data.strip().splitlines()[0][:200] if errors[0].data.strip() else "an error"
        return (f"its imports did not load: `{HEADER_PROBE}` fails in its environment ({first}); "
                "REPL v4.9.0 does not report why an import fails")
    return None


def header_errors(resp: CommandResponse) -> str | None:
    """The header's own error messages, where the REPL reports them (REPLs of the v4.14 era and later)."""
    if resp.errors:
        return "; ".join(m.data for m in resp.errors)[:2000]
    return None


NEXT_STEP_HEADER = ("check that every module the header imports exists in the Lake project and is built "
                    "(`lake build`, `bridge setup`), then run `bridge doctor`")
NEXT_STEP_START = ("run the command by hand to see why it fails; `bridge doctor` starts the REPL once and says "
                   "what is missing (with the sandbox on, it also tests bubblewrap; --no-sandbox opts out)")
