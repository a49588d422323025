"""scikit-learn's bundled 8x8 handwritten digits: the offline default data set.

1,797 grey-scale 8x8 images of the digits 0-9 (UCI "Optical Recognition of Handwritten
Digits", Alpaydin & Kaynak 1998), shipped inside scikit-learn, so no download is needed.

Conventions:

* pixels are integers 0..16 in the source; they are divided by 16, so ``x`` lies in [0, 1];
* shape ``(N, 1, 8, 8)``;
* a fixed stratified split (``sklearn.model_selection.train_test_split`` with
  ``random_state=0``): 1,437 training and 360 test images, each class in the same
  proportion in both. The split never depends on the experiment's seed, so test
  accuracies of different runs are comparable.
"""

from __future__ import annotations

import numpy as np

from qtfl.data.dataset import Dataset

NUM_TEST = 360
"""Test images in the fixed split (the other 1,437 train)."""

SPLIT_SEED = 0
"""``random_state`` of the fixed stratified split."""


def load_digits() -> Dataset:
    """Load the 8x8 digits with the fixed 1,437/360 stratified split (pixels / 16)."""
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[:, None, :, :]
    y = np.asarray(bunch.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=NUM_TEST, stratify=y, random_state=SPLIT_SEED
    )
    return Dataset(
        name="digits",
        x_train=np.ascontiguousarray(x_train),
        y_train=np.ascontiguousarray(y_train),
        x_test=np.ascontiguousarray(x_test),
        y_test=np.ascontiguousarray(y_test),
        num_classes=10,
    )
