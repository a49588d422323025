"""Decoder safety net: out-of-range and failed-block values are flagged, counted, withheld."""

from __future__ import annotations

import numpy as np
import pytest

from qtfl.channel.safety import screen_values, withhold
from qtfl.errors import InputError
from qtfl.quantum.encoding import BasisEncoding


def test_code_outside_the_encoder_range_is_flagged() -> None:
    enc = BasisEncoding(bits=8)
    update = np.array([0.5, -1.0, 0.25, 1.0], np.float32)
    payload = enc.encode(update)
    bits = payload.bit_array().copy()
    bits[0:8] = [1, 0, 0, 0, 0, 0, 0, 0]  # value 0 becomes code -128: only reachable by flips
    decoded = enc.decode(payload.with_bits(bits))
    screening = screen_values(decoded, max_abs=payload.max_abs)
    assert decoded[0] < -payload.max_abs
    assert screening.flagged.tolist() == [True, False, False, False]
    assert screening.out_of_range == 1
    assert screening.count == 1


def test_values_touched_by_a_failed_block_are_flagged() -> None:
    values = np.array([0.1, 0.2, 0.3], np.float32)
    failed_bits = np.zeros(3 * 4, bool)
    failed_bits[5] = True  # one bit of value 1
    failed_bits[11] = True  # last bit of value 2
    screening = screen_values(values, max_abs=1.0, failed_bit_mask=failed_bits, bits_per_value=4)
    assert screening.flagged.tolist() == [False, True, True]
    assert screening.in_failed_block == 2
    assert screening.out_of_range == 0


def test_withhold_zeroes_flagged_values_and_leaves_input_alone() -> None:
    values = np.array([3.0, 0.5, -7.0], np.float32)
    screening = screen_values(values, max_abs=1.0)
    out = withhold(values, screening)
    assert out.tolist() == [0.0, 0.5, 0.0]
    assert values.tolist() == [3.0, 0.5, -7.0]
    assert screening.count == 2


def test_mask_of_the_wrong_size_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="failed_bit_mask has 5 bits; 2 values of 4 bits need 8"):
        screen_values(np.zeros(2), max_abs=1.0, failed_bit_mask=np.zeros(5), bits_per_value=4)
    with pytest.raises(InputError, match="bits_per_value is required"):
        screen_values(np.zeros(2), max_abs=1.0, failed_bit_mask=np.zeros(8))


def test_raw_teleportation_shrinks_and_adds_zero_mean_noise() -> None:
    # Closed form (safety module docstring) against 2e5 values teleported by stim at F = 0.95.
    from qtfl.channel.safety import flip_noise
    from qtfl.quantum.noise import WernerPair
    from qtfl.quantum.teleport import compile_teleporter

    rng = np.random.default_rng(0)
    enc = BasisEncoding(bits=16)
    x = (rng.normal(size=200_000) * 0.01).astype(np.float32)
    payload = enc.encode(x)
    pair = WernerPair(0.95)
    received = compile_teleporter(pair).teleport(payload.bit_array(), rng=rng).received
    y = enc.decode(payload.with_bits(received)).astype(np.float64)
    model = flip_noise(p=pair.teleported_bit_error, bits=16, max_abs=payload.max_abs)
    residual = y - (model.slope * x + model.bias)
    n = x.size
    # mean of the residual: 0 within 4 standard errors
    assert abs(residual.mean()) < 4 * model.std / np.sqrt(n)
    # variance: within 4 standard errors, using the sample 4th moment (the noise is far from
    # Gaussian: sign-bit flips dominate)
    var = residual.var()
    se_var = np.sqrt((np.mean(residual**4) - var**2) / n)
    assert abs(var - model.std**2) < 4 * se_var
    # slope by least squares; its standard error is std / sqrt(sum x^2)
    slope = float(np.dot(y - model.bias, x) / np.dot(x, x))
    assert abs(slope - model.slope) < 4 * model.std / np.sqrt(np.dot(x, x))
