"""pass@k against brute-force enumeration over subsets."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.eval.passk import default_ks, mean_pass_at_k, pass_at_k, pass_at_k_exact


def brute(n: int, c: int, k: int) -> Fraction:
    items = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(items[i] for i in s) for s in subsets), len(subsets))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_brute_force(t: tuple[int, int, int]) -> None:
    n, c, k = t
    want = float(brute(n, c, k))
    assert pass_at_k(n, c, k) == pytest.approx(want, abs=1e-12)
    assert pass_at_k_exact(n, c, k) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("n", [1, 4, 64, 3000])
def test_edges(n: int) -> None:
    assert pass_at_k(n, 0, 1) == 0.0 and pass_at_k(n, 0, n) == 0.0
    assert pass_at_k(n, n, 1) == 1.0 and pass_at_k(n, n, n) == 1.0
    assert pass_at_k(n, 1, n) == 1.0  # n = k: solved iff any sample is correct
    if n > 1:
        assert pass_at_k(n, 1, 1) == pytest.approx(1 / n)


def test_invalid() -> None:
    for args in [(4, 5, 1), (4, 1, 0), (4, 1, 5), (4, -1, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(*args)


def test_means_and_ks() -> None:
    assert default_ks(64) == [1, 8, 32, 64] and default_ks(4) == [1, 4] and default_ks(1) == [1]
    assert mean_pass_at_k([(4, 0), (4, 4)], 1) == 0.5
    assert mean_pass_at_k([(2, 1)], 4) is None
