"""A model that cannot be loaded (a wrong local path, not cached and offline, the hub unreachable): one
clean error with the next step, at once, and the run directory left as it was."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from bridge.errors import SetupError
from tests.conftest import fake_repl_cmd
from tests.test_prove_support import bridge

pytest.importorskip("transformers")


def _prove(tmp_path: Path, model: str, env: dict[str, str] | None = None):
    return bridge("prove", "demo", "--limit", "1", "--samples", "1", "--model", model, "--run-dir",
                  str(tmp_path / "run"), "--repl-cmd", fake_repl_cmd(), "--no-cache", env=env, timeout=120)


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "Retrying" not in stderr
    assert stderr.count("bridge: error:") == 1
    assert "--endpoint URL" in stderr and "local model directory" in stderr and "HF_HUB_OFFLINE=1" in stderr


def test_wrong_local_path(tmp_path: Path) -> None:
    r = _prove(tmp_path, str(tmp_path / "no" / "such-model"))
    assert r.returncode == 3 and "no such directory" in r.stderr, r.stderr
    _clean(r.stderr)
    # nothing was recorded: fixing --model and rerunning with the same --run-dir is not refused
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0
    not_a_model = tmp_path / "empty-dir"
    not_a_model.mkdir()
    r = _prove(tmp_path, str(not_a_model))
    assert r.returncode == 3 and "no config.json" in r.stderr
    _clean(r.stderr)


def test_hub_model_not_cached_offline(tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    start = time.monotonic()
    r = _prove(tmp_path, "bridge-tests/no-such-model", env=env)
    assert r.returncode == 3 and "not in the Hugging Face cache" in r.stderr, r.stderr
    _clean(r.stderr)
    assert time.monotonic() - start < 60  # no retries (imports and the fake REPL's start only)


def test_unreachable_hub_fails_before_transformers_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge import models as hf  # where the model's source is decided

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hf, "_in_hub_cache", lambda model: False)
    monkeypatch.setattr(hf, "_hub_unreachable", lambda timeout=3.0: "huggingface.co:443 cannot be reached (test)")
    with pytest.raises(SetupError) as e:
        hf.model_source("org/model")
    assert "cannot be reached" in str(e.value) and "--endpoint URL" in str(e.value)
    # a cached model is loaded from the cache, without the hub client's retries
    monkeypatch.setattr(hf, "_in_hub_cache", lambda model: True)
    assert hf.model_source("org/model") == ("org/model", True)
    monkeypatch.setattr(hf, "_hub_unreachable", lambda timeout=3.0: None)
    assert hf.model_source("org/model") == ("org/model", False)
