"""QDataSet regenerated: simulated 1- and 2-qubit systems under control pulses and noise.

The QDataSet (E. Perrier, A. Youssry, C. Ferrie, "QDataSet, quantum datasets for machine
learning", Scientific Data 9:582, 2022; arXiv:2108.06661) is 52 data sets of one- and
two-qubit systems driven by random Gaussian or square pulse trains under classical noise
profiles N0–N6; its public download is gone and its generator is TensorFlow-1-era code
(github.com/eperrier/QDataSet, ``simulation/``). :func:`generate_qdataset` follows that
generator's recipe — pulses (:mod:`qtfl.data._qdataset_pulses`), noise
(:mod:`qtfl.data._qdataset_noise`), Hamiltonians and names
(:mod:`qtfl.data._qdataset_spec`), evolution, V_O and expectations
(:mod:`qtfl.data._qdataset_evolution`) — batched over examples, realisations and time
steps (torch, float64), with T = 1 and M = 1024 steps by default. By default the noisy
propagators follow the published generator's discretisation (``evolution="faithful"``: its
step-wise interaction picture, first order in dt); ``evolution="exact"`` multiplies exact
step propagators of the full piecewise-constant Hamiltonian instead (second order).

Per example it returns the pulse parameters ``(axes, 5, 3)`` (amplitude, centre, width
parameter), the pulses and distorted pulses ``(M, axes)`` (identical without ``_D``), the
control unitary U_c, the expectation values of X, Y, Z (15 two-qubit Paulis) for the 6 (36)
Pauli eigenstates averaged over the K noise realisations (``(6, 3)``/``(36, 15)``, state-major
like the paper's 18/540 vector), the V_O operators averaged over K, and — with
``keep_noise=True`` — the K noise realisations ``(K, M, noise axes)`` as float32 (the
published files stored them; at the paper's 10,000 x 2,000 x 1,024 that is 82 GB per axis,
hence off by default).

Reproducibility: example ``i`` is drawn from ``SeedSequence(seed, spawn_key=(i,))`` alone, so
it does not depend on the number of examples, the chunking or the machine (float rounding
aside): the first 100 examples of a 10,000-example set are the 100-example set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.data._qdataset_noise import draw_noise
from qtfl.data._qdataset_pulses import (
    NUM_PULSES,
    distort,
    draw_pulse_parameters,
    pulse_waveform,
    time_grid,
)
from qtfl.data._qdataset_spec import NAME_PATTERN, PUBLISHED_NAMES, QDataSetSpec, parse_name
from qtfl.errors import InputError, require_choice, require_int

__all__ = [
    "NAME_PATTERN",
    "PUBLISHED_NAMES",
    "QDataSet",
    "QDataSetSpec",
    "generate_qdataset",
    "load_qdataset_file",
    "parse_name",
    "published_sets",
]

FORMAT_VERSION = 2
DEFAULT_TIME_STEPS = 1024
TOTAL_TIME = 1.0
_STEP_BUDGET = {1: 1 << 20, 2: 1 << 17}  # step unitaries per batch (memory and cache)


@dataclass(frozen=True)
class QDataSet:
    """A generated QDataSet (arrays indexed by example first; see the module docstring)."""

    spec: QDataSetSpec
    seed: int
    realisations: int
    time_steps: int
    pulse_parameters: npt.NDArray[np.float64]
    pulses: npt.NDArray[np.float64]
    distorted_pulses: npt.NDArray[np.float64]
    expectations: npt.NDArray[np.float64]
    vo: npt.NDArray[np.complex128]
    control_unitary: npt.NDArray[np.complex128]
    observable_labels: tuple[str, ...]
    state_labels: tuple[str, ...]
    noise: npt.NDArray[np.float32] | None = None
    evolution: str = "faithful"

    @property
    def examples(self) -> int:
        """Number of examples."""
        return int(self.expectations.shape[0])

    def expectation_vector(self) -> npt.NDArray[np.float64]:
        """Expectations flattened state-major, ``(E, 18)`` or ``(E, 540)`` as in the paper."""
        return self.expectations.reshape(self.examples, -1)

    def control_expectations(self) -> npt.NDArray[np.float64]:
        r"""Noiseless expectations ``(E, nS, nO)``: :math:`\mathrm{tr}(O\,U_c ρ U_c^\dagger)`.

        What the white-box part of the paper's grey-box model computes from the pulses and
        the known control Hamiltonian (the noise enters only through V_O).
        """
        from qtfl.data._qdataset_evolution import build_system

        s = build_system(self.spec.qubits, self.spec.controls, self.spec.noise_axes)
        uc = self.control_unitary
        final = np.einsum("eij,sjk,elk->esil", uc, s.states, uc.conj())
        return np.einsum("esil,oli->eso", final, s.observables).real

    def metadata(self) -> dict[str, Any]:
        """JSON-ready description (name, sizes, seed, conventions, reference)."""
        s = self.spec
        return {
            "format_version": FORMAT_VERSION,
            "name": s.name,
            "pulse_shape": s.pulse_shape,
            "qubits": s.qubits,
            "controls": list(s.controls),
            "noise_axes": list(s.noise_axes),
            "noise_profiles": [f"N{p}" for p in s.profiles],
            "distortion": s.distortion,
            "examples": self.examples,
            "realisations": self.realisations,
            "time_steps": self.time_steps,
            "evolution": self.evolution,
            "total_time": TOTAL_TIME,
            "num_pulses": NUM_PULSES,
            "seed": self.seed,
            "observables": list(self.observable_labels),
            "states": list(self.state_labels),
            "pulse_parameter_columns": ["amplitude", "centre", "width"],
            "reference": "Perrier, Youssry, Ferrie, Scientific Data 9:582 (2022)",
        }

    def save(self, path: str | Path) -> Path:
        """Write an uncompressed ``.npz`` (arrays + ``metadata`` JSON); returns the path."""
        p = Path(path)
        if p.suffix != ".npz":
            raise InputError(f"--out must name a .npz file, got {str(p)!r}")
        if not p.parent.is_dir():
            raise InputError(f"directory {str(p.parent)!r} of --out does not exist")
        arrays: dict[str, Any] = {
            "metadata": np.array(json.dumps(self.metadata())),
            "pulse_parameters": self.pulse_parameters,
            "pulses": self.pulses,
            "distorted_pulses": self.distorted_pulses,
            "expectations": self.expectations,
            "vo": self.vo,
            "control_unitary": self.control_unitary,
        }
        if self.noise is not None:
            arrays["noise"] = self.noise
        with p.open("wb") as fh:
            np.savez(fh, **arrays)
        return p


def published_sets() -> list[dict[str, Any]]:
    """The 52 published sets: name, qubits, controls, noise axes and profile, pulse shape."""
    out = []
    for name in PUBLISHED_NAMES:
        s = parse_name(name)
        out.append(
            {
                "name": s.name,
                "qubits": s.qubits,
                "pulse_shape": s.pulse_shape,
                "controls": list(s.controls),
                "noise_axes": list(s.noise_axes),
                "noise_profile": s.noise_label,
                "distortion": s.distortion,
            }
        )
    return out


def load_qdataset_file(path: str | Path) -> QDataSet:
    """Read a file written by :meth:`QDataSet.save`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"QDataSet file {str(p)!r} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["metadata"]))
            arrays = {k: z[k] for k in z.files if k != "metadata"}
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{str(p)!r} is not a QDataSet .npz file: {exc}") from None
    return QDataSet(
        spec=parse_name(meta["name"]),
        seed=int(meta["seed"]),
        realisations=int(meta["realisations"]),
        time_steps=int(meta["time_steps"]),
        observable_labels=tuple(meta["observables"]),
        state_labels=tuple(meta["states"]),
        noise=arrays.pop("noise", None),
        evolution=str(meta.get("evolution", "exact")),  # format 1 files: exact propagator
        **arrays,
    )


MAX_EXAMPLES = 1_000_000
MAX_REALISATIONS = 100_000
MAX_TIME_STEPS = 65_536
MAX_HELD_BYTES = 4 << 30
"""Limits of :func:`generate_qdataset`: beyond them its arrays exceed 4 GiB of memory."""


def generate_qdataset(
    name: str,
    *,
    examples: int = 1000,
    realisations: int = 100,
    seed: int = 0,
    time_steps: int = DEFAULT_TIME_STEPS,
    keep_noise: bool = False,
    evolution: str = "faithful",
) -> QDataSet:
    """Generate the QDataSet called ``name`` (e.g. ``"G_1q_XZ_N1"``).

    Args:
        name: a QDataSet name (:data:`NAME_PATTERN`; the module docstring of
            :mod:`qtfl.data._qdataset_spec` explains each part).
        examples: number of examples (pulse sequences), >= 1 (the paper: 10,000).
        realisations: noise realisations K per example, >= 1 (the paper: 2,000).
        seed: seed of everything random (>= 0).
        time_steps: M piecewise-constant steps over T = 1, even and >= 8 (paper: 1,024).
        keep_noise: also return the noise realisations (float32; large).
        evolution: ``"faithful"`` (default) steps the published generator's interaction
            picture (first order in dt, matches the published sets' discretisation);
            ``"exact"`` multiplies exact step propagators of the full Hamiltonian (second
            order); see :mod:`qtfl.data._qdataset_evolution`.

    Raises:
        InputError: unknown name (the valid pattern is quoted), a noise profile the
            configuration cannot carry, examples/realisations <= 0, a bad time_steps, an
            unknown evolution.
    """
    from qtfl.data._qdataset_evolution import EVOLUTION_MODES, build_system, simulate

    spec = parse_name(name)
    require_choice("evolution", evolution, EVOLUTION_MODES)
    e = require_int("examples", examples, low=1, high=MAX_EXAMPLES)
    k = require_int("realisations", realisations, low=1, high=MAX_REALISATIONS)
    require_int("seed", seed, low=0)
    m = require_int("time_steps", time_steps, low=8, high=MAX_TIME_STEPS)
    if m % 2:
        raise InputError(f"time_steps must be even (the N1/N5 spectra use M/2 bins), got {m}")
    held = e * m * len(spec.controls) * 16 + (e * k * m * len(spec.noise_axes) * 4 * keep_noise)
    if held > MAX_HELD_BYTES:
        raise InputError(
            f"{e:,} examples x {m:,} time steps{' with the noise kept' if keep_noise else ''} "
            f"would hold about {held / 2**30:.1f} GiB in memory, more than "
            f"{MAX_HELD_BYTES / 2**30:.0f} GiB; ask for fewer examples or time steps"
        )
    system = build_system(spec.qubits, spec.controls, spec.noise_axes)
    axes, n_noise = len(spec.controls), len(spec.noise_axes)
    t = time_grid(m, total_time=TOTAL_TIME)
    params = np.empty((e, axes, NUM_PULSES, 3))
    pulses = np.empty((e, m, axes))
    distorted = np.empty_like(pulses)
    expect = np.empty((e, len(system.state_labels), len(system.observable_labels)))
    vo = np.empty((e, len(system.observable_labels), system.dim, system.dim), np.complex128)
    uc = np.empty((e, system.dim, system.dim), np.complex128)
    noise_out = np.empty((e, k, m, n_noise), np.float32) if keep_noise else None
    budget = _STEP_BUDGET[spec.qubits]
    chunk = max(1, budget // (k * m))
    for c0 in range(0, e, chunk):
        c1 = min(e, c0 + chunk)
        beta = np.empty((c1 - c0, k, m, n_noise))
        for i in range(c0, c1):  # per-example streams: example i depends on (seed, i) only
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))
            params[i] = draw_pulse_parameters(spec.pulse_shape, examples=1, axes=axes, rng=rng)[0]
            draw_noise(spec.profiles, realisations=k, time_steps=m, rng=rng, out=beta[i - c0])
        pulses[c0:c1] = pulse_waveform(spec.pulse_shape, params[c0:c1], t).transpose(0, 2, 1)
        distorted[c0:c1] = distort(pulses[c0:c1], time_axis=1) if spec.distortion else pulses[c0:c1]
        ev = simulate(
            system, distorted[c0:c1], beta, dt=TOTAL_TIME / m, mode=evolution, max_steps=budget
        )
        expect[c0:c1], vo[c0:c1], uc[c0:c1] = ev.expectations, ev.vo, ev.control_unitary
        if noise_out is not None:
            noise_out[c0:c1] = beta
    return QDataSet(
        spec=spec,
        seed=seed,
        realisations=k,
        time_steps=m,
        pulse_parameters=params,
        pulses=pulses,
        distorted_pulses=distorted,
        expectations=expect,
        vo=vo,
        control_unitary=uc,
        observable_labels=system.observable_labels,
        state_labels=system.state_labels,
        noise=noise_out,
        evolution=evolution,
    )
