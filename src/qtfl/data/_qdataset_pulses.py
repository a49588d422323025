"""QDataSet control pulses: random Gaussian or square pulse trains and their distortion.

Recipe of the published generator (github.com/eperrier/QDataSet, ``simulation/simulator.py``,
class ``SigGen``), per example and control axis, with ``n = 5`` pulses, total time T:

* pulse width ``w = T / (2 n)`` (0.1 for T = 1, n = 5); amplitudes ``A_j ~ U(-100, 100)``;
* centres: ``r_j = w/2 + u_j ((T - n w)/(n + 1) - w/2)`` with ``u_j ~ U(0, 1)``, then
  ``τ_j = Σ_{i<=j} r_i + (j + 1/2) w`` — increasing, non-overlapping centres;
* Gaussian: :math:`f(t) = \\sum_j A_j \\exp(-(t-τ_j)^2 / (2σ^2))` with σ = w/6;
  square: :math:`f(t) = \\sum_j A_j\\,[\\,|t - τ_j| < w/2\\,]`;
* the waveform is sampled at the midpoints ``t_m = (m + 1/2) T/M`` of the M time steps;
* pulse parameters per pulse: ``(A_j, τ_j, σ)`` (Gaussian) or ``(A_j, τ_j, w)`` (square).

Distortion (class ``LTI_Layer``): the analog Chebyshev type-I low-pass filter of order 4,
0.1 dB ripple and cutoff 2π·20 rad/s (``scipy.signal.cheby1(4, 0.1, 2π·20, analog=True)``),
applied in the frequency domain, :math:`y = \\mathrm{Re}\\,\\mathrm{IFFT}(H(i 2π f)\\,
\\mathrm{FFT}(x))` with ``f = fftfreq(M) M / T`` — the published ``F^† diag(H) F`` with the
unitary DFT matrix F, written as FFTs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

NUM_PULSES = 5
AMPLITUDE_MAX = 100.0
FILTER_ORDER = 4
FILTER_RIPPLE_DB = 0.1
FILTER_CUTOFF_RAD_S = 2 * np.pi * 20

FloatArray = npt.NDArray[np.float64]


def time_grid(time_steps: int, *, total_time: float = 1.0) -> FloatArray:
    """Midpoints ``(m + 1/2) T / M`` of the M piecewise-constant steps."""
    return np.asarray((np.arange(time_steps) + 0.5) * (total_time / time_steps), np.float64)


def draw_pulse_parameters(
    shape: str,
    *,
    examples: int,
    axes: int,
    rng: np.random.Generator,
    total_time: float = 1.0,
    num_pulses: int = NUM_PULSES,
) -> FloatArray:
    """Random pulse parameters ``(examples, axes, num_pulses, 3)``: amplitude, centre, width.

    The third parameter is σ = w/6 for ``"gaussian"`` and the full width w for ``"square"``.
    """
    n = num_pulses
    w = 0.5 * total_time / n
    size = (examples, axes, n)
    amplitude = rng.uniform(-AMPLITUDE_MAX, AMPLITUDE_MAX, size=size)
    u = rng.random(size)
    r = 0.5 * w + u * ((total_time - n * w) / (n + 1) - 0.5 * w)
    centre = np.cumsum(r, axis=-1) + (np.arange(n) + 0.5) * w
    width = np.full(size, w / 6 if shape == "gaussian" else w)
    return np.stack([amplitude, centre, width], axis=-1)


def pulse_waveform(shape: str, params: FloatArray, t: FloatArray) -> FloatArray:
    """Waveforms ``(..., len(t))`` of pulse trains ``params (..., num_pulses, 3)`` at times t.

    Works for any times (the tests integrate the continuous pulse with an ODE solver).
    """
    amp = params[..., 0, None]
    centre = params[..., 1, None]
    width = params[..., 2, None]
    d = np.asarray(t, dtype=np.float64) - centre
    if shape == "gaussian":
        f = amp * np.exp(-0.5 * (d / width) ** 2)
    else:
        f = amp * (np.abs(d) < 0.5 * width)
    return np.asarray(f.sum(axis=-2), dtype=np.float64)


def chebyshev_response(time_steps: int, *, total_time: float = 1.0) -> npt.NDArray[np.complex128]:
    """Frequency response ``H(i 2π f)`` of the distortion filter on the FFT frequency grid."""
    from scipy.signal import cheby1, freqs

    b, a = cheby1(FILTER_ORDER, FILTER_RIPPLE_DB, FILTER_CUTOFF_RAD_S, analog=True)
    f = np.fft.fftfreq(time_steps) * time_steps / total_time
    _, h = freqs(b, a, worN=2 * np.pi * f)
    return np.asarray(h, dtype=np.complex128)


def distort(waveforms: FloatArray, *, time_axis: int = -1, total_time: float = 1.0) -> FloatArray:
    """Filter waveforms along ``time_axis`` with the Chebyshev-I filter (real part kept)."""
    m = waveforms.shape[time_axis]
    h = chebyshev_response(m, total_time=total_time)
    shape = [1] * waveforms.ndim
    shape[time_axis] = m
    spectrum = np.fft.fft(waveforms, axis=time_axis) * h.reshape(shape)
    return np.asarray(np.fft.ifft(spectrum, axis=time_axis).real, dtype=np.float64)
