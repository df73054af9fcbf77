"""The library contracts the training code is written for (issue 26): an upgrade outside them fails here,
not in the middle of a run.

* pyproject.toml's ranges for transformers, trl and peft hold the installed versions;
* transformers reads ``warmup_steps`` below 1 as a ratio of the steps (5.x; 4.x takes it for 0 steps),
  which ``LoraSFTConfig.warmup = 0.03`` relies on;
* ``from_pretrained(dtype=...)`` is the keyword the loaders use."""

from __future__ import annotations

import inspect
import re
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytest.importorskip("transformers")


def _ranges() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]["ml"]
    out = {}
    for d in deps:
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", d)
        assert m, d
        out[m.group(1).lower()] = m.group(2).split(";")[0].strip()
    return out


@pytest.mark.parametrize("name", ["transformers", "trl", "peft"])
def test_installed_versions_are_inside_the_pinned_ranges(name: str) -> None:
    from packaging.specifiers import SpecifierSet

    spec = _ranges()[name]
    assert spec, f"{name} has no version range in pyproject.toml"
    assert version(name) in SpecifierSet(spec), f"{name} {version(name)} is outside pyproject.toml's {spec}"


def test_transformers_range_excludes_4x() -> None:
    from packaging.specifiers import SpecifierSet

    assert "4.56.2" not in SpecifierSet(_ranges()["transformers"])


def test_warmup_below_one_is_a_ratio_of_the_steps() -> None:
    from transformers import TrainingArguments

    from bridge.train.sft import LoraSFTConfig

    warmup = LoraSFTConfig().warmup
    assert 0 < warmup < 1
    args = TrainingArguments(output_dir=str(Path("/nonexistent-unused")), warmup_steps=warmup, use_cpu=True,
                             report_to="none")
    assert args.get_warmup_steps(100) == 3  # ceil(100 * 0.03), not 0
    assert TrainingArguments(output_dir="/nonexistent-unused", warmup_steps=7, use_cpu=True,
                             report_to="none").get_warmup_steps(100) == 7


def test_from_pretrained_takes_dtype() -> None:
    from transformers import PreTrainedModel

    params = inspect.signature(PreTrainedModel.from_pretrained).parameters
    assert "dtype" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    src = inspect.getsource(PreTrainedModel.from_pretrained)
    assert "dtype" in src
