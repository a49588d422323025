"""Partitions: deterministic from the seed, disjoint, covering; the skew each scheme promises."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from qtfl.errors import InputError
from qtfl.fl.partition import PARTITION_SCHEMES, Partition, partition

BALANCED = np.repeat(np.arange(10), 600)  # 6,000 labels, 600 per class, sorted


def _check_partition(p: Partition, labels: np.ndarray, num_clients: int) -> None:
    """Disjoint, covering, and the reported sizes/histograms match the indices."""
    assert p.num_clients == num_clients
    joined = np.concatenate(p.indices)
    np.testing.assert_array_equal(np.sort(joined), np.arange(labels.size))  # disjoint + cover
    for i, (idx, size, hist) in enumerate(zip(p.indices, p.sizes, p.label_histograms, strict=True)):
        assert idx.dtype == np.int64, i
        assert np.all(np.diff(idx) > 0), i  # sorted, no repeats
        assert size == idx.size
        np.testing.assert_array_equal(hist, np.bincount(labels[idx], minlength=p.num_classes))


def _mean_tv_from_global(p: Partition) -> float:
    """Mean over clients of the total-variation distance of their label mix from the global one."""
    local = p.label_histograms / p.sizes[:, None]
    overall = p.label_histograms.sum(axis=0) / p.sizes.sum()
    return float(0.5 * np.abs(local - overall).sum(axis=1).mean())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400),
    num_classes=st.integers(1, 12),
    num_clients=st.integers(1, 40),
    scheme=st.sampled_from(PARTITION_SCHEMES),
    alpha=st.floats(0.01, 100.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_scheme_is_a_deterministic_disjoint_cover(
    n: int, num_classes: int, num_clients: int, scheme: str, alpha: float, seed: int
) -> None:
    labels = np.random.default_rng(seed).integers(0, num_classes, n)
    k = min(num_clients, n)
    s = max(1, min(2, n // k))

    def run() -> Partition:
        return partition(
            labels, k, scheme=scheme, alpha=alpha, shards_per_client=s,
            num_classes=num_classes, rng=np.random.default_rng(seed),
        )  # fmt: skip

    a, b = run(), run()

    _check_partition(a, labels, k)
    assert a.label_histograms.shape == (k, num_classes)
    for x, y in zip(a.indices, b.indices, strict=True):
        np.testing.assert_array_equal(x, y)
    if scheme == "dirichlet":
        assert a.sizes.min() >= 1  # default min_size


@pytest.mark.parametrize("scheme", PARTITION_SCHEMES)
def test_different_seeds_give_different_partitions(scheme: str) -> None:
    a = partition(BALANCED, 10, scheme=scheme, rng=np.random.default_rng(1))
    b = partition(BALANCED, 10, scheme=scheme, rng=np.random.default_rng(2))

    assert any(not np.array_equal(x, y) for x, y in zip(a.indices, b.indices, strict=True))


def test_iid_sizes_differ_by_at_most_one_and_labels_are_homogeneous() -> None:
    labels = np.random.default_rng(0).integers(0, 10, 6007)

    p = partition(labels, 20, scheme="iid", rng=np.random.default_rng(3))

    _check_partition(p, labels, 20)
    assert p.sizes.max() - p.sizes.min() == 1 and p.sizes.sum() == 6007
    # Under IID the chi-square homogeneity p-value is uniform on [0, 1]; with this fixed
    # seed it must not be below 0.001 (a false alarm rate of 1 in 1,000).
    assert chi2_contingency(p.label_histograms).pvalue > 1e-3


def test_dirichlet_small_alpha_is_heterogeneous() -> None:
    p = partition(BALANCED, 20, scheme="dirichlet", alpha=0.1, rng=np.random.default_rng(3))

    _check_partition(p, BALANCED, 20)
    assert chi2_contingency(p.label_histograms).pvalue < 1e-12


def test_dirichlet_skew_grows_as_alpha_falls() -> None:
    alphas = [100.0, 10.0, 1.0, 0.1]
    tv = [
        np.mean([
            _mean_tv_from_global(
                partition(BALANCED, 10, scheme="dirichlet", alpha=a, rng=np.random.default_rng(s))
            )
            for s in range(5)
        ])
        for a in alphas
    ]  # fmt: skip

    assert all(lo < hi for lo, hi in itertools.pairwise(tv)), tv
    assert tv[0] < 0.1 < 0.5 < tv[-1], tv  # near IID at alpha=100, most mass skewed at 0.1


def test_dirichlet_honours_min_size_even_when_every_draw_fails() -> None:
    # alpha=0.01 puts each class on ~one client: 10 classes cannot cover 30 clients, so
    # every redraw fails and the deterministic repair must top clients up.
    run = [
        partition(BALANCED, 30, scheme="dirichlet", alpha=0.01, min_size=25, max_draws=3,
                  rng=np.random.default_rng(7))
        for _ in range(2)
    ]  # fmt: skip

    _check_partition(run[0], BALANCED, 30)
    assert run[0].sizes.min() >= 25
    np.testing.assert_array_equal(run[0].sizes, run[1].sizes)
    assert np.median(run[0].classes_per_client()) == 1  # still extreme label skew


def test_shards_aligned_with_classes_give_at_most_two_classes() -> None:
    # 6,000 examples, 30 clients x 2 shards = 60 shards of 100; each class is 6 whole shards.
    p = partition(BALANCED, 30, scheme="shards", rng=np.random.default_rng(4))

    _check_partition(p, BALANCED, 30)
    np.testing.assert_array_equal(p.sizes, np.full(30, 200))
    classes = p.classes_per_client()
    assert classes.max() == 2
    # A client's two shards share a class with probability 5/59; 30 clients, so most have 2.
    assert np.mean(classes == 2) > 0.7


def test_shards_on_unaligned_classes_stay_near_two_classes() -> None:
    labels = np.random.default_rng(0).integers(0, 10, 1437)

    p = partition(labels, 10, scheme="shards", shards_per_client=2, rng=np.random.default_rng(0))

    _check_partition(p, labels, 10)
    # A shard (~72 examples) is smaller than any class (~144), so it spans at most 2 classes.
    assert p.classes_per_client().max() <= 4
    assert p.classes_per_client().mean() <= 3


def test_summary_reports_sizes_and_histograms_as_plain_lists() -> None:
    labels = np.array([0, 0, 1, 2, 2, 2])

    p = partition(labels, 2, scheme="shards", shards_per_client=1, rng=np.random.default_rng(0))
    report = p.summary()

    assert json.loads(json.dumps(report)) == report
    assert sorted(report["sizes"]) == [3, 3]
    # Sorted by label, two shards of three: {0, 0, 1} and {2, 2, 2}, dealt in some order.
    assert sorted(report["label_histograms"]) == [[0, 0, 3], [2, 1, 0]]
    assert sorted(report["classes_per_client"]) == [1, 2]
    assert (report["num_clients"], report["num_classes"]) == (2, 3)


def test_num_classes_widens_the_histograms() -> None:
    p = partition(np.array([0, 1, 1, 0]), 2, num_classes=5, rng=np.random.default_rng(0))

    assert p.label_histograms.shape == (2, 5)
    assert p.label_histograms[:, 2:].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"num_clients": 0}, r"num_clients must be an integer in \[1, inf\], got 0"),
        ({"num_clients": -3}, r"num_clients must be an integer in \[1, inf\], got -3"),
        ({"num_clients": 2.5}, "num_clients must be an integer, got 2.5"),
        ({"num_clients": 101}, r"at most the number of training examples \(100\), got 101"),
        ({"scheme": "pathological"}, "unknown partition scheme 'pathological'; allowed: iid, "
                                     "dirichlet, shards"),
        ({"scheme": "dirichlet", "alpha": 0.0}, r"alpha must be in \(0, inf\), got 0.0"),
        ({"scheme": "dirichlet", "alpha": -1.0}, r"alpha must be in \(0, inf\), got -1.0"),
        ({"scheme": "dirichlet", "alpha": float("nan")}, r"alpha must be in \(0, inf\)"),
        ({"scheme": "dirichlet", "min_size": 11}, r"min_size must be an integer in \[1, 10\]"),
        ({"scheme": "shards", "shards_per_client": 11}, r"10 \* 11 = 110"),
        ({"scheme": "shards", "shards_per_client": 0}, "shards_per_client must be"),
        ({"num_classes": 5}, r"labels must lie in 0..num_classes-1 = 0..4, found label 9"),
    ],
)  # fmt: skip
def test_bad_input_raises_one_clear_error(kwargs: dict, pattern: str) -> None:
    labels = np.arange(100) % 10
    args = {"num_clients": 10, **kwargs}

    with pytest.raises(InputError, match=pattern):
        partition(labels, rng=np.random.default_rng(0), **args)


@pytest.mark.parametrize(
    ("labels", "pattern"),
    [
        (np.array([0.0, 1.0]), "labels must be integers, got dtype float64"),
        (np.zeros((2, 2), int), r"non-empty 1-D array, got shape \(2, 2\)"),
        (np.array([], int), r"non-empty 1-D array, got shape \(0,\)"),
        (np.array([0, -1]), "labels must be >= 0, found -1"),
    ],
)
def test_bad_labels_raise_one_clear_error(labels: np.ndarray, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        partition(labels, 1, rng=np.random.default_rng(0))
