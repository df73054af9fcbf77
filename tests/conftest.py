"""Shared fixtures: the fake REPL, ../shared, and the `lean`/`gpu` markers' skip rules."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE_REPL = ROOT / "tests" / "fakes" / "fake_repl.py"
SHARED = Path(os.environ.get("BRIDGE_SHARED_DIR", ROOT.parent / "shared"))
# the Lean REPL's own test transcripts (Apache-2.0, see tests/transcripts/NOTICE), kept in the repository
TRANSCRIPTS = ROOT / "tests" / "transcripts" / "core"
DATA_HINT = ("the benchmark data is absent: set BRIDGE_DATA_DIR to a directory holding minif2f/minif2f.jsonl and "
             "proofnet/proofnet.jsonl (public: datasets/minif2f.jsonl and datasets/proofnet.jsonl of "
             "github.com/deepseek-ai/DeepSeek-Prover-V1.5), or put it at ../shared/data beside the repository")


def fake_repl_cmd(**env: str) -> str:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_REPL))}"
    return f"env {prefix} {cmd}" if prefix else cmd


def repl_log(path: Path) -> list[tuple[int, str, str]]:
    """The fake REPL's FAKE_REPL_LOG: (pid, kind, start of the command) per request."""
    out = []
    for line in path.read_text().splitlines():
        pid, kind, cmd = (line.split(" ", 2) + [""])[:3]
        out.append((int(pid), kind, cmd))
    return out


def data_dir() -> Path | None:
    d = os.environ.get("BRIDGE_DATA_DIR")
    if d and Path(d).is_dir():
        return Path(d)
    if (SHARED / "data").is_dir():
        return SHARED / "data"
    return None


def real_lean_project() -> Path | None:
    """A built Lake project with Mathlib and the REPL: $BRIDGE_LEAN_PROJECT, else this repository."""
    if shutil.which("lake") is None:
        return None
    from bridge.lean.project import LeanProject

    for cand in (os.environ.get("BRIDGE_LEAN_PROJECT"), str(ROOT)):
        if cand and LeanProject(Path(cand)).repl_binary() is not None:
            return Path(cand)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    project = real_lean_project()
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    skip_lean = pytest.mark.skip(reason="needs real Lean: no `lake` on PATH or no built Lake project with the REPL "
                                 "(run `bridge setup` or set BRIDGE_LEAN_PROJECT)")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "lean" in item.keywords and project is None:
            item.add_marker(skip_lean)
        if "gpu" in item.keywords and not gpu:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own config file or cache."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for k in list(os.environ):
        if k.startswith("BRIDGE_") and k not in ("BRIDGE_DATA_DIR", "BRIDGE_SHARED_DIR", "BRIDGE_LEAN_PROJECT"):
            monkeypatch.delenv(k)


@pytest.fixture
def transcripts() -> Path:
    if not TRANSCRIPTS.is_dir():
        pytest.skip(f"no REPL transcripts at {TRANSCRIPTS} (they are part of the repository: restore tests/transcripts)")
    return TRANSCRIPTS


@pytest.fixture
def shared_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    d = data_dir()
    if d is None:
        pytest.skip(DATA_HINT)
    # In this process too: a test that calls `main()` in-process must find the same data its subprocesses
    # are given, not fall back to a download (CI has no network; ../shared/data is found only by the tests).
    monkeypatch.setenv("BRIDGE_DATA_DIR", str(d))
    return d


@pytest.fixture
def fake_cfg(tmp_path: Path):
    """A configuration that speaks to the fake REPL, sandboxed when bubblewrap works here."""
    from bridge.config import load_config
    from bridge.lean.sandbox import sandbox_available

    def make(workers: int = 2, timeout: float = 5.0, sandbox: bool | None = None, **env: str):
        return load_config(overrides=dict(
            repl_cmd=fake_repl_cmd(**env), workers=workers, timeout=timeout, header_timeout=timeout,
            cache_dir=tmp_path / "cache", sandbox=sandbox_available()[0] if sandbox is None else sandbox,
            lean_version="v4.33.0-fake"))

    return make
