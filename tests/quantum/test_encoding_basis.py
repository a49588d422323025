"""Basis encoding: exact fixed point, bit layout, flips, and the copies a target error needs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest

from qtfl.errors import InputError
from qtfl.quantum.encoding import BasisEncoding, BasisPayload

BITS = [2, 3, 8, 16, 32]


def _vectors(rng: np.random.Generator, bits: int) -> list[npt.NDArray[np.float32]]:
    """Gaussian, heavy-tailed, mixed-magnitude and near-tie vectors (ties are the hard case)."""
    n = 3000
    gauss = rng.standard_normal(n)
    cauchy = rng.standard_cauchy(n)
    mixed = rng.standard_normal(n) * 10.0 ** rng.uniform(-30, 3, n)
    mixed[::7] = 0.0
    m = 2 ** (bits - 1) - 1
    ks = rng.integers(-m, m, n)  # k + 1/2 lies inside [-m, m]
    ties = (ks + 0.5) / m * 3.0
    ties[0] = 3.0  # pin max|x| so the ties are computed against the final scale
    return [v.astype(np.float32) for v in (gauss, cauchy, mixed, ties)]


def _exact_residuals_ok(x: npt.NDArray[np.float32], k: npt.NDArray[np.int64], bits: int) -> bool:
    """|x - k s| <= s/2 (+ 2^(b-53) s, the documented float64 slack for b >= 29), exactly."""
    m = 2 ** (bits - 1) - 1
    top = Fraction(float(np.max(np.abs(x))))
    slack = Fraction(2) ** (bits - 53) if bits >= 29 else Fraction(0)
    bound = top * (Fraction(1, 2) + slack)  # in units of s/m: m |x - k s| = |x m - k max|
    return all(
        abs(Fraction(float(xi)) * m - int(ki) * top) <= bound for xi, ki in zip(x, k, strict=True)
    )


@pytest.mark.parametrize("bits", BITS)
def test_round_trip_error_is_at_most_half_a_step(bits: int) -> None:
    enc = BasisEncoding(bits=bits)
    for x in _vectors(np.random.default_rng(bits), bits):
        payload = enc.encode(x)
        k = enc.decode_integers(payload)
        assert np.abs(k).max() <= enc.max_code
        assert _exact_residuals_ok(x, k, bits)
        # float32 output: plus half a float32 ulp of the returned value (module docstring)
        y = enc.decode(payload)
        assert y.dtype == np.float32
        s = payload.scale
        slack = 2.0 ** (bits - 53) * s if bits >= 29 else 0.0
        err = np.abs(y.astype(np.float64) - x.astype(np.float64))
        assert (err <= s / 2 + np.spacing(np.abs(y)).astype(np.float64) / 2 + slack).all()


@pytest.mark.parametrize("bits", BITS)
def test_plus_minus_max_are_exact(bits: int) -> None:
    enc = BasisEncoding(bits=bits)
    rng = np.random.default_rng(100 + bits)
    for top in (1.0, 0.1, 3.4e38, 1e-40, 7.123e-3):
        x = (rng.uniform(-1, 1, 50) * top).astype(np.float32)
        x[3], x[17] = np.float32(top), -np.float32(top)
        y = enc.decode(enc.encode(x))
        assert y[3] == x[3] and y[17] == x[17]
        assert not enc.out_of_range(y, max_abs=enc.encode(x).max_abs).any()


def test_zero_update_has_zero_scale_and_decodes_to_zeros() -> None:
    enc = BasisEncoding(bits=5)
    payload = enc.encode(np.zeros(9, np.float32))
    assert payload.scale == 0.0 and payload.max_abs == 0.0
    np.testing.assert_array_equal(enc.decode(payload), np.zeros(9, np.float32))


@pytest.mark.parametrize("bits", [3, 8, 13, 16, 32])
def test_bit_layout_is_value_major_msb_first_and_views_agree(bits: int) -> None:
    enc = BasisEncoding(bits=bits)
    x = np.random.default_rng(bits).standard_normal(37).astype(np.float32)
    payload = enc.encode(x)
    k = enc.decode_integers(payload)
    unsigned = k.astype(np.int64) & ((1 << bits) - 1)
    shifts = np.arange(bits - 1, -1, -1)
    expected = ((unsigned[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)
    bits01 = payload.bit_array()
    assert bits01.dtype == np.uint8 and bits01.shape == (37 * bits,)
    np.testing.assert_array_equal(bits01, expected)
    np.testing.assert_array_equal(np.packbits(bits01), payload.packed)
    assert payload.packed.size == (37 * bits + 7) // 8
    same = payload.with_bits(bits01)
    np.testing.assert_array_equal(same.packed, payload.packed)
    np.testing.assert_array_equal(enc.decode(same), enc.decode(payload))


@pytest.mark.parametrize("bits", [2, 8, 13, 32])
def test_one_flipped_bit_moves_one_value_by_its_power_of_two(bits: int) -> None:
    enc = BasisEncoding(bits=bits)
    rng = np.random.default_rng(7 + bits)
    x = rng.standard_normal(25).astype(np.float32)
    payload = enc.encode(x)
    k, y = enc.decode_integers(payload), enc.decode(payload)
    for pos in rng.choice(payload.n_bits, size=12, replace=False):
        i, j = divmod(int(pos), bits)  # value i, bit j (0 = sign bit)
        bits01 = payload.bit_array()
        was = int(bits01[pos])
        bits01[pos] ^= 1
        flipped = payload.with_bits(bits01)
        k2, y2 = enc.decode_integers(flipped), enc.decode(flipped)
        weight = -(2 ** (bits - 1)) if j == 0 else 2 ** (bits - 1 - j)
        delta = weight if was == 0 else -weight
        others = np.arange(25) != i
        np.testing.assert_array_equal(k2[others], k[others])
        np.testing.assert_array_equal(y2[others], y[others])
        assert k2[i] - k[i] == delta
        ulp = float(np.spacing(max(abs(y[i]), abs(y2[i]))))
        assert abs((float(y2[i]) - float(y[i])) - delta * payload.scale) <= ulp


def test_out_of_range_flags_only_the_code_the_encoder_never_emits() -> None:
    enc = BasisEncoding(bits=8)
    x = np.array([0.0, 1.0, -1.0, 0.5], np.float32)
    payload = enc.encode(x)
    bits01 = payload.bit_array()
    bits01[0] = 1  # code 0 -> 1000_0000 = -128, beyond -127 s
    received = enc.decode(payload.with_bits(bits01))
    assert enc.decode_integers(payload.with_bits(bits01))[0] == -128
    np.testing.assert_array_equal(
        enc.out_of_range(received, max_abs=payload.max_abs), [True, False, False, False]
    )


def test_a_million_values_round_trip() -> None:
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(10**6) * 1e-3).astype(np.float32)
    for bits in (16, 13):
        enc = BasisEncoding(bits=bits)
        payload = enc.encode(x)
        assert payload.packed.size == (10**6 * bits) // 8
        y = enc.decode(payload)
        err = np.abs(y.astype(np.float64) - x)
        assert (err <= payload.scale / 2 + np.spacing(np.abs(y)) / 2).all()


@pytest.mark.parametrize("bad", [33, 0, -4])
def test_bits_outside_1_to_32_is_one_clear_error(bad: int) -> None:
    with pytest.raises(InputError, match=rf"bits must be an integer in \[1, 32\], got {bad}"):
        BasisEncoding(bits=bad)
    with pytest.raises(InputError, match=r"bits must be an integer, got 8.0"):
        BasisEncoding(bits=8.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_the_update_is_one_clear_error(value: float) -> None:
    x = np.array([0.1, value, 0.3], np.float32)
    with pytest.raises(InputError, match=r"update must be finite; 1 of 3 values are NaN"):
        BasisEncoding(bits=8).encode(x)


def test_received_bits_are_checked() -> None:
    payload = BasisEncoding(bits=4).encode(np.array([0.5, -1.0], np.float32))
    with pytest.raises(InputError, match=r"bits must have shape \(8,\), got \(7,\)"):
        payload.with_bits(np.zeros(7, np.uint8))
    with pytest.raises(InputError, match="only 0 and 1"):
        payload.with_bits(np.full(8, 2, np.uint8))
    with pytest.raises(InputError, match="4-bit values, this encoding 5"):
        BasisEncoding(bits=5).decode(payload)
    with pytest.raises(InputError, match="packed must be 1 uint8 bytes"):
        BasisPayload(packed=np.zeros(3, np.uint8), n_values=2, bits_per_value=4, max_abs=1.0)


def test_majority_vote() -> None:
    copies = np.array([[0, 1, 1, 0], [1, 1, 0, 0], [0, 1, 1, 1]], np.uint8)
    np.testing.assert_array_equal(BasisEncoding.majority_vote(copies), [0, 1, 1, 0])
    with pytest.raises(InputError, match="m odd"):
        BasisEncoding.majority_vote(copies[:2])


def test_copies_for_precision_noise_free_is_one_copy_or_more_bits() -> None:
    enc = BasisEncoding(bits=8)
    x = np.array([1.27, -0.5], np.float32)  # scale ~ 0.01
    s = float(np.float32(1.27)) / 127
    assert enc.copies_for_precision(x, eps=s / 2) == 1
    with pytest.raises(InputError, match=r"eps=0.004 is below what 8-bit codes reach"):
        enc.copies_for_precision(x, eps=0.004)


def test_copies_for_precision_is_the_smallest_odd_count_and_bounds_the_rms_error() -> None:
    enc = BasisEncoding(bits=6)
    rng = np.random.default_rng(12)
    x = rng.uniform(-1, 1, 400).astype(np.float32)
    q, eps = 0.05, 0.1
    payload = enc.encode(x)
    m = enc.copies_for_precision(x, eps=eps, flip_probability=q)
    assert m % 2 == 1 and m > 1
    assert enc.rms_error_bound(scale=payload.scale, flip_probability=q, copies=m) <= eps
    assert enc.rms_error_bound(scale=payload.scale, flip_probability=q, copies=m - 2) > eps
    # Monte Carlo: m noisy copies, majority vote -> the RMS error obeys the bound.
    reps = 200
    sent = payload.bit_array()
    flips = rng.random((reps, m, sent.size)) < q
    sq_err = np.empty((reps, x.size))
    for r in range(reps):  # over independent repetitions of the whole transfer, not qubits
        received = enc.majority_vote(sent[None, :] ^ flips[r].astype(np.uint8))
        sq_err[r] = (enc.decode(payload.with_bits(received)).astype(np.float64) - x) ** 2
    per_rep = sq_err.mean(axis=1)
    one_sided = per_rep.mean() - 4.0 * per_rep.std(ddof=1) / np.sqrt(reps)
    assert one_sided <= eps**2


def test_one_bit_is_the_sign_code() -> None:
    # Prepare: values of both signs and a zero (sign(0) = +1, as in signSGD)
    x = np.array([0.5, -0.25, 0.0, -1.0, 2.0], np.float32)
    enc = BasisEncoding(bits=1)
    # Execute
    payload = enc.encode(x)
    # Assert: one bit per value, 1 where negative; decoded +-max|x|
    np.testing.assert_array_equal(payload.bit_array(), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(enc.decode_integers(payload), [1, -1, 1, -1, 1])
    np.testing.assert_array_equal(enc.decode(payload), np.float32([2, -2, 2, -2, 2]))
    assert enc.payload_qubits(5) == 5 and payload.scale == 2.0
