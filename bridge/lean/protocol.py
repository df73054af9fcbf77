"""Typed requests and responses of leanprover-community/repl, converted to and from JSON here only.

The REPL reads JSON objects separated by blank lines and answers each with one JSON object followed by
a blank line. A response is one of three shapes:

* a command response (``cmd``, ``path``, pickling): ``env`` plus optional ``messages``, ``sorries``,
  ``tactics``, ``infotree``;
* a proof-step response (``tactic``, ``unpickleProofStateFrom``): ``proofState``, ``goals`` and optional
  ``proofStatus``, ``messages``, ``sorries``, ``traces``;
* an error reply: ``{"message": "..."}``.

Keys the REPL does not always send stay absent (None) so that ``to_json(parse(x)) == x``; keys this
module does not know are kept in ``extra`` for the same reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_KEYS: dict[type, tuple[tuple[tuple[str, str], ...], bool, dict[str, str]]] = {}


def _keys(cls: type) -> tuple[tuple[tuple[str, str], ...], bool, dict[str, str]]:
    """((field name, JSON key), ...), whether the class keeps unknown keys, and JSON key -> field name;
    computed once per class because this runs for every request and answer on the hot path."""
    got = _KEYS.get(cls)
    if got is None:
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        pairs = tuple((n, _camel(n)) for n in names if n != "extra")
        got = _KEYS[cls] = (pairs, "extra" in names, {key: name for name, key in pairs})
    return got


class _Json:
    """Mixin: snake_case dataclass fields <-> camelCase JSON keys; None means "absent"."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        pairs, has_extra, _ = _keys(type(self))
        for name, key in pairs:
            v = getattr(self, name)
            if v is not None:
                out[key] = _dump(v)
        if has_extra and self.extra:  # type: ignore[attr-defined]
            out.update(self.extra)  # type: ignore[attr-defined]
        return out

    @classmethod
    def _kwargs(cls, d: dict[str, Any], nested: dict[str, Any] | None = None) -> dict[str, Any]:
        nested = nested or {}
        _, has_extra, known = _keys(cls)
        kw: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in d.items():
            if k in known:
                name = known[k]
                if name in nested and v is not None:
                    typ = nested[name]
                    v = [typ.from_json(x) for x in v] if isinstance(v, list) else typ.from_json(v)
                kw[name] = v
            else:
                extra[k] = v
        if has_extra:
            kw["extra"] = extra
        elif extra:
            raise ProtocolError(f"unexpected keys {sorted(extra)} in {cls.__name__}: {d!r}"[:500])
        return kw


def _dump(v: Any) -> Any:
    if isinstance(v, _Json):
        return v.to_json()
    if isinstance(v, list):
        return [_dump(x) for x in v]
    return v


class ProtocolError(ValueError):
    """A REPL answer whose shape does not match the protocol (or the request)."""


# ---------------------------------------------------------------------------------------------------
# Pieces shared by responses


@dataclass
class Pos(_Json):
    line: int
    column: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Pos:
        return cls(**cls._kwargs(d))


@dataclass
class Message(_Json):
    """A Lean message: severity is "error", "warning" or "info"; positions are 1-based lines."""

    severity: str
    data: str
    pos: Pos | None = None
    end_pos: Pos | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Message:
        return cls(**cls._kwargs(d, {"pos": Pos, "end_pos": Pos}))

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass
class Sorry(_Json):
    """A `sorry` the REPL found; inside proof-step answers it has no position."""

    goal: str
    proof_state: int | None = None
    pos: Pos | None = None
    end_pos: Pos | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Sorry:
        return cls(**cls._kwargs(d, {"pos": Pos, "end_pos": Pos}))


@dataclass
class Tactic(_Json):
    """One tactic of an ``allTactics`` answer; ``goals`` is the pretty-printed goal string."""

    tactic: str
    goals: str
    proof_state: int | None = None
    pos: Pos | None = None
    end_pos: Pos | None = None
    used_constants: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Tactic:
        return cls(**cls._kwargs(d, {"pos": Pos, "end_pos": Pos}))


# ---------------------------------------------------------------------------------------------------
# Requests


@dataclass
class Command(_Json):
    """``{"cmd": ..., "env": ...}``: elaborate commands; without ``env`` the text may start with imports."""

    cmd: str
    env: int | None = None
    all_tactics: bool | None = None
    root_goals: bool | None = None
    infotree: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileCommand(_Json):
    """``{"path": ...}``: elaborate a file."""

    path: str
    env: int | None = None
    all_tactics: bool | None = None
    root_goals: bool | None = None
    infotree: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TacticRequest(_Json):
    """``{"tactic": ..., "proofState": n}``: run one tactic on a proof state."""

    tactic: str
    proof_state: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PickleEnv(_Json):
    pickle_to: str
    env: int


@dataclass
class PickleProofState(_Json):
    pickle_to: str
    proof_state: int


@dataclass
class UnpickleEnv(_Json):
    unpickle_env_from: str


@dataclass
class UnpickleProofState(_Json):
    unpickle_proof_state_from: str
    env: int | None = None


Request = Command | FileCommand | TacticRequest | PickleEnv | PickleProofState | UnpickleEnv | UnpickleProofState


def parse_request(d: dict[str, Any]) -> Request:
    """The typed request for a JSON object as a client writes it."""
    if "cmd" in d:
        return Command(**Command._kwargs(d))
    if "path" in d:
        return FileCommand(**FileCommand._kwargs(d))
    if "tactic" in d:
        return TacticRequest(**TacticRequest._kwargs(d))
    if "pickleTo" in d and "env" in d:
        return PickleEnv(**PickleEnv._kwargs(d))
    if "pickleTo" in d and "proofState" in d:
        return PickleProofState(**PickleProofState._kwargs(d))
    if "unpickleEnvFrom" in d:
        return UnpickleEnv(**UnpickleEnv._kwargs(d))
    if "unpickleProofStateFrom" in d:
        return UnpickleProofState(**UnpickleProofState._kwargs(d))
    raise ProtocolError(f"not a REPL request: {d!r}"[:300])


_ENCODER = json.JSONEncoder(ensure_ascii=False)


def encode_request(req: Request) -> bytes:
    """One request as the REPL reads it: a JSON object on one line, then a blank line."""
    return _ENCODER.encode(req.to_json()).encode("utf-8") + b"\n\n"


# ---------------------------------------------------------------------------------------------------
# Responses


@dataclass
class CommandResponse(_Json):
    env: int
    messages: list[Message] | None = None
    sorries: list[Sorry] | None = None
    tactics: list[Tactic] | None = None
    infotree: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages or [] if m.is_error]


@dataclass
class ProofStepResponse(_Json):
    proof_state: int
    goals: list[str]
    proof_status: str | None = None
    messages: list[Message] | None = None
    sorries: list[Sorry] | None = None
    traces: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReplError(_Json):
    """The REPL's own error reply, e.g. ``{"message": "Unknown proof state."}``."""

    message: str


Response = CommandResponse | ProofStepResponse | ReplError

_RESPONSE_NESTED = {"messages": Message, "sorries": Sorry, "tactics": Tactic}


def parse_response(d: Any) -> Response:
    """The typed response for one decoded JSON answer; ProtocolError if it has none of the three shapes."""
    if not isinstance(d, dict):
        raise ProtocolError(f"a REPL answer must be a JSON object, got {type(d).__name__}")
    try:
        if set(d) == {"message"} and isinstance(d["message"], str):
            return ReplError(message=d["message"])
        if "proofState" in d and "goals" in d:
            r: Response = ProofStepResponse(**ProofStepResponse._kwargs(d, _RESPONSE_NESTED))
        elif isinstance(d.get("env"), int):
            r = CommandResponse(**CommandResponse._kwargs(d, _RESPONSE_NESTED))
        else:
            raise ProtocolError(f"unrecognised REPL answer: {json.dumps(d)[:300]}")
    except TypeError as e:  # a required key missing or of the wrong kind
        raise ProtocolError(f"malformed REPL answer ({e}): {json.dumps(d)[:300]}") from None
    return r


def split_stream(text: str) -> list[str]:
    """Split a transcript (requests or answers) into its blank-line separated JSON objects."""
    chunks, cur = [], []
    for line in text.split("\n"):
        if line.strip() == "":
            if cur:
                chunks.append("\n".join(cur))
                cur = []
        else:
            cur.append(line)
    if cur:
        chunks.append("\n".join(cur))
    return chunks


_DECODER = json.JSONDecoder(strict=False)  # made once: json.loads(strict=False) builds one per call


def loads(text: str) -> Any:
    """Decode one JSON object as the REPL's own parser does: raw newlines inside strings are accepted."""
    return _DECODER.decode(text)
