"""QDataSet names and the quantum system each one describes.

The QDataSet (Perrier, Youssry & Ferrie, "QDataSet, quantum datasets for machine learning",
Scientific Data 9:582, 2022; arXiv:2108.06661) names its 52 sets like
``G_1q_XY_XZ_N1N5_D``:

``{G|S}``
    Gaussian or square control pulses.
``1q`` / ``2q``
    one or two qubits.
controls
    1 qubit: ``X`` or ``XY`` (σx, or σx and σy drives); 2 qubits: ``IX-XI`` or ``IX-XI-XX``
    (any order of the hyphenated terms).
noise axes and profiles (optional; absent = noiseless)
    1 qubit: ``Z_N1`` (script spelling ``X_Z_N1``; paper spelling ``XZ_N1``: control X,
    noise on Z) or ``XZ_N1N5`` (noise on X with the first profile, on Z with the second);
    2 qubits: ``IZ-ZI_N1-N6`` (the first profile on ZI, the second on IZ — the order of the
    published generator's ``noise_operators = [ZI, IZ]``).
``_D``
    control pulses distorted by the Chebyshev filter.

Hamiltonians, as in the published generator (github.com/eperrier/QDataSet,
``simulation/dataset_*.py``; T = 1, ħ = 1):

* 1 qubit: :math:`H = \\tfrac{\\Omega}{2}\\sigma_z + \\sum_i \\tfrac{f_i(t)}{2}\\sigma_i
  + \\sum_k \\tfrac{\\beta_k(t)}{2}\\sigma_k`, Ω = 12.
* 2 qubits: :math:`H = \\Omega_1 ZI + \\Omega_2 IZ + f_1 XI + f_2 IX\\,[+ f_3 XX]
  + \\beta_1 ZI + \\beta_2 IZ`, Ω1 = 10, Ω2 = 12. The published two-qubit scripts carry no
  factor 1/2 (unlike the one-qubit scripts); we follow the scripts, which produced the data.
  ``XI`` = σx ⊗ I acts on the first (leftmost, most significant) qubit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qtfl.errors import InputError

NAME_PATTERN = (
    "{G|S}_1q_{X|XY}[_{Z|XZ}_{N<p>|N<p>N<p>}][_D] (also G_1q_XZ_N<p>) or "
    "{G|S}_2q_{IX-XI|IX-XI-XX}[_IZ-ZI_N<p>-N<p>][_D], profiles p in 0..6; "
    "e.g. G_1q_XZ_N1, G_1q_XY_XZ_N1N6_D, S_2q_IX-XI-XX_IZ-ZI_N1-N6_D"
)
"""The pattern :func:`parse_name` accepts (quoted in its errors)."""

PROFILES: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
_CONTROLS_1Q = {"X": ("X",), "XY": ("X", "Y")}
_NOISE_1Q = {"Z": ("Z",), "XZ": ("X", "Z")}
_TERMS_2Q = ("IX", "XI", "XX")
_NOISE_2Q = ("ZI", "IZ")


@dataclass(frozen=True)
class QDataSetSpec:
    """One QDataSet configuration, parsed from its name.

    Attributes:
        name: canonical name (paper spelling: ``G_1q_XZ_N1``, ``G_2q_IX-XI-XX_IZ-ZI_N1-N6``).
        pulse_shape: ``"gaussian"`` or ``"square"``.
        qubits: 1 or 2.
        controls: driven Pauli terms, e.g. ``("X", "Y")`` or ``("XI", "IX", "XX")``.
        noise_axes: noisy Pauli terms, e.g. ``("X", "Z")`` or ``("ZI", "IZ")``; empty: none.
        profiles: noise profile per noise axis (0..6); empty when noiseless.
        distortion: pulses pass through the Chebyshev-I filter first.
    """

    name: str
    pulse_shape: str
    qubits: int
    controls: tuple[str, ...]
    noise_axes: tuple[str, ...]
    profiles: tuple[int, ...]
    distortion: bool

    @property
    def noise_label(self) -> str:
        """``"N0"`` when noiseless, else the profiles joined (``"N1"``, ``"N1N6"``)."""
        return "".join(f"N{p}" for p in self.profiles) if self.profiles else "N0"

    @property
    def noiseless(self) -> bool:
        """True when no noise axis carries a non-zero profile."""
        return all(p == 0 for p in self.profiles)


_PUBLISHED_CORES: tuple[str, ...] = (
    "1q_X",
    "1q_XY",
    "1q_XZ_N1",
    "1q_XZ_N2",
    "1q_XZ_N3",
    "1q_XZ_N4",
    "1q_XY_XZ_N1N5",
    "1q_XY_XZ_N1N6",
    "1q_XY_XZ_N3N6",
    "2q_IX-XI-XX",
    "2q_IX-XI_IZ-ZI_N1-N6",
    "2q_IX-XI-XX_IZ-ZI_N1-N5",
    "2q_IX-XI-XX_IZ-ZI_N1-N6",
)

PUBLISHED_NAMES: tuple[str, ...] = tuple(
    f"{shape}_{core}{suffix}"
    for shape in ("G", "S")
    for core in _PUBLISHED_CORES
    for suffix in ("", "_D")
)
"""The 52 published QDataSet names (paper spelling): 13 configurations (the generator's
``simulation/dataset_*.py`` scripts) x Gaussian/square pulses x undistorted/distorted."""


def parse_name(name: str) -> QDataSetSpec:
    """Parse a QDataSet name (see the module docstring) into a :class:`QDataSetSpec`.

    Raises:
        InputError: the name does not follow :data:`NAME_PATTERN`, or asks for a noise
            profile this configuration cannot have (``N6`` is the square of the previous
            axis's noise, so it needs a noise axis before it; the number of profiles must
            match the number of noise axes).
    """
    if not isinstance(name, str):
        raise InputError(f"QDataSet name must be a string, got {name!r}")
    parts = name.split("_")
    distortion = bool(parts) and parts[-1] == "D"
    if distortion:
        parts = parts[:-1]
    if len(parts) < 3 or parts[0] not in ("G", "S") or parts[1] not in ("1q", "2q"):
        raise _bad(name)
    shape = "gaussian" if parts[0] == "G" else "square"
    rest = parts[2:]
    if parts[1] == "1q":
        controls, axes, profiles, canon = _parse_1q(name, rest)
    else:
        controls, axes, profiles, canon = _parse_2q(name, rest)
    _check_profiles(name, axes, profiles)
    canonical = "_".join([parts[0], parts[1], *canon]) + ("_D" if distortion else "")
    return QDataSetSpec(
        name=canonical,
        pulse_shape=shape,
        qubits=1 if parts[1] == "1q" else 2,
        controls=controls,
        noise_axes=axes,
        profiles=profiles,
        distortion=distortion,
    )


def _parse_1q(
    name: str, rest: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], list[str]]:
    if len(rest) == 1:  # noiseless: G_1q_X, G_1q_XY
        if rest[0] not in _CONTROLS_1Q:
            raise _bad(name)
        return _CONTROLS_1Q[rest[0]], (), (), [rest[0]]
    if len(rest) == 2:  # paper spelling of one noise axis: XZ_N1 = control X, noise Z
        merged, prof = rest
        ctrl, axis = merged[:-1], merged[-1:]
        profiles = _profiles(name, prof, sep="")
        if ctrl not in _CONTROLS_1Q or axis != "Z" or len(profiles) != 1:
            raise _bad(name)
        return _CONTROLS_1Q[ctrl], ("Z",), profiles, [f"{ctrl}Z", prof]
    if len(rest) == 3:  # script spelling: X_Z_N1, XY_XZ_N1N5
        ctrl, axes, prof = rest
        if ctrl not in _CONTROLS_1Q or axes not in _NOISE_1Q:
            raise _bad(name)
        profiles = _profiles(name, prof, sep="")
        if axes == "Z" and len(profiles) == 1:
            return _CONTROLS_1Q[ctrl], ("Z",), profiles, [f"{ctrl}Z", prof]
        return _CONTROLS_1Q[ctrl], _NOISE_1Q[axes], profiles, [ctrl, axes, prof]
    raise _bad(name)


def _parse_2q(
    name: str, rest: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], list[str]]:
    if len(rest) not in (1, 3):
        raise _bad(name)
    terms = rest[0].split("-")
    if len(set(terms)) != len(terms) or not set(terms) <= set(_TERMS_2Q):
        raise _bad(name)
    if not {"IX", "XI"} <= set(terms):
        raise _bad(name)
    controls = tuple(t for t in ("XI", "IX", "XX") if t in terms)  # generator's order
    label = "-".join(t for t in _TERMS_2Q if t in terms)
    if len(rest) == 1:
        return controls, (), (), [label]
    axes, prof = rest[1], rest[2]
    if sorted(axes.split("-")) != sorted(_NOISE_2Q) or len(axes.split("-")) != 2:
        raise _bad(name)
    profiles = _profiles(name, prof, sep="-")
    return controls, _NOISE_2Q, profiles, [label, "IZ-ZI", prof]


def _profiles(name: str, token: str, *, sep: str) -> tuple[int, ...]:
    pattern = rf"N\d({re.escape(sep)}N\d)*" if sep else r"(N\d)+"
    if not re.fullmatch(pattern, token):
        raise _bad(name)
    values = tuple(int(d) for d in re.findall(r"N(\d)", token))
    for p in values:
        if p not in PROFILES:
            raise InputError(
                f"QDataSet {name!r}: noise profile N{p} does not exist; profiles are N0..N6"
            )
    return values


def _check_profiles(name: str, axes: tuple[str, ...], profiles: tuple[int, ...]) -> None:
    if len(profiles) != len(axes):
        raise InputError(
            f"QDataSet {name!r}: {len(axes)} noise axes ({', '.join(axes)}) need "
            f"{len(axes)} noise profiles, got {len(profiles)}"
        )
    if profiles and profiles[0] == 6:
        raise InputError(
            f"QDataSet {name!r}: profile N6 is the square of the previous axis's noise "
            f"(correlated noise), so it cannot be on the first noise axis {axes[0]}; "
            "use it second, e.g. G_1q_XY_XZ_N1N6 or G_2q_IX-XI_IZ-ZI_N1-N6"
        )


def _bad(name: str) -> InputError:
    return InputError(f"unknown QDataSet name {name!r}; valid names: {NAME_PATTERN}")
