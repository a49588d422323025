r"""Pairwise keys between clients from entanglement swapped at the server's node.

Each client shares Bell pairs with the server over its own link (Werner pairs of fidelity
``F_k``, visibility :math:`V_k = (4F_k - 1)/3`). For two clients ``i`` and ``j`` the server's
node makes a Bell-state measurement on its two halves (entanglement swapping) and announces
the outcome (2 bits per pair); after the matching Pauli correction ``i`` and ``j`` hold a
Werner pair of visibility :math:`V_{ij} = V_i V_j` (visibilities multiply along a chain,
DESIGN.md), and run BBM92 on it: random X/Z bases, sifting, parameter estimation on a random
sample, error correction, privacy amplification. The server relays pairs but never holds a
key: it sees only its own Bell-measurement outcomes, which are uniform.

A dishonest relay that measures its halves in Z instead of swapping (and announces outcomes
consistent with its results) leaves ``i`` and ``j`` with Z outcomes as correlated as before
but X outcomes independent: the sample QBER is about :math:`(Q_Z + 1/2)/2 \ge 25\%`, far above
any tolerance, so the two clients abort that key (``relay="measure"``).

What is simulated, per pair of clients (vectorised over all pairs): the number of swapped
pairs consumed until ``n + k`` sifted bits exist (a negative binomial draw), the number of
errors in the ``k`` sample bits (binomial, from the experiment generator: the noise
statistics are science), and the abort decision against the tolerance ``Q_tol`` fixed in
advance (Tomamichel, Lim, Gisin & Renner, Nat. Commun. 3, 634 (2012)). The key length is
their Eq. (2) with ``Q_tol``; error correction is accounted by its leakage
``f · n · h(Q_tol)`` with efficiency ``f = 1.16`` (typical of the LDPC reconciliation deployed
systems run; Elkouss, Leverrier, Alléaume & Boutros, ISIT 2009) plus the verification hash —
the bit-level reconciliation itself is :mod:`qtfl.security.qkd`'s and is not rerun for
every pair of clients here. An established key is uniform and equal at both ends (up to
``eps_cor``), so its bytes are drawn from the CSPRNG-seeded secret generator, never from
the seed.

References: Żukowski, Zeilinger, Horne & Ekert, PRL 71, 4287 (1993) (entanglement swapping);
Bennett, Brassard & Mermin, PRL 68, 557 (1992) (BBM92).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Ledger
from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.security.leakage import binary_entropy
from qtfl.security.qkd import finite_key_length, verification_hash_bits

RELAYS = ("honest", "measure")
#: Classical messages of one key between two clients: the relay's outcomes to each client,
#: both basis announcements, both sample announcements, the syndrome, the verification hash
#: and the privacy-amplification seed.
MESSAGES_PER_KEY = 9


@dataclass(frozen=True)
class RelayKeySettings:
    """Key size and security parameters of one pairwise key.

    Attributes:
        key_bits: secret bits per key (a 128-bit mask seed).
        qber_tolerance: the tolerated QBER fixed before the run; above it the pair aborts.
        sample_ratio: sample bits ``k`` per key bit ``n`` before amplification.
        eps_sec, eps_cor: secrecy and correctness parameters.
        ec_efficiency: error-correction leakage over the Shannon limit ``n h(Q_tol)``.
    """

    key_bits: int = 128
    qber_tolerance: float = 0.05
    sample_ratio: float = 0.5
    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    ec_efficiency: float = 1.16

    def __post_init__(self) -> None:
        require_int("quantum_keys.key_bits", self.key_bits, low=1, high=1 << 20)
        require_range("quantum_keys.qber_tolerance", self.qber_tolerance, low=0.0, high=0.11,
                      low_open=True)  # fmt: skip
        require_range("quantum_keys.sample_ratio", self.sample_ratio, low=0.0, low_open=True,
                      high=10.0)  # fmt: skip
        require_range("quantum_keys.eps_sec", self.eps_sec, low=0.0, high=1.0, low_open=True,
                      high_open=True)  # fmt: skip
        require_range("quantum_keys.eps_cor", self.eps_cor, low=0.0, high=1.0, low_open=True,
                      high_open=True)  # fmt: skip
        require_range("quantum_keys.ec_efficiency", self.ec_efficiency, low=1.0, high=2.0)

    def leak_ec(self, n_key: int) -> int:
        """Error-correction leakage plus the verification hash, in bits."""
        shannon = float(binary_entropy(self.qber_tolerance)) * n_key
        return math.ceil(self.ec_efficiency * shannon) + verification_hash_bits(self.eps_cor)

    def key_length(self, n_key: int) -> int:
        """Tomamichel et al. Eq. (2) at ``Q_tol`` for ``n_key`` sifted key bits
        (:func:`qtfl.security.qkd.finite_key_length`)."""
        return finite_key_length(
            n_key=n_key,
            n_sample=max(1, math.ceil(self.sample_ratio * n_key)),
            qber_tolerance=self.qber_tolerance,
            leak_ec=self.leak_ec(n_key),
            eps_sec=self.eps_sec,
            eps_cor=self.eps_cor,
        )

    def sifted_bits(self) -> tuple[int, int]:
        """The smallest ``(n_key, n_sample)`` whose key length reaches ``key_bits``."""
        hi = 1024
        while self.key_length(hi) < self.key_bits:
            hi *= 2
            if hi > 1 << 40:
                raise InputError("quantum_keys: no finite key length reaches key_bits")
        lo = hi // 2
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self.key_length(mid) >= self.key_bits else (mid, hi)
        return hi, max(1, math.ceil(self.sample_ratio * hi))


@dataclass(frozen=True)
class PairwiseKeys:
    """Keys between the clients of each edge ``(i, j)``.

    ``keys[e]`` (16 bytes) is meaningful where ``established[e]``; ``qber`` holds each edge's
    sample estimate; ``ledger`` totals every pair and classical bit; ``messages`` counts the
    classical messages.
    """

    edges: npt.NDArray[np.int64]
    keys: npt.NDArray[np.uint8]
    established: npt.NDArray[np.bool_]
    qber: npt.NDArray[np.float64]
    ledger: Ledger
    messages: int
    sifted_bits: int
    sample_bits: int

    @property
    def detected(self) -> int:
        """Edges whose checks exceeded the tolerance (an aborted key)."""
        return int(np.count_nonzero(~self.established))


def swapped_visibility(v_i: npt.ArrayLike, v_j: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Visibility of the pair left by swapping two Werner pairs: the product."""
    return np.asarray(v_i, np.float64) * np.asarray(v_j, np.float64)


def distill_over_relay(
    edges: npt.ArrayLike,
    *,
    link_fidelity: npt.ArrayLike,
    settings: RelayKeySettings,
    relay: Literal["honest", "measure"] = "honest",
    rng: np.random.Generator,
    secret_rng: np.random.Generator | None,
) -> PairwiseKeys:
    """Establish a key for every edge (see the module docstring).

    Args:
        edges: ``(E, 2)`` client pairs.
        link_fidelity: each client's link fidelity to the server, ``(clients,)`` (or a scalar).
        relay: ``"honest"`` swaps; ``"measure"`` measures its halves in Z (an attack).
        rng: the experiment generator (noise statistics).
        secret_rng: the CSPRNG-seeded generator the key bytes come from; ``None`` when
            the key holders derive them themselves (``keys`` is then all zeros).
    """
    require_choice("relay", relay, RELAYS)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    fid = np.asarray(link_fidelity, dtype=np.float64)
    if np.any(fid < 0.25) or np.any(fid > 1.0):
        raise InputError("link fidelity must lie in [0.25, 1]")
    vis = (4.0 * fid - 1.0) / 3.0
    v = swapped_visibility(vis[e[:, 0]] if vis.ndim else vis, vis[e[:, 1]] if vis.ndim else vis)
    n_key, n_sample = settings.sifted_bits()
    sifted = n_key + n_sample
    count = e.shape[0]
    # swapped pairs used until `sifted` of them had matching bases (probability 1/2 each)
    raw = sifted + rng.negative_binomial(sifted, 0.5, size=count)
    q_z = (1.0 - v) / 2.0
    q_x = q_z if relay == "honest" else np.full(count, 0.5)
    in_z = rng.binomial(n_sample, 0.5, size=count)
    errors = rng.binomial(in_z, q_z) + rng.binomial(n_sample - in_z, q_x)
    qber = errors / n_sample
    established = qber <= settings.qber_tolerance
    if secret_rng is None:
        keys = np.zeros((count, 16), np.uint8)
    else:
        keys = secret_rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    keys[~established] = 0
    total_raw = int(raw.sum())
    ok = int(established.sum())
    pa_seed = n_key + settings.key_bits - 1
    classical = (
        2 * 2 * total_raw  # the relay's two outcome bits, to each client
        + 2 * total_raw  # both ends announce their bases
        + 2 * count * n_sample  # both ends announce their sample outcomes
        + ok * (settings.leak_ec(n_key) + pa_seed)
    )
    ledger = Ledger(
        payload_bits=ok * settings.key_bits,
        bell_pairs=2 * total_raw,
        check_pairs=2 * count * n_sample,
        classical_bits=classical,
    )
    messages = count * 6 + ok * (MESSAGES_PER_KEY - 6)
    return PairwiseKeys(
        edges=e,
        keys=keys,
        established=established,
        qber=qber,
        ledger=ledger,
        messages=messages,
        sifted_bits=n_key,
        sample_bits=n_sample,
    )
