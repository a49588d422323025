"""Cascade as two ends: against an independent simulation, and hostile answers refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.security.cascade import (
    MAX_PASSES,
    CascadeAlice,
    CascadeBob,
    ParityQuery,
    cascade_in_process,
    check_query,
    first_block_size,
    pass_order,
)

T = 50


def _by_error_positions(
    alice: np.ndarray, bob: np.ndarray, qber: float, rng: np.random.Generator
) -> tuple[np.ndarray, int, int, int, bool]:
    """Independent reference: the parities of the *disagreement* (never either string),
    evaluated from the error positions under each pass's permutation, strings compared
    directly instead of hashed (the simulation this protocol replaced)."""
    n = alice.size
    fixed = bob.copy()
    block = max(4, math.ceil(0.73 / max(qber, 1e-4)))
    leaked = rounds = 0
    for p in range(MAX_PASSES):
        order = pass_order(p, n, rng)
        err = np.flatnonzero(alice != fixed)
        if order is None:
            pos = err
        else:
            inverse = np.empty(n, np.int64)
            inverse[order] = np.arange(n)
            pos = inverse[err]
        sort = np.argsort(pos, kind="stable")
        pos, err = pos[sort], err[sort]
        size = min(block, n)
        leaked += -(-n // size)
        rounds += 1
        odd = np.flatnonzero(np.bincount(pos // size, minlength=-(-n // size)) & 1)
        lo = odd * size
        hi = np.minimum(lo + size, n)
        while lo.size and (hi - lo > 1).any():
            active = hi - lo > 1
            mid = (lo + hi) // 2
            left_odd = (np.searchsorted(pos, mid) - np.searchsorted(pos, lo)) & 1 == 1
            leaked += int(active.sum())
            rounds += 1
            hi = np.where(active & left_odd, mid, hi)
            lo = np.where(active & ~left_odd, mid, lo)
        fixed[err[np.searchsorted(pos, lo)]] ^= 1
        block = min(2 * block, max(8, n // 4))
        if p >= 3:
            leaked += T
            if np.array_equal(fixed, alice):
                return fixed, leaked, p + 1, rounds, True
    return fixed, leaked, MAX_PASSES, rounds, False


@pytest.mark.parametrize(("n", "q", "seed"), [(1, 0.5, 0), (37, 0.2, 1), (5000, 0.01, 2),
                                              (20_000, 0.05, 3), (20_000, 0.1, 4)])  # fmt: skip
def test_the_exchange_equals_an_error_position_simulation(n: int, q: float, seed: int) -> None:
    # Prepare: a correlated pair of strings; both runs get equal generators
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, n, dtype=np.uint8)
    bob = alice ^ (rng.random(n) < q).astype(np.uint8)
    # Execute
    ends = cascade_in_process(alice, bob, qber=q, hash_bits=T, rng=np.random.default_rng(99))
    fixed, leaked, passes, rounds, ok = _by_error_positions(
        alice, bob, q, np.random.default_rng(99)
    )
    # Assert: the same corrections, leakage, passes, round trips and outcome
    np.testing.assert_array_equal(ends.corrected, fixed)
    assert (ends.leaked_bits, ends.passes, ends.rounds, ends.success) == (
        leaked, passes, rounds, ok
    )  # fmt: skip
    if ok:
        np.testing.assert_array_equal(ends.corrected, alice)


def test_alice_answers_only_what_is_asked_and_the_hash_once() -> None:
    # Prepare: equal strings (nothing to correct): every pass asks block parities only
    bits = np.random.default_rng(1).integers(0, 2, 1000, dtype=np.uint8)
    bob = CascadeBob(bits, qber=0.01, hash_bits=T, rng=np.random.default_rng(2))
    alice = CascadeAlice(bits, hash_bits=T)
    queries = []
    # Execute
    while bob.query is not None:
        queries.append(bob.query)
        bob.take(*alice.answer(bob.query, bob.order))
    # Assert: 4 passes of block parities (73, then 146, 250, 250 bits), hash asked in pass 3
    assert bob.success and bob.passes == 4 and bob.rounds == 4
    assert [q.lo.size for q in queries] == [14, 7, 4, 4]
    assert first_block_size(0.01) == 73
    assert [q.want_hash for q in queries] == [False, False, False, True]
    assert bob.leaked_bits == 14 + 7 + 4 + 4 + T


def test_hostile_answers_and_queries_raise_one_clear_error() -> None:
    bits = np.zeros(100, np.uint8)
    bob = CascadeBob(bits, qber=0.05, hash_bits=T, rng=np.random.default_rng(0))
    assert bob.query is not None
    with pytest.raises(InputError, match="parity bits"):
        bob.take(np.zeros(bob.query.lo.size + 1, np.uint8))
    with pytest.raises(InputError, match="parity bits"):
        bob.take(np.full(bob.query.lo.size, 2, np.uint8))
    lo = np.array([0, 5], np.int64)
    for bad_lo, bad_hi in [(lo, np.array([5, 101], np.int64)), (lo, lo),
                           (lo.astype(np.int32), lo + 1), (np.zeros(101, np.int64),
                                                           np.ones(101, np.int64))]:  # fmt: skip
        with pytest.raises(InputError, match="parity ranges"):
            check_query(ParityQuery(0, bad_lo, bad_hi, False), 100)
    with pytest.raises(InputError, match="pass_index"):
        check_query(ParityQuery(MAX_PASSES, lo, lo + 1, False), 100)
