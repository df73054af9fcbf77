"""The backend interface and the sampling parameters recorded with every sample."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

Prompt = str | list[dict[str, str]]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 2048
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Backend(Protocol):
    name: str

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        """``n`` sampled completions of one prompt (chat prompts are lists of messages)."""
        ...
