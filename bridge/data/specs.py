"""Dataset specs: one TOML file per named dataset in the repository's ``datasets/`` folder."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bridge.errors import ConfigError, InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"

DEFAULT_FIELDS = {
    "id": "name", "split": "split", "header": "header", "formal_statement": "formal_statement",
    "informal_statement": "informal_prefix", "informal_solution": "informal_solution",
}


@dataclass
class DatasetSpec:
    name: str
    description: str
    file: str  # path relative to the data directory (or to datasets/ for built-in sets)
    splits: list[str]
    license: str
    lean_version: str
    source_url: str | None = None
    source_sha256: str | None = None
    hub_id: str | None = None
    hub_revision: str | None = None
    builtin: bool = False
    informal_only: bool = False  # informal statements only (input for autoformalization)
    header_definitions: bool = False  # headers may define things (ProofNet's do)
    duplicate_ids: str = "error"  # or "hash-suffix": NAME@<sha256(statement)[:8]> for repeated names
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    default_header: str = "import Mathlib\n"
    band_rules: dict[str, str] = field(default_factory=dict)  # name prefix -> band
    default_band: str | None = None
    notes: str = ""
    spec_path: Path | None = None

    @property
    def source(self) -> str:
        if self.builtin:
            return "built-in"
        if self.hub_id:
            return f"hf:{self.hub_id}" + (f"@{self.hub_revision}" if self.hub_revision else "")
        return self.source_url or "unknown"


def load_spec(path: Path) -> DatasetSpec:
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: unreadable dataset spec: {e}") from None
    src = d.pop("source", {}) or {}
    fields_ = {**DEFAULT_FIELDS, **d.pop("fields", {})}
    bands = d.pop("bands", {}) or {}
    try:
        return DatasetSpec(
            source_url=src.get("url"), source_sha256=src.get("sha256"), hub_id=src.get("hub_id"),
            hub_revision=src.get("revision"), fields=fields_, band_rules=bands.get("prefix", {}),
            default_band=bands.get("default"), spec_path=path, **d,
        )
    except TypeError as e:
        raise ConfigError(f"{path}: invalid dataset spec: {e}") from None


def all_specs(directory: Path = DATASETS_DIR) -> dict[str, DatasetSpec]:
    specs = {}
    for p in sorted(directory.glob("*.toml")):
        s = load_spec(p)
        specs[s.name] = s
    return specs


def get_spec(name: str) -> DatasetSpec:
    specs = all_specs()
    if name not in specs:
        raise InputError(f"unknown dataset {name!r}",
                         f"known datasets: {', '.join(sorted(specs))}; or give a path to a JSONL file")
    return specs[name]


def generic_spec(path: Path) -> DatasetSpec:
    """The rules for a file that belongs to no named dataset."""
    return DatasetSpec(name=path.stem, description="", file=path.name, splits=[], license="", lean_version="")


def spec_for_file(path: Path, specs: dict[str, DatasetSpec] | None = None) -> tuple[DatasetSpec, str] | None:
    """The named dataset a file given by path is a copy of, and how that was seen: ``"content"`` (its
    sha256 is the one the spec pins, or it is the built-in file) or ``"file name"`` (it is named like the
    spec's file, e.g. ``proofnet.jsonl``). By path and by name then check and load with the same rules."""
    specs = all_specs() if specs is None else specs
    digest: str | None = None
    for spec in specs.values():
        pinned = spec.source_sha256
        if spec.builtin:
            builtin = DATASETS_DIR / spec.file
            pinned = hashlib.sha256(builtin.read_bytes()).hexdigest() if builtin.is_file() else None
        if not pinned:
            continue
        if digest is None:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                return None
        if digest == pinned:
            return spec, "content"
    for spec in specs.values():
        # a built-in set is known by its content only: its defaults (e.g. `import Init`) are its own
        if not spec.builtin and Path(spec.file).name == path.name:
            return spec, "file name"
    return None
