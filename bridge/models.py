"""Which model: how a template or a family is chosen by the model's name, and where a model's weights
come from (a directory, the Hugging Face cache, the hub), decided before transformers is asked.

A low, neutral module: provers, informal solving and training all choose by model name and load local
models, and none of them may import another's layer for it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlparse

from bridge.errors import ConfigError, SetupError

NEXT_STEP_MODEL = ("serve the model elsewhere and pass --endpoint URL (an OpenAI-compatible server), give "
                   "--model a local model directory, or download it once where there is network and run "
                   "with HF_HUB_OFFLINE=1")


def _truthy(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")


def _looks_local(model: str) -> bool:
    """A path, not a hub id (``org/name``): absolute, relative with ./ ../ ~, or with several parts."""
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1


def _in_hub_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return False
    return isinstance(try_to_load_from_cache(model, "config.json"), str)


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (one quick connection, not five retries), or None."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # only the proxy knows; let the download say
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"{host}:{port} cannot be reached ({e.strerror or e})"
    return None


def model_source(model: str) -> tuple[str, bool]:
    """(what to give ``from_pretrained``, whether to stay offline), or a SetupError with the next step.

    Decided before transformers is asked, so a model that cannot be had fails at once with one error
    instead of a traceback after the hub client's retries.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise SetupError(f"--model {model}: {path} has no config.json (not a transformers model directory)",
                             NEXT_STEP_MODEL)
        return str(path), True
    if _looks_local(model):
        raise SetupError(f"--model {model}: no such directory", NEXT_STEP_MODEL)
    cached = _in_hub_cache(model)
    if _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE"):
        if not cached:
            raise SetupError(f"--model {model}: not in the Hugging Face cache, and HF_HUB_OFFLINE is set",
                             NEXT_STEP_MODEL)
        return model, True
    why = _hub_unreachable()
    if why is not None:
        if cached:
            return model, True  # the cached copy, without the hub client's retries
        raise SetupError(f"--model {model}: not in the Hugging Face cache, and the hub cannot be reached: {why}",
                         NEXT_STEP_MODEL)
    return model, False


class _ByModel(Protocol):
    model_patterns: tuple[str, ...]


T = TypeVar("T", bound=_ByModel)


def by_model(table: dict[str, T], model: str, template: str | None, default: str, what: str = "template") -> T:
    """``table[template]`` when a template is named (an unknown one is a ConfigError), else the first entry
    one of whose ``model_patterns`` the model's name holds, else ``table[default]``: how prover templates,
    formalizers and solver families are chosen."""
    if template:
        if template not in table:
            raise ConfigError(f"unknown {what} {template!r}", f"choose one of: {', '.join(table)}")
        return table[template]
    low = model.lower()
    for entry in table.values():
        if any(p in low for p in entry.model_patterns):
            return entry
    return table[default]
