"""bridge: informal mathematics meets Lean 4.

The public Python API for verification lives in :mod:`bridge.verify.api`::

    from bridge import Verifier, load_config
"""

from bridge.config import BridgeConfig, load_config  # noqa: E402
from bridge.verify.api import Verifier  # noqa: E402
from bridge.version import __version__  # noqa: E402

__all__ = ["BridgeConfig", "Verifier", "load_config", "__version__"]
