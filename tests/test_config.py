"""The one configuration: file < BRIDGE_* environment < flags; errors name the file, key and type."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_precedence_file_env_flag(tmp_path: Path) -> None:
    p = write(tmp_path, 'workers = 3\ntimeout = 10\nrepl_cmd = "from-file"\ndata_dir = "/data/file"\n')
    cfg = load_config(p, environ={})
    assert (cfg.workers, cfg.timeout, cfg.repl_cmd, cfg.data_dir) == (3, 10.0, "from-file", Path("/data/file"))
    env = {"BRIDGE_WORKERS": "5", "BRIDGE_REPL_CMD": "from-env", "BRIDGE_SANDBOX": "false"}
    cfg = load_config(p, environ=env)
    assert (cfg.workers, cfg.timeout, cfg.repl_cmd, cfg.sandbox) == (5, 10.0, "from-env", False)
    cfg = load_config(p, environ=env, overrides={"workers": 7, "repl_cmd": None, "timeout": 2.5})
    assert (cfg.workers, cfg.timeout, cfg.repl_cmd) == (7, 2.5, "from-env")


def test_default_file_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg" / "bridge").mkdir(parents=True)
    (tmp_path / "cfg" / "bridge" / "config.toml").write_text("workers = 9\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert load_config().workers == 9
    monkeypatch.setenv("BRIDGE_CONFIG", str(write(tmp_path, "workers = 4\n")))
    assert load_config().workers == 4


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, "wokers = 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, environ={})
    assert str(p) in str(e.value) and "'wokers'" in str(e.value) and "workers" in str(e.value)


@pytest.mark.parametrize("line,key,typ", [('workers = "four"', "workers", "integer"),
                                          ("sandbox = 1", "sandbox", "boolean"),
                                          ("data_dir = 3", "data_dir", "path"),
                                          ("timeout = true", "timeout", "number")])
def test_wrong_type_names_file_key_and_type(tmp_path: Path, line: str, key: str, typ: str) -> None:
    p = write(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, environ={})
    msg = str(e.value)
    assert str(p) in msg and f"'{key}'" in msg and typ in msg


def test_bad_environment_value_is_named() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(environ={"BRIDGE_WORKERS": "many"})
    assert "BRIDGE_WORKERS" in str(e.value)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.toml", environ={})


def test_invalid_toml_is_named(tmp_path: Path) -> None:
    p = write(tmp_path, "workers = = 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, environ={})
    assert str(p) in str(e.value)


def test_documented_config_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = load_config(write(tmp_path, block), environ={})
    assert cfg.workers == 8 and cfg.max_heartbeats == 400000


@pytest.mark.parametrize("where,value", [("overrides", -1), ("env", "-3"), ("toml", "-3")])
def test_numbers_are_validated_wherever_they_come_from(tmp_path: Path, where: str, value) -> None:
    kw: dict = {"environ": {}}
    if where == "overrides":
        kw["overrides"] = {"workers": value}
    elif where == "env":
        kw["environ"] = {"BRIDGE_WORKERS": value}
    else:
        kw["path"] = write(tmp_path, f"workers = {value}\n")
    with pytest.raises(ConfigError) as e:
        load_config(**kw)
    msg = str(e.value)
    assert "'workers' must be an integer >= 0" in msg
    assert {"overrides": "--workers", "env": "BRIDGE_WORKERS", "toml": "config.toml"}[where] in msg


def test_override_types_are_checked_at_once() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"workers": "x"}, environ={})
    assert "'workers'" in str(e.value) and "integer" in str(e.value)
    with pytest.raises(ConfigError):
        load_config(overrides={"timeout": -5}, environ={})
    with pytest.raises(ConfigError):
        load_config(overrides={"transport": "tty"}, environ={})


def test_config_path_messages_say_where_the_path_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nosuch.toml", environ={})
    assert "--config" in str(e.value) and "BRIDGE_CONFIG" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(environ={"BRIDGE_CONFIG": str(tmp_path / "nosuch.toml")})
    assert "BRIDGE_CONFIG" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path, environ={})
    assert "is a directory" in str(e.value)


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    p = write(tmp_path, "workers = 3\ntimeout = = 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, environ={})
    assert "line 2" in str(e.value) and "column" in str(e.value)
