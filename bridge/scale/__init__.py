"""The verification pool on a Ray cluster (``--ray ADDRESS``): the interface of ``bridge.lean.pool``.

Nothing here imports Ray until a pool starts or a cluster is probed: ``pool.RayPool`` (the driver),
``worker`` (what each actor is: one worker of the local pool), ``actors`` (the Ray classes, imported
only then), ``nodes`` (which nodes can verify; ``bridge doctor --ray``), ``policy`` (pure decisions).
"""

from __future__ import annotations

from bridge.scale.pool import ClusterLost, RayPool, limits_from, make_verifier, ray_pool_for

__all__ = ["ClusterLost", "RayPool", "limits_from", "make_verifier", "ray_pool_for"]
