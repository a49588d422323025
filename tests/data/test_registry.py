"""load_dataset: names, dispatch and the errors a user can cause."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.data import DATASETS, load_dataset, load_digits
from qtfl.errors import InputError


def test_registry_lists_the_data_sets() -> None:
    assert DATASETS == ("digits", "fashion-mnist", "mnist", "cifar10", "digits-pca", "qdataset")


def test_digits_by_name_is_the_bundled_loader() -> None:
    np.testing.assert_array_equal(load_dataset("digits").x_test, load_digits().x_test)


def test_unknown_data_set_lists_the_allowed_names() -> None:
    with pytest.raises(InputError) as exc:
        load_dataset("imagenet")
    message = str(exc.value)
    assert "'imagenet'" in message
    for name in DATASETS:
        assert name in message


@pytest.mark.parametrize("name", ["digits", "fashion-mnist", "cifar10"])
def test_download_is_refused_for_data_sets_without_a_mirror(name: str) -> None:
    with pytest.raises(InputError, match=f"mnist only, not '{name}'"):
        load_dataset(name, download=True)
