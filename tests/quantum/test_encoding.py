"""The Encoding protocol and factory, and the statistical check the readout tests share."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from qtfl.errors import InputError
from qtfl.quantum.encoding import (
    ENCODINGS,
    AmplitudeEncoding,
    AngleEncoding,
    BasisEncoding,
    Encoding,
    make_encoding,
)

Z = 4.0  # every statistical check: within 4 standard errors (two-sided 6.3e-5 per check)


def check_mean_and_variance(
    samples: npt.NDArray[np.float64],
    truth: npt.NDArray[np.float64],
    variance: npt.NDArray[np.float64],
    excess_kurtosis: npt.NDArray[np.float64],
) -> None:
    """Assert that ``samples`` (repetitions x values) are unbiased with the given variance.

    The mean of R draws is within ``Z`` standard errors ``sqrt(var/R)`` of the truth, and the
    sample variance within ``Z`` standard errors of the stated variance, using the exact
    variance of a sample variance, ``var^2 (2/(R-1) + kurt/R)``. Zero-variance values must be
    read exactly.
    """
    r = samples.shape[0]
    exact = variance == 0.0
    np.testing.assert_allclose(samples[:, exact], np.broadcast_to(truth[exact], (r, exact.sum())))
    mean_err = np.abs(samples.mean(axis=0) - truth)
    se_mean = np.sqrt(variance / r)
    assert (mean_err[~exact] <= Z * se_mean[~exact]).all(), (mean_err / se_mean)[~exact]
    s2 = samples.var(axis=0, ddof=1)
    se_s2 = variance * np.sqrt(2.0 / (r - 1) + excess_kurtosis / r)
    z_var = np.abs(s2 - variance)[~exact] / se_s2[~exact]
    assert (z_var <= Z).all(), z_var


def test_all_encodings_follow_the_protocol() -> None:
    encodings = [BasisEncoding(bits=8), AngleEncoding(shots=100), AmplitudeEncoding(shots=100)]
    update = np.array([0.5, -0.25, 0.125], np.float32)
    for enc in encodings:
        assert isinstance(enc, Encoding)
        assert enc.name in ENCODINGS
        assert enc.header_bits > 0
        assert enc.copies_for_precision(update, eps=0.5) >= 1
    assert [e.payload_qubits(3) for e in encodings] == [24, 3, 3]
    assert [e.payload_qubits(1000) for e in encodings] == [8000, 1000, 11]


def test_make_encoding_builds_by_name_and_rejects_unknowns() -> None:
    assert make_encoding("basis", bits=12) == BasisEncoding(bits=12)
    assert make_encoding("amplitude", shots=7) == AmplitudeEncoding(shots=7)
    with pytest.raises(InputError, match="unknown encoding 'phase'; allowed: basis, angle"):
        make_encoding("phase")
    with pytest.raises(InputError, match=r"unknown option.*bits.*angle encoding; allowed: shots"):
        make_encoding("angle", bits=3)
