"""Finding and loading a dataset: explicit path, then the data directory, then the cache, then its
public source (a pinned URL checked against its sha256, or a Hugging Face hub id through ``datasets``).
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bridge import jsonl
from bridge.config import BridgeConfig
from bridge.data.bands import apply_bands
from bridge.data.problem import Problem
from bridge.data.specs import DATASETS_DIR, DatasetSpec, generic_spec, get_spec, spec_for_file
from bridge.data.validate import parse_rows, refuse_bad_rows
from bridge.errors import InputError


@dataclass
class Resolved:
    path: Path
    how: str  # "explicit" | "data-dir" | "cache" | "download" | "built-in"


def candidates_paths(spec: DatasetSpec, cfg: BridgeConfig) -> list[tuple[Path, str]]:
    if spec.builtin:
        return [(DATASETS_DIR / spec.file, "built-in")]
    out = []
    if cfg.data_dir is not None:
        out.append((Path(cfg.data_dir) / spec.file, "data-dir"))
    out.append((Path(cfg.cache_dir) / "datasets" / spec.file, "cache"))
    return out


def _download(spec: DatasetSpec, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    if spec.source_url:
        with urllib.request.urlopen(spec.source_url, timeout=60) as r:  # noqa: S310 - pinned https URL
            data = r.read()
        got = hashlib.sha256(data).hexdigest()
        if spec.source_sha256 and got != spec.source_sha256:
            raise InputError(f"{spec.name}: downloaded file has sha256 {got}, the spec pins {spec.source_sha256}",
                             f"the source changed; check {spec.source_url}")
        tmp.write_bytes(data)
    elif spec.hub_id:
        import datasets as hf  # the Hugging Face library (not this repository's datasets/ folder)

        ds = hf.load_dataset(spec.hub_id, revision=spec.hub_revision)
        with open(tmp, "w", encoding="utf-8") as f:
            for split, part in ds.items():
                for row in part:
                    row = dict(row)
                    row.setdefault("split", split)
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise InputError(f"{spec.name}: the spec names no downloadable source")
    tmp.replace(dest)


def resolve(spec: DatasetSpec, cfg: BridgeConfig, path: str | Path | None = None, download: bool = True) -> Resolved:
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: no such file", "give an existing JSONL file")
        return Resolved(p, "explicit")
    tried = candidates_paths(spec, cfg)
    for p, how in tried:
        if p.is_file():
            return Resolved(p, how)
    if spec.builtin:
        raise InputError(f"{spec.name}: built-in file {tried[0][0]} is missing", "reinstall bridge from a clone")
    cache_path = Path(cfg.cache_dir) / "datasets" / spec.file
    where = ", ".join(str(p) for p, _ in tried)
    if download and (spec.source_url or spec.hub_id):
        try:
            _download(spec, cache_path)
            return Resolved(cache_path, "download")
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - offline, hub errors: all become the same next step
            raise InputError(
                f"{spec.name}: no local copy (looked in {where}) and the download from {spec.source} failed: "
                f"{type(e).__name__}: {str(e)[:200]}",
                f"download {spec.source_url or spec.hub_id} yourself and put it at {cache_path}, "
                "or point --data-dir (BRIDGE_DATA_DIR) at a directory holding " + spec.file,
            ) from None
    raise InputError(f"{spec.name}: no local copy (looked in {where})",
                     f"get it from {spec.source} and put it at {cache_path}, or set --data-dir")


def read_problems(path: Path, spec: DatasetSpec) -> list[Problem]:
    """Every problem of a file, or InputError listing the bad rows as FILE:LINE: reason (never half-loads)."""
    problems, errors = parse_rows(jsonl.read_lines(path), spec)
    refuse_bad_rows(path, errors, f"fix the rows (`bridge data check {path}` lists them all)")
    return problems


def looks_like_path(name_or_path: str) -> bool:
    """A dataset argument that names a file rather than a dataset (names have no slash nor suffix)."""
    p = Path(name_or_path)
    return (p.suffix in (".jsonl", ".json") or "/" in name_or_path or name_or_path.startswith(("~", "."))
            or p.is_file())


def spec_for_path(path: Path) -> DatasetSpec:
    """The spec a file given by path is read with: the named dataset it is a copy of, else the generic one."""
    found = spec_for_file(path)
    return found[0] if found else generic_spec(path)


def load_dataset(name_or_path: str, cfg: BridgeConfig, split: str | None = None,
                 path: str | Path | None = None, download: bool = True) -> list[Problem]:
    """Problems of a named dataset (or of a JSONL file, read with the rules of the named dataset it is a
    copy of, else the generic ones), in file order."""
    p = Path(name_or_path)
    if path is None and looks_like_path(name_or_path):
        res = resolve(generic_spec(p), cfg, path=p)
        spec = spec_for_path(p)
    else:
        spec = get_spec(name_or_path)
        res = resolve(spec, cfg, path=path, download=download)
    problems = read_problems(res.path, spec)
    if split is not None:
        problems = [x for x in problems if x.split == split]
    apply_bands(problems, spec, cfg)
    return problems
