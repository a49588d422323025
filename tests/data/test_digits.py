"""The bundled digits: fixed stratified 1,437/360 split, pixels / 16, (N, 1, 8, 8)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as sk_load_digits

from qtfl.data import Dataset, load_digits


def test_digits_layout_and_scaling() -> None:
    ds = load_digits()

    assert isinstance(ds, Dataset)
    assert (ds.num_train, ds.num_test, ds.num_classes) == (1437, 360, 10)
    assert ds.input_shape == (1, 8, 8)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    # Source pixels are the integers 0..16; /16 maps them onto multiples of 1/16 in [0, 1].
    both = np.concatenate([ds.x_train, ds.x_test])
    assert both.min() == 0.0 and both.max() == 1.0
    np.testing.assert_array_equal(both * 16, np.round(both * 16))


def test_digits_split_is_a_stratified_partition_of_all_1797_images() -> None:
    ds = load_digits()
    sk = sk_load_digits()

    # Every source image lands in exactly one split (compare as multisets of rows).
    ours = np.concatenate([ds.x_train, ds.x_test]).reshape(1797, 64) * 16
    theirs = sk.images.reshape(1797, 64)
    labels = np.concatenate([ds.y_train, ds.y_test])
    key_ours = np.lexsort(np.column_stack([ours, labels]).T)
    key_theirs = np.lexsort(np.column_stack([theirs, sk.target]).T)
    np.testing.assert_array_equal(ours[key_ours], theirs[key_theirs])
    np.testing.assert_array_equal(labels[key_ours], sk.target[key_theirs])
    # Stratified: each class's test count is its proportional share of 360, rounded.
    share = np.bincount(sk.target) * 360 / 1797
    assert np.all(np.abs(np.bincount(ds.y_test, minlength=10) - share) < 1)


def test_digits_split_does_not_change_between_loads() -> None:
    a, b = load_digits(), load_digits()

    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
