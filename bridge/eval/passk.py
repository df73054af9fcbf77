"""pass@k: the unbiased estimator of Chen et al. (2021), and the per-group means reported."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct.

    ``1 - C(n-c, k) / C(n, k)``, computed as a product so it stays exact in floating point for n in the
    thousands.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prob_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_wrong *= 1.0 - k / i
    return 1.0 - prob_all_wrong


def pass_at_k_exact(n: int, c: int, k: int) -> float:
    """The same quantity with integer binomials (for tests and small n)."""
    return 1.0 - comb(n - c, k) / comb(n, k)


def default_ks(n_samples: int) -> list[int]:
    return sorted({k for k in (1, 8, 32, n_samples) if 1 <= k <= n_samples})


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float | None:
    """Mean over problems of pass@k; problems with fewer than k samples are left out (None if none left)."""
    vals = [pass_at_k(n, c, k) for n, c in counts if n >= k]
    return sum(vals) / len(vals) if vals else None


def bootstrap_ci(values: Sequence[float], resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the mean of ``values`` (one per problem) under resampling problems with
    replacement; seeded, so a report is reproducible. None without values.

    The interval is over problems only: it says how much the figure would move on another draw of
    problems like these, not how much the model's sampling varies within a problem.
    """
    if not values:
        return None
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"need 0 < level < 1 and resamples >= 1, got {level}, {resamples}")
    import numpy as np  # a dependency of matplotlib, which the report needs anyway

    vals = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = vals[rng.integers(0, len(vals), size=(resamples, len(vals)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
