"""Every real REPL transcript parses into the typed requests and responses and back, field for field;
the client speaks every request kind to a replaying fake and reads the real answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.lean.protocol import (
    Command,
    CommandResponse,
    FileCommand,
    PickleEnv,
    PickleProofState,
    ProofStepResponse,
    ProtocolError,
    ReplError,
    TacticRequest,
    UnpickleEnv,
    UnpickleProofState,
    loads,
    parse_request,
    parse_response,
    split_stream,
)
from bridge.lean.repl import Repl
from tests.conftest import FAKE_REPL


def _pairs(d: Path):
    for inp in sorted(d.glob("*.in")):
        out = inp.with_name(inp.stem + ".expected.out")
        yield inp, (out if out.is_file() else None)


def _round_trip_all(files: list[Path], parse) -> tuple[int, set[type]]:
    n, kinds = 0, set()
    for f in files:
        for chunk in split_stream(f.read_text(encoding="utf-8")):
            raw = loads(chunk)
            obj = parse(raw)
            kinds.add(type(obj))
            assert obj.to_json() == raw, f.name
            n += 1
    return n, kinds


def test_every_request_round_trips(transcripts: Path) -> None:
    n, kinds = _round_trip_all([i for i, _ in _pairs(transcripts)], parse_request)
    assert n > 80
    assert kinds == {Command, FileCommand, TacticRequest, PickleEnv, PickleProofState, UnpickleEnv, UnpickleProofState}


def test_every_response_round_trips(transcripts: Path) -> None:
    n, kinds = _round_trip_all([o for _, o in _pairs(transcripts) if o is not None], parse_response)
    assert n > 80
    assert kinds == {CommandResponse, ProofStepResponse, ReplError}


def test_typed_fields_read_correctly(transcripts: Path) -> None:
    r = parse_response(loads(split_stream((transcripts / "readme.expected.out").read_text())[0]))
    assert isinstance(r, CommandResponse) and r.env == 0
    assert r.sorries and r.sorries[0].proof_state == 0 and r.sorries[0].goal == "x : Unit\n⊢ Nat"
    assert r.sorries[0].pos.line == 1 and r.sorries[0].end_pos.column == 34
    assert r.messages[0].severity == "warning" and r.messages[0].data == "declaration uses `sorry`"
    step = parse_response(loads(split_stream((transcripts / "readme.expected.out").read_text())[1]))
    assert isinstance(step, ProofStepResponse) and step.proof_status == "Incomplete: open goals remain"
    tactics = parse_response(loads((transcripts / "all_tactics.expected.out").read_text()))
    assert tactics.tactics[1].tactic == "exact t" and tactics.tactics[0].used_constants
    err = parse_response(loads(split_stream((transcripts / "unknown_proof_state.expected.out").read_text())[1]))
    assert isinstance(err, ReplError) and err.message == "Unknown proof state."
    info = parse_response(loads((transcripts / "infotree.expected.out").read_text()))
    assert info.infotree[0]["kind"] == "TacticInfo"


@pytest.mark.parametrize("bad", [[], 3, {"goals": []}, {"env": "0"}, {"message": 3}])
def test_malformed_answers_are_protocol_errors(bad: object) -> None:
    with pytest.raises(ProtocolError):
        parse_response(bad)


def test_client_speaks_every_transcript(transcripts: Path) -> None:
    """The client writes each request of each transcript and reads the real answer back unchanged."""
    import sys

    for inp, out in _pairs(transcripts):
        if out is None:
            continue
        answers = [loads(c) for c in split_stream(out.read_text(encoding="utf-8"))]
        requests = [parse_request(loads(c)) for c in split_stream(inp.read_text(encoding="utf-8"))]
        env = dict(os.environ, FAKE_REPL_REPLAY=str(out))
        repl = Repl([sys.executable, str(FAKE_REPL)], env=env)
        repl.start()
        try:
            # no help with env numbers: the client's expectation (0, 1, 2, ... per command, file and
            # unpickled env) must match what real Lean answered, or send() raises
            for req, want in zip(requests, answers, strict=False):
                got = repl.send(req, timeout=10)
                assert got.to_json() == want, inp.name
        finally:
            repl.kill()
