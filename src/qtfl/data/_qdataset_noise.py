"""QDataSet noise profiles N0–N6: time-domain realisations of classical noise β(t).

Exactly the published generator's recipes (github.com/eperrier/QDataSet,
``simulation/simulator.py``, class ``Noise_Layer``), with T the total time, M the number of
steps, ``f_k = k / T`` (k = 0 .. M/2-1), ``t_m = (m + 1/2) T/M`` and ``L = M // 4``:

``N0``  no noise, β = 0.
``N1``  1/f noise with a bump: one-sided PSD
        :math:`S(f) = \\frac{1}{f+1}[f \\le 15] + \\frac{1}{16}[f > 15]
        + \\tfrac12 e^{-(f-30)^2/50}`.
``N2``  stationary coloured Gaussian noise: ``g = 0.1`` times a moving sum of L white
        standard normals, :math:`β_m = g \\sum_{j<L} w_{m+j}` (variance g²L; PSD
        :math:`g^2 \\sin^2(π f L/M)/\\sin^2(π f/M)`).
``N3``  non-stationary coloured Gaussian noise: N2's recipe with ``g = 0.2`` times the
        deterministic envelope :math:`e(t) = 1 - 2|t - T/2|` (triangle, 0 at the ends).
``N4``  non-stationary non-Gaussian noise: :math:`β = 0.01\\,(e(t) \\sum_{j<L} w_{m+j})^2`
        (the square of N3's recipe without its gain; mean 0.01 L e(t)², never negative).
``N5``  1/f noise: :math:`S(f) = 1/(f+1)`.
``N6``  noise correlated with the previous noise axis: :math:`β = 0.3\\,β_{prev}^2`
        (the same realisation), so it only exists as the second axis.

N1 and N5 are drawn by random-phase spectral synthesis: ``Z_k = sqrt(S(f_k) M / Ts)
exp(2π i u_k)``, ``u_k ~ U(0,1)``, ``Ts = T/M``, and :math:`β = \\mathrm{Re}\\,
\\mathrm{IFFT}([Z_0..Z_{M/2-1}, \\overline{Z_{M/2-1}}..\\overline{Z_0}])`. The mirrored half
of that published construction sits one bin off the Hermitian position, so each random phase
feeds two neighbouring frequencies: the DFT of β is ``Y_k = (Z_k + Z_{k-1})/2`` for
``1 <= k < M/2`` and ``Y_0 = Re Z_0``, hence the expected periodogram is
:math:`E|Y_k|^2 = (M/Ts)(S(f_k) + S(f_{k-1}))/4` — the defined PSD smoothed over two
neighbouring bins (:func:`expected_periodogram`; same 1/f slope). We keep the published
construction so that regenerated data have the published statistics.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

GAIN_N2 = 0.1
GAIN_N3 = 0.2
GAIN_N4 = 0.01
GAIN_N6 = 0.3


def psd(profile: int, f: FloatArray) -> FloatArray:
    """The one-sided PSD of N1 or N5 at frequencies ``f`` (Hz, cycles per unit time)."""
    f = np.asarray(f, dtype=np.float64)
    if profile == 1:
        return np.where(f <= 15, 1.0 / (f + 1.0), 1.0 / 16.0) + 0.5 * np.exp(-((f - 30) ** 2) / 50)
    if profile == 5:
        return 1.0 / (f + 1.0)
    raise ValueError(f"profile N{profile} is not defined by a PSD")


def expected_periodogram(profile: int, time_steps: int, *, total_time: float = 1.0) -> FloatArray:
    """``E|FFT(β)_k|^2`` for k = 0 .. M/2-1 of N1/N5 realisations (module docstring)."""
    m = time_steps
    ts = total_time / m
    s = psd(profile, np.arange(m // 2) / total_time) * m / ts
    out = np.empty(m // 2)
    out[0] = s[0] / 2  # E[(sqrt(s0) cos φ)^2]
    out[1:] = (s[1:] + s[:-1]) / 4
    return out


def envelope(time_steps: int, *, total_time: float = 1.0) -> FloatArray:
    """The non-stationary envelope ``1 - 2|t_m - T/2|`` of N3 and N4."""
    t = (np.arange(time_steps) + 0.5) * (total_time / time_steps)
    return np.asarray(1.0 - 2.0 * np.abs(t - 0.5 * total_time) / total_time, dtype=np.float64)


def draw_noise(
    profiles: tuple[int, ...],
    *,
    realisations: int,
    time_steps: int,
    rng: np.random.Generator,
    total_time: float = 1.0,
    out: FloatArray | None = None,
) -> FloatArray:
    """Noise ``(realisations, time_steps, len(profiles))`` for one example, axis by axis.

    Vectorised over realisations and time; ``out`` (optional) is filled in place. Draws
    happen axis after axis from ``rng`` (N0 and N6 draw nothing).
    """
    k, m = realisations, time_steps
    beta = np.empty((k, m, len(profiles))) if out is None else out
    for a, p in enumerate(profiles):
        if p == 0:
            beta[..., a] = 0.0
        elif p in (1, 5):
            beta[..., a] = _spectral(p, k, m, rng, total_time)
        elif p in (2, 3, 4):
            s = _moving_sum(rng.standard_normal((k, m + m // 4 - 1)), m // 4)
            if p == 2:
                beta[..., a] = GAIN_N2 * s
            elif p == 3:
                beta[..., a] = GAIN_N3 * s * envelope(m, total_time=total_time)
            else:
                beta[..., a] = GAIN_N4 * (s * envelope(m, total_time=total_time)) ** 2
        elif p == 6:
            beta[..., a] = GAIN_N6 * beta[..., a - 1] ** 2
        else:  # parse_name rejects these; a caller bug if it gets here
            raise ValueError(f"unknown noise profile N{p}")
    return beta


def _spectral(
    profile: int, k: int, m: int, rng: np.random.Generator, total_time: float
) -> FloatArray:
    ts = total_time / m
    amp = np.sqrt(psd(profile, np.arange(m // 2) / total_time) * m / ts)
    z = amp * np.exp(2j * np.pi * rng.random((k, m // 2)))
    spectrum = np.concatenate([z, np.conj(z)[:, ::-1]], axis=1)
    return np.asarray(np.fft.ifft(spectrum, axis=1).real, dtype=np.float64)


def _moving_sum(w: FloatArray, length: int) -> FloatArray:
    """``s_m = Σ_{j<length} w_{m+j}`` along the last axis ('valid' convolution with ones)."""
    c = np.cumsum(w, axis=-1)
    c = np.concatenate([np.zeros((*c.shape[:-1], 1)), c], axis=-1)
    return np.asarray(c[..., length:] - c[..., :-length], dtype=np.float64)
