"""The sandbox settings that come from the configuration: extra read-only paths and the rlimits.

They live with the sandbox (not with the verifier) so that every caller that starts a sandboxed Lean
process (the REPL pool, the strict rebuild and checker, ``bridge doctor``) reads them the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from bridge.config import BridgeConfig
from bridge.lean.sandbox import SandboxLimits


def extra_sandbox_paths(cfg: BridgeConfig) -> list[Path]:
    """``sandbox_paths``: more read-only paths a REPL needs (a toolchain outside ~/.elan, a stand-in's files)."""
    return [Path(p).expanduser() for p in (cfg.sandbox_paths or "").split(os.pathsep) if p.strip()]


def sandbox_limits(cfg: BridgeConfig) -> SandboxLimits:
    """Kernel-enforced limits for a sandboxed Lean process, from the configuration."""
    # Lean maps every imported .olean into memory (Mathlib's are several GB at v4.9): the address-space
    # limit sits well above the RSS limit, which the pool polls separately
    address = cfg.address_space_mb or max(32768, 2 * (cfg.memory_limit_mb or 0))
    return SandboxLimits(address_space_mb=address, processes=cfg.max_processes or None,
                         file_size_mb=cfg.max_file_mb or None)
