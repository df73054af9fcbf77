"""The one typed configuration: TOML file < ``BRIDGE_*`` environment variables < command-line flags.

The file is ``$BRIDGE_CONFIG`` if set, else ``$XDG_CONFIG_HOME/bridge/config.toml``
(``~/.config/bridge/config.toml``); a missing default file is fine, a missing explicit one is an error.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bridge"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "bridge" / "config.toml"


def _default_workers() -> int:
    """A Mathlib REPL holds several GB: one worker per core, but no more than memory / 8 GB."""
    cores = os.cpu_count() or 1
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):  # pragma: no cover
        mem_gb = 8.0
    return max(1, min(cores, int(mem_gb // 8)))


@dataclass
class BridgeConfig:
    """Every setting of bridge. Field names are the TOML keys; ``BRIDGE_<NAME>`` overrides each."""

    lean_project: Path | None = None  # a Lake project with Mathlib and the REPL; None: the repository's own
    repl_cmd: str | None = None  # any command speaking the REPL protocol, split as a shell would
    workers: int = 0  # 0: chosen from cores and memory
    timeout: float = 300.0  # wall-clock seconds per candidate
    header_timeout: float = 900.0  # wall-clock seconds to elaborate one header (import Mathlib, cold)
    memory_limit_mb: int = 16384  # a worker above this is killed (RSS of its process tree)
    recycle_after: int = 2000  # requests before a worker is replaced (the REPL keeps every env)
    recycle_memory_mb: int = 10240  # a worker above this between requests is replaced
    max_heartbeats: int | None = None  # appended to every header as `set_option maxHeartbeats N`
    queue_size: int = 256  # candidates waiting in the pool at most
    data_dir: Path | None = None  # where dataset files are looked for before the cache and the network
    cache_dir: Path = field(default_factory=_default_cache_dir)
    use_cache: bool = True
    sandbox: bool = True  # run Lean under bubblewrap
    sandbox_paths: str | None = None  # more read-only paths inside the sandbox, separated by ":"
    strict: bool = False  # replay every proved candidate in the kernel (lean4checker)
    allow_native_decide: bool = False
    allow_fast_gate: bool = False  # accept a stand-in REPL that gives `#print axioms` no answer (not Lean)
    count_fast_gate: bool = False  # count such fast-gate `proved` verdicts as solved in prove/report
    # how answers come back: "auto" (pipes when the project's REPL flushes, see bridge/lean/flush_backport.py;
    # else a pty), "pty" (works for every REPL, also v4.9.0 unpatched, which never flushes) or "pipe"
    transport: str = "auto"
    address_space_mb: int = 0  # sandbox RLIMIT_AS per process; 0: max(32768, 2 x memory_limit_mb)
    max_processes: int = 1024  # sandbox RLIMIT_NPROC (threads count too); 0: no limit
    max_file_mb: int = 1024  # sandbox RLIMIT_FSIZE: no file (or memfd) a candidate writes grows past it
    lean_version: str | None = None  # reported with each verdict; read from the project when unset
    verbose: bool = False  # a REPL that cannot start: show the full command line (the sandbox's bwrap one)
    ray: str | None = None  # a Ray cluster's address ("auto", "HOST:PORT", "ray://HOST:PORT"; "local" starts
    #                         one here): one actor per worker there (bridge.scale); None: the local pool

    def resolved_workers(self) -> int:
        return self.workers if self.workers > 0 else _default_workers()

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = str(v) if isinstance(v, Path) else v
        return out


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(BridgeConfig)
    return {f.name: hints[f.name] for f in fields(BridgeConfig)}


def _base_type(tp: Any) -> tuple[type, bool]:
    """(the concrete type, whether None is allowed) of a field annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _type_name(tp: type) -> str:
    return {int: "integer", float: "number", bool: "boolean", str: "string", Path: "path (string)"}[tp]


def _coerce(value: Any, tp: Any, where: str, key: str) -> Any:
    """Convert a TOML value to the field's type, or raise a ConfigError naming where, key and type."""
    base, optional = _base_type(tp)
    if value is None and optional:
        return None
    ok = (
        (base is bool and isinstance(value, bool))
        or (base is int and isinstance(value, int) and not isinstance(value, bool))
        or (base is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (base in (str, Path) and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(
            f"{where}: key '{key}' expects {_type_name(base)}, got {type(value).__name__} {value!r}",
            f"fix '{key}' in {where}" if where != "setting" else f"give '{key}' {_type_name(base)}",
        )
    if base is Path:
        return Path(value).expanduser()
    if base is float:
        return float(value)
    return value


def _parse_env(raw: str, tp: Any, var: str) -> Any:
    base, optional = _base_type(tp)
    if optional and raw.strip().lower() in ("", "none"):
        return None
    try:
        if base is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if base is int:
            return int(raw)
        if base is float:
            return float(raw)
        if base is Path:
            return Path(raw).expanduser()
        return raw
    except ValueError:
        raise ConfigError(
            f"environment variable {var}: expects {_type_name(base)}, got {raw!r}", f"fix or unset {var}"
        ) from None


# Allowed values of each number (and of the one choice), checked wherever a value comes from.
_RANGES: dict[str, tuple[str, typing.Callable[[Any], bool]]] = {
    "workers": ("an integer >= 0 (0: from cores and memory)", lambda v: v >= 0),
    "timeout": ("a number of seconds > 0", lambda v: v > 0),
    "header_timeout": ("a number of seconds > 0", lambda v: v > 0),
    "memory_limit_mb": ("an integer >= 0 (0: no limit)", lambda v: v >= 0),
    "recycle_after": ("an integer >= 1", lambda v: v >= 1),
    "recycle_memory_mb": ("an integer >= 0", lambda v: v >= 0),
    "max_heartbeats": ("an integer >= 0 (0: no limit)", lambda v: v >= 0),
    "queue_size": ("an integer >= 1", lambda v: v >= 1),
    "address_space_mb": ("an integer >= 0 (0: derived from memory_limit_mb)", lambda v: v >= 0),
    "max_processes": ("an integer >= 0 (0: no limit)", lambda v: v >= 0),
    "max_file_mb": ("an integer >= 0 (0: no limit)", lambda v: v >= 0),
    "transport": ('"auto", "pty" or "pipe"', lambda v: v in ("auto", "pty", "pipe")),
    "ray": ('a Ray address ("auto", "HOST:PORT", "ray://HOST:PORT", "local")', lambda v: bool(v.strip())),
}


def _check_range(key: str, value: Any, where: str, fix: str) -> None:
    rule = _RANGES.get(key)
    if rule is not None and value is not None and not rule[1](value):
        raise ConfigError(f"{where}: '{key}' must be {rule[0]}, got {value!r}", fix)


def _toml_error(path: Path, e: Exception) -> ConfigError:
    # tomllib's message already ends in "(at line L, column C)"; say it plainly either way
    return ConfigError(f"{path}: not valid TOML: {e}", f"fix the syntax at the line and column named, in {path}")


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> BridgeConfig:
    """Build the configuration: defaults < file < ``BRIDGE_*`` environment < ``overrides`` (flags).

    ``overrides`` entries that are None are ignored, so argparse defaults of None mean "not given".
    Every value is checked for its type and range where it came from: the file (and key), the
    environment variable, or the override.
    """
    env = os.environ if environ is None else environ
    types_ = _field_types()
    cfg = BridgeConfig()
    if path is not None:
        source = "given with --config"
    elif "BRIDGE_CONFIG" in env:
        source = "named by BRIDGE_CONFIG"
    else:
        source = None
    file_path = Path(path or env.get("BRIDGE_CONFIG") or default_config_path()).expanduser()
    values: dict[str, Any] = {}
    if file_path.is_dir():
        raise ConfigError(f"configuration file {file_path} ({source or 'default'}) is a directory",
                          "point it at a TOML file")
    if file_path.is_file():
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{file_path}: not UTF-8 text", "save the file as UTF-8") from None
        except tomllib.TOMLDecodeError as e:
            raise _toml_error(file_path, e) from None
        for key, value in data.items():
            if key not in types_:
                raise ConfigError(
                    f"{file_path}: unknown key '{key}'",
                    f"remove it; known keys are: {', '.join(sorted(types_))}",
                )
            values[key] = _coerce(value, types_[key], str(file_path), key)
            _check_range(key, values[key], str(file_path), f"fix '{key}' in {file_path}")
    elif source is not None:
        fix = ("create it, or drop --config" if path is not None else "create it, or unset BRIDGE_CONFIG")
        raise ConfigError(f"configuration file {file_path} ({source}) does not exist", fix)
    for key, tp in types_.items():
        var = "BRIDGE_" + key.upper()
        if var in env:
            values[key] = _parse_env(env[var], tp, var)
            _check_range(key, values[key], f"environment variable {var}", f"fix or unset {var}")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in types_:
            raise ConfigError(f"unknown setting '{key}'", f"known settings are: {', '.join(sorted(types_))}")
        base, _ = _base_type(types_[key])
        if base is Path and isinstance(value, (str, Path)):
            value = Path(value).expanduser()
        else:
            value = _coerce(value, types_[key], "setting", key)
        flag = "--" + key.replace("_", "-")
        _check_range(key, value, f"setting '{key}' ({flag})", f"give {flag} an allowed value")
        values[key] = value
    return dataclasses.replace(cfg, **values)
