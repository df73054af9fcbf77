"""Ray is an optional extra: without ``--ray`` nothing of Ray is imported (this runs without Ray too)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, fake_repl_cmd

SCRIPT = r"""
import json, sys
import bridge, bridge.cli.main, bridge.verify.api, bridge.scale, bridge.scale.nodes, bridge.scale.policy
from bridge import Verifier, load_config
from bridge.verify.candidate import from_parts
cfg = load_config(overrides={"repl_cmd": sys.argv[1], "workers": 2, "timeout": 5, "sandbox": False,
                             "use_cache": False, "lean_version": "v4.33.0-fake"})
with Verifier(cfg) as v:
    got = [x.verdict for x in v.verify([from_parts("p", None, "theorem t : True := by\n", "  trivial")])]
print(json.dumps({"verdicts": got, "ray": sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))}))
"""


def test_nothing_of_ray_is_imported_without_ray() -> None:
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT, fake_repl_cmd()], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"verdicts": ["proved"], "ray": []}


def test_verify_knows_no_ray_and_make_verifier_hands_it_the_pool(fake_cfg) -> None:
    import dataclasses

    import pytest

    from bridge.errors import ConfigError
    from bridge.scale import make_verifier, ray_pool_for
    from bridge.verify.api import Verifier

    on_ray = dataclasses.replace(fake_cfg(sandbox=False), ray="local")
    with pytest.raises(ConfigError, match="make_verifier"):
        Verifier(on_ray)  # asked for a cluster, given none: refused, never checked locally instead
    with make_verifier(on_ray) as v:
        assert v.pool_factory is ray_pool_for
    with make_verifier(fake_cfg(sandbox=False)) as v:
        assert v.pool_factory is None
