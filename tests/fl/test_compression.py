"""Compression steps: unbiasedness, error bounds, exact error-feedback bookkeeping, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.fl.compression import (
    CompressionConfig,
    Identity,
    SignCompressor,
    StochasticQuantizer,
    TopK,
    dequantize,
    index_bits,
    make_compressor,
    quantize_stochastic,
    top_k_indices,
)


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_quantizer_round_trip_within_one_step(bits: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=10_000).astype(np.float32)
    codes, scale = quantize_stochastic(x, bits=bits, rng=rng)
    y = dequantize(codes, scale=scale, bits=bits)
    step = scale / (2 ** (bits - 1) - 1)
    assert scale == pytest.approx(float(np.abs(x).max()))
    assert np.abs(codes).max() <= 2 ** (bits - 1) - 1
    # stated bound |Q(x) - x| < Δ (float32 rounding of the output adds at most 1 ulp of s)
    assert np.abs(y.astype(np.float64) - x).max() < step + 4 * np.spacing(np.float32(scale))


@pytest.mark.parametrize("bits", [2, 3, 8])
def test_quantizer_is_unbiased_chi_square(bits: int) -> None:
    # E[Q(x)] = x. With f the fractional grid position of x, one quantisation has variance
    # f(1-f)Δ²; the mean of T has z = (mean - x)/(Δ sqrt(f(1-f)/T)) ~ N(0, 1), so over the
    # 63 off-grid coordinates sum z² ~ χ²(63): reject above its 0.999 quantile (false alarm
    # 1e-3, fixed seed). A bias of 0.01Δ per coordinate would give sum z² ≈ 63 + 63·4 = 315.
    from scipy import stats

    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=64).astype(np.float32)
    x[0] = 1.0  # pins the scale, so every trial uses the same grid; on-grid: exact
    trials = 10_000
    codes, scale = quantize_stochastic(np.tile(x, (trials, 1)), bits=bits, rng=rng)
    values = dequantize(codes, scale=scale, bits=bits).astype(np.float64)
    step = 1.0 / (2 ** (bits - 1) - 1)
    frac = x.astype(np.float64) / step - np.floor(x.astype(np.float64) / step)
    assert (values[:, 0] == 1.0).all()
    sd = step * np.sqrt(frac[1:] * (1 - frac[1:]) / trials)
    z = (values[:, 1:].mean(axis=0) - x[1:]) / sd
    assert float(np.sum(z**2)) < stats.chi2.ppf(0.999, df=63)


def test_quantizer_of_zero_vector_is_zero() -> None:
    codes, scale = quantize_stochastic(
        np.zeros(5, np.float32), bits=4, rng=np.random.default_rng(0)
    )
    assert scale == 0.0
    assert not dequantize(codes, scale=scale, bits=4).any()


def test_stochastic_quantizer_step_reports_wire_size() -> None:
    q = StochasticQuantizer(bits=4)
    x = np.linspace(-1, 1, 100, dtype=np.float32)
    out, state = q.compress(x, q.init(x.size), rng=np.random.default_rng(0))
    assert out.payload_bits == 4 * 100 + 32
    assert np.abs(out.values - x).max() < 1.0 / 7
    assert state.size == 0


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_quantized_values_travel_exactly_through_the_basis_encoding(bits: int) -> None:
    # The stochastic grid is the basis encoding's grid: encoding adds no second rounding.
    from qtfl.quantum.encoding import BasisEncoding

    rng = np.random.default_rng(bits)
    x = rng.normal(size=2000).astype(np.float32)
    out, _ = StochasticQuantizer(bits=bits).compress(x, np.zeros(0, np.float32), rng=rng)
    enc = BasisEncoding(bits=bits)
    np.testing.assert_array_equal(enc.decode(enc.encode(out.values)), out.values)


def test_top_k_keeps_largest_magnitudes() -> None:
    x = np.array([0.1, -5.0, 0.3, 2.0, -0.2, 0.0, 1.0, -3.0, 0.05, 0.4], np.float32)
    assert top_k_indices(x, ratio=0.3).tolist() == [1, 3, 7]
    assert top_k_indices(x, ratio=1e-9).tolist() == [1]  # at least one value
    assert top_k_indices(x, ratio=1.0).tolist() == list(range(10))


def test_top_k_round_trip_error_is_the_dropped_mass() -> None:
    # Stated error: without feedback ||x - topk(x)||^2 equals the energy of the n-k smallest.
    rng = np.random.default_rng(3)
    x = rng.normal(size=1000).astype(np.float32)
    out, _ = TopK(ratio=0.1, error_feedback=False).compress(x, np.zeros(0, np.float32), rng=rng)
    smallest = np.sort(np.abs(x))[:900]
    assert np.count_nonzero(out.values) == 100
    assert float(np.sum((x - out.values) ** 2)) == pytest.approx(float(np.sum(smallest**2)))
    assert out.payload_bits == 100 * (32 + index_bits(1000))


def test_error_feedback_books_balance_exactly_on_dyadic_inputs() -> None:
    # Dyadic values with few significant bits add exactly in float32, so the identity
    # sum(sent) + final residual == sum(inputs) must hold bit for bit.
    rng = np.random.default_rng(5)
    topk = TopK(ratio=0.05, error_feedback=True)
    state = topk.init(500)
    sent_total = np.zeros(500, np.float32)
    input_total = np.zeros(500, np.float32)
    for _ in range(30):
        u = (rng.integers(-64, 65, size=500) / 256.0).astype(np.float32)
        out, state = topk.compress(u, state, rng=rng)
        assert np.count_nonzero(out.values) <= 25
        sent_total += out.values
        input_total += u
    np.testing.assert_array_equal(sent_total + state, input_total)


def test_error_feedback_step_identity_holds_elementwise_on_random_floats() -> None:
    rng = np.random.default_rng(6)
    topk = TopK(ratio=0.1)
    state = rng.normal(size=300).astype(np.float32)
    u = rng.normal(size=300).astype(np.float32)
    out, new_state = topk.compress(u, state, rng=rng)
    np.testing.assert_array_equal(out.values + new_state, u + state)
    assert not (out.values * new_state).any()  # each coordinate is either sent or kept


def test_sign_compressor_scale_is_mean_abs_and_keeps_l1_norm() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=1001).astype(np.float32)
    x[3] = 0.0
    out, _ = SignCompressor().compress(x, np.zeros(0, np.float32), rng=rng)
    scale = float(np.mean(np.abs(x), dtype=np.float64))
    np.testing.assert_allclose(np.abs(out.values), scale, rtol=1e-6)
    np.testing.assert_array_equal(np.sign(out.values[x != 0]), np.sign(x[x != 0]))
    assert out.values[3] > 0  # sign(0) = +1
    assert float(np.abs(out.values).sum()) == pytest.approx(float(np.abs(x).sum()), rel=1e-5)
    assert out.payload_bits == 1001 + 32


def test_sign_with_error_feedback_keeps_the_difference() -> None:
    rng = np.random.default_rng(9)
    comp = SignCompressor(error_feedback=True)
    state = comp.init(50)
    u = rng.normal(size=50).astype(np.float32)
    out, state = comp.compress(u, state, rng=rng)
    np.testing.assert_allclose(out.values + state, u, rtol=0, atol=1e-6)


def test_config_selects_each_step() -> None:
    assert isinstance(make_compressor(CompressionConfig()), Identity)
    assert make_compressor(CompressionConfig(kind="quantize", bits=4)) == StochasticQuantizer(4)
    assert make_compressor(CompressionConfig(kind="topk", ratio=0.01)) == TopK(0.01, True)
    assert make_compressor(CompressionConfig(kind="sign", error_feedback=False)) == (
        SignCompressor(False)
    )


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5, float("nan")])
def test_ratio_outside_unit_interval_is_a_clear_error(ratio: float) -> None:
    with pytest.raises(InputError, match=r"compression ratio must be in \(0, 1\]"):
        CompressionConfig(kind="topk", ratio=ratio)
    with pytest.raises(InputError, match="compression ratio"):
        top_k_indices(np.ones(4), ratio=ratio)


def test_other_bad_input_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="bits must be an integer in"):
        StochasticQuantizer(bits=1)
    with pytest.raises(InputError, match="unknown compression kind"):
        CompressionConfig(kind="zip")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="residual has shape"):
        TopK().compress(
            np.ones(4, np.float32), np.zeros(3, np.float32), rng=np.random.default_rng()
        )
