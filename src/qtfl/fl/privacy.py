r"""Classical privacy defences as FL post-processors: DP-FedAvg and secure aggregation.

Both follow pfl-research's two hooks, which the engine calls and nothing else:

* ``postprocess_one_user(update, *, client, weight, context) -> (update, weight)`` on each
  client's update before it enters its uplink Channel;
* ``postprocess_server(updates, weights, *, clients, context) -> (updates, weights)`` on the
  accepted (decoded) updates before the strategy aggregates them.

:class:`DPFedAvg` — McMahan et al. 2018. Each update is clipped to L2 norm ``C``
(:math:`\Delta \min(1, C/\|\Delta\|)`). Gaussian noise of standard deviation
:math:`\sigma C` goes

* ``placement="server"`` (the paper's central DP): once, on the weighted sum, scaled by the
  largest weight share so the sensitivity of the weighted mean (one client's share times
  ``C``) is covered; the server is trusted — it sees the clipped updates;
* ``placement="client"`` (local DP): on every clipped update before it leaves the client,
  so the server and every tap see only noisy updates (the aggregate then carries
  :math:`\sqrt{m}` times more noise).

:func:`dp_epsilon` is opacus's RDP accountant (Mironov 2017; subsampled Gaussian of
Mironov, Talwar & Zhang 2019) at :math:`\delta`; the engine samples a fixed-size cohort
rather than Poisson, the usual approximation. With ``placement="client"`` the server knows
who was sampled, so no amplification is claimed: ``sample_rate = 1`` over all rounds.

:class:`SecureAggregation` — pairwise masks (Bonawitz et al. 2017). Client ``k`` clips its
update elementwise to ``±max_abs``, scales it by its weight share, encodes it as a
fixed-point integer modulo :math:`2^{24}` and adds :math:`\sum_{j>k} \mathrm{PRG}(s_{kj}) -
\sum_{j<k} \mathrm{PRG}(s_{jk})`; the masks cancel exactly in the sum (integer arithmetic)
and every masked value is uniform on :math:`[0, 2^{24})`. Values below :math:`2^{24}` are
exact in float32, so the masked vector crosses any exact channel unchanged; a single bit
error (a raw noisy teleport without FEC) corrupts the sum. A delivered row that is not a
vector of integers in :math:`[0, 2^{24})` (corrupted, or sent by a hostile client) is no
masked input: the server leaves it out of the sum and treats its sender as dropped.
Dropouts are recovered the simple way: the survivors reveal their seeds with the dropped
clients and the server removes those masks. Without the protocol's self-masks a client
wrongly declared dropped is exposed. The pairwise seeds stand in for Diffie-Hellman
agreement: in runs each is ``HKDF(pair key, round)`` of a key only the pair's two clients
hold (:mod:`qtfl.fl.privacy_keys`, derived from the run secret, never from the experiment
seed); without keys, ``HKDF(mask_key, [round, i, j])`` of one mask key.

References: McMahan, Ramage, Talwar & Zhang, ICLR 2018 (DP-FedAvg); Mironov, CSF 2017
(RDP); Bonawitz et al., CCS 2017 (secure aggregation); opacus (Yousefpour et al. 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.extras import require_extra
from qtfl.security.run_secret import LinkSecret

if TYPE_CHECKING:
    from qtfl.fl.privacy_keys import PrivacyKeys

FloatVector = npt.NDArray[np.float32]
UpdateMatrix = npt.NDArray[np.float32]

PLACEMENTS: tuple[str, ...] = ("server", "client")
MODULUS_BITS = 24
"""Secure-aggregation ring :math:`\\mathbb{Z}_{2^{24}}`: every element is exact in float32."""
_MOD = 1 << MODULUS_BITS
_HALF = 1 << (MODULUS_BITS - 1)

#: ``reveal(pairs)``: the round's mask seeds of ``(survivor, dropped)`` client pairs, as the
#: survivors reveal them to the server.
Reveal = Callable[[Sequence[tuple[int, int]]], Mapping[tuple[int, int], bytes]]

#: ``unmask(share_requests, key_requests) -> (shares, keys)``: SecAgg+ unmasking
#: (:mod:`qtfl.fl.secagg`): each ``(owner, holder)`` asks the holder for its Shamir share of
#: the owner's self-mask seed (``LIMBS`` int64 values), each ``(survivor, dropped)`` the
#: survivor for their 16-byte edge key; answers missing from the mappings were withheld.
Unmask = Callable[
    [Sequence[tuple[int, int]], Sequence[tuple[int, int]]],
    tuple[Mapping[tuple[int, int], npt.NDArray[np.int64]], Mapping[tuple[int, int], bytes]],
]


@dataclass(frozen=True)
class RoundContext:
    """Public facts of one round: its number, the sampled cohort and their weights.

    ``reveal`` (server side, optional): how the server obtains the mask seeds survivors
    share with dropped clients; ``unmask`` the same for SecAgg+'s shares and edge keys;
    ``None`` where one process holds every key (in process).
    """

    round: int
    cohort: npt.NDArray[np.int64]
    cohort_weights: npt.NDArray[np.float64]
    rng: np.random.Generator = field(repr=False)
    reveal: Reveal | None = field(default=None, repr=False)
    unmask: Unmask | None = field(default=None, repr=False)


class Postprocessor(Protocol):
    """The two hooks the engine calls (pfl-research style)."""

    def postprocess_one_user(
        self, update: FloatVector, *, client: int, weight: float, context: RoundContext
    ) -> tuple[FloatVector, float]: ...

    def postprocess_server(
        self,
        updates: UpdateMatrix,
        weights: npt.NDArray[np.float64],
        *,
        clients: npt.NDArray[np.int64],
        context: RoundContext,
    ) -> tuple[UpdateMatrix, npt.NDArray[np.float64]]: ...


# --------------------------------------------------------------------------- DP-FedAvg


def clip_update(update: npt.ArrayLike, *, clip_norm: float) -> FloatVector:
    r""":math:`\Delta \min(1, C/\|\Delta\|_2)` in float64, returned as float32."""
    c = require_range("dp.clip_norm", clip_norm, low=0.0, low_open=True)
    x = np.asarray(update, dtype=np.float64)
    norm = float(np.linalg.norm(x))
    return (x * min(1.0, c / norm) if norm > 0 else x).astype(np.float32)


def dp_epsilon(
    *, noise_multiplier: float, sample_rate: float, steps: int, delta: float = 1e-5
) -> float:
    """Epsilon of ``steps`` subsampled Gaussian mechanisms at ``delta`` (opacus RDP accountant)."""
    require_extra("privacy", purpose="DP accounting (epsilon)")
    from opacus.accountants import RDPAccountant

    sigma = require_range("dp.noise_multiplier", noise_multiplier, low=0.0)
    q = require_range("sample_rate", sample_rate, low=0.0, high=1.0, low_open=True)
    n = require_int("steps", steps, low=0)
    require_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    if sigma == 0.0:
        return float("inf")
    if n == 0:
        return 0.0
    acc = RDPAccountant()
    acc.history = [(sigma, q, n)]
    return float(acc.get_epsilon(delta))


@dataclass(frozen=True)
class DPSettings:
    """DP-FedAvg options: clip norm ``C``, noise multiplier ``sigma``, where noise is added."""

    clip_norm: float = 1.0
    noise_multiplier: float = 1.0
    placement: Literal["server", "client"] = "server"

    def __post_init__(self) -> None:
        require_range("dp.clip_norm", self.clip_norm, low=0.0, low_open=True)
        require_range("dp.noise_multiplier", self.noise_multiplier, low=0.0)
        require_choice("dp.placement", self.placement, PLACEMENTS)

    def epsilon(self, *, rounds: int, sample_rate: float, delta: float = 1e-5) -> float:
        """Client-level epsilon after ``rounds`` (no amplification for client placement)."""
        q = sample_rate if self.placement == "server" else 1.0
        return dp_epsilon(
            noise_multiplier=self.noise_multiplier, sample_rate=q, steps=rounds, delta=delta
        )


class DPFedAvg:
    """Clip every update to ``C``; add Gaussian noise ``sigma * C`` (see module docstring).

    Args:
        settings: clip norm, noise multiplier, placement.
        noise_rng: the generator of the noise. The noise is a secret — anyone who can
            regenerate it subtracts it and the guarantee is void — so runs pass one keyed by
            the run secret (:func:`make_postprocessors`); ``None`` draws from the round
            context's generator (analysis tools that fix their own seed).
        keys: the party's privacy keys (:mod:`qtfl.fl.privacy_keys`); when given, client
            ``k``'s noise in round ``r`` comes from its own key (``keys.client_noise(r, k)``)
            and the server's from the server's (``keys.server_noise(r)``), so each draw
            depends on its holder's key and the round only, in any process (Flower nodes).
    """

    def __init__(
        self,
        settings: DPSettings,
        *,
        noise_rng: np.random.Generator | None = None,
        keys: PrivacyKeys | None = None,
    ) -> None:
        self.settings = settings
        self._noise_rng = noise_rng
        self._keys = keys

    def _rng(self, context: RoundContext, client: int | None = None) -> np.random.Generator:
        if self._keys is not None:
            if client is None:
                return self._keys.server_noise(context.round)
            return self._keys.client_noise(context.round, client)
        return self._noise_rng if self._noise_rng is not None else context.rng

    def noise(self, size: int, *, scale: float, rng: np.random.Generator) -> FloatVector:
        """Gaussian noise of standard deviation ``scale * sigma * C``."""
        s = self.settings
        return (rng.standard_normal(size) * (scale * s.noise_multiplier * s.clip_norm)).astype(
            np.float32
        )

    def postprocess_one_user(
        self, update: FloatVector, *, client: int, weight: float, context: RoundContext
    ) -> tuple[FloatVector, float]:
        out = clip_update(update, clip_norm=self.settings.clip_norm)
        if self.settings.placement == "client":
            out = out + self.noise(out.size, scale=1.0, rng=self._rng(context, client))
        return out, weight

    def postprocess_server(
        self,
        updates: UpdateMatrix,
        weights: npt.NDArray[np.float64],
        *,
        clients: npt.NDArray[np.int64],
        context: RoundContext,
    ) -> tuple[UpdateMatrix, npt.NDArray[np.float64]]:
        if self.settings.placement == "client" or updates.shape[0] == 0:
            return updates, weights
        w = np.asarray(weights, dtype=np.float64)
        share = w / w.sum()
        mean = share @ updates.astype(np.float64)
        mean += self.noise(updates.shape[1], scale=float(share.max()), rng=self._rng(context))
        return mean[None, :].astype(np.float32), np.ones(1)


# --------------------------------------------------------------------------- secure aggregation


class SecureAggregation:
    """Pairwise-masked fixed-point sum modulo :math:`2^{24}` (see module docstring).

    Args:
        max_abs: every update is clipped elementwise to ``[-max_abs, max_abs]``; the
            aggregate's resolution is ``max_abs / 2^23`` (about ``1.2e-7 * max_abs``).
        mask_key: 32 secret bytes from which the pairwise seeds are derived (stands in for
            the Diffie-Hellman agreement of Bonawitz et al.); ``None``: fresh from the OS.
        keys: the party's privacy keys (:mod:`qtfl.fl.privacy_keys`); when given, the seed
            of pair ``(i, j)`` in round ``r`` is ``keys.pair_seed(r, i, j)`` — a key only
            clients ``i`` and ``j`` hold — instead of one derived from ``mask_key``.
    """

    def __init__(
        self,
        *,
        max_abs: float = 1.0,
        mask_key: bytes | None = None,
        keys: PrivacyKeys | None = None,
    ) -> None:
        self.max_abs = require_range("secure_aggregation.max_abs", max_abs, low=0.0, low_open=True)
        self._mask_key = LinkSecret(mask_key)  # validates the length; never printed
        self._keys = keys

    def scale(self, cohort_size: int) -> float:
        """Fixed-point scale: the sum of ``m`` rounded shares stays inside ``(-2^23, 2^23)``."""
        return (_HALF - cohort_size) / self.max_abs

    def pair_seed(self, i: int, j: int, round_: int) -> bytes:
        """The seed clients ``i`` and ``j`` share in round ``round_`` (what a survivor reveals)."""
        if self._keys is not None:
            return self._keys.pair_seed(round_, i, j)
        return f"mask/{round_}/{min(i, j)}/{max(i, j)}".encode()  # a label under mask_key

    def mask_of_seed(self, seed: bytes, size: int) -> npt.NDArray[np.int64]:
        """PRG output (``size`` values in :math:`[0, 2^{24})`) of a pair seed."""
        if self._keys is not None:
            gen = LinkSecret(seed).generator(b"mask")
        else:
            gen = self._mask_key.generator(seed)
        return gen.integers(0, _MOD, size, dtype=np.int64)

    def pair_mask(self, i: int, j: int, round_: int, size: int) -> npt.NDArray[np.int64]:
        """PRG output of the seed shared by clients ``i < j`` in round ``round_``."""
        return self.mask_of_seed(self.pair_seed(i, j, round_), size)

    def mask(
        self, client: int, cohort: npt.ArrayLike, round_: int, size: int
    ) -> npt.NDArray[np.int64]:
        r"""Client ``k``'s mask :math:`\sum_{j>k} P(s_{kj}) - \sum_{j<k} P(s_{jk})` mod 2^24."""
        total = np.zeros(size, np.int64)
        for j in np.asarray(cohort).tolist():  # one PRG call per peer, vectorised over values
            if j == client:
                continue
            m = self.pair_mask(client, j, round_, size)
            total += m if j > client else -m
        return total % _MOD

    def encode(
        self, update: npt.ArrayLike, *, share: float, cohort_size: int
    ) -> npt.NDArray[np.int64]:
        """Fixed-point code of ``share * clip(update)`` modulo :math:`2^{24}`."""
        x = np.clip(np.asarray(update, np.float64), -self.max_abs, self.max_abs)
        return np.rint(x * share * self.scale(cohort_size)).astype(np.int64) % _MOD

    def decode_sum(self, total: npt.ArrayLike, *, cohort_size: int) -> npt.NDArray[np.float64]:
        """Signed value of a ring element sum, divided by the scale."""
        t = np.asarray(total, np.int64) % _MOD
        t = np.where(t >= _HALF, t - _MOD, t)
        return t / self.scale(cohort_size)

    def postprocess_one_user(
        self, update: FloatVector, *, client: int, weight: float, context: RoundContext
    ) -> tuple[FloatVector, float]:
        cohort = np.asarray(context.cohort)
        share = weight / float(np.sum(context.cohort_weights))
        code = self.encode(update, share=share, cohort_size=cohort.size)
        masked = (code + self.mask(client, cohort, context.round, code.size)) % _MOD
        return masked.astype(np.float32), weight

    def unmask_sum(
        self,
        masked: npt.ArrayLike,
        *,
        survivors: npt.ArrayLike,
        cohort: npt.ArrayLike,
        round_: int,
        reveal: Reveal | None = None,
    ) -> npt.NDArray[np.int64] | None:
        """Sum of the survivors' codes: add their rows, remove the masks shared with dropouts.

        ``reveal`` asks the survivors for the seeds they share with the dropped clients
        (``None``: this object derives them, one process holding every key). If a seed is
        not revealed the sum stays masked: ``None`` is returned.
        """
        rows = np.rint(np.asarray(masked, np.float64)).astype(np.int64)
        total = rows.sum(axis=0) % _MOD
        alive = sorted(set(np.asarray(survivors).tolist()))
        gone = [j for j in np.asarray(cohort).tolist() if j not in set(alive)]
        pairs = [(k, j) for k in alive for j in gone]
        if reveal is None:
            seeds = {(k, j): self.pair_seed(k, j, round_) for k, j in pairs}
        else:
            seeds = dict(reveal(pairs)) if pairs else {}
        for k, j in pairs:  # survivors reveal their seeds with each dropped client
            seed = seeds.get((k, j))
            if not isinstance(seed, bytes):
                return None
            m = self.mask_of_seed(seed, total.size)
            total -= m if j > k else -m
        return total % _MOD

    def postprocess_server(
        self,
        updates: UpdateMatrix,
        weights: npt.NDArray[np.float64],
        *,
        clients: npt.NDArray[np.int64],
        context: RoundContext,
    ) -> tuple[UpdateMatrix, npt.NDArray[np.float64]]:
        if updates.shape[0] == 0:
            return updates, weights
        valid = on_ring(updates)
        if not valid.all():  # not a masked vector (a corrupted or hostile row): a dropout
            updates, weights, clients = updates[valid], weights[valid], clients[valid]
            if updates.shape[0] == 0:
                return updates, weights
        cohort = np.asarray(context.cohort)
        total = self.unmask_sum(
            updates, survivors=clients, cohort=cohort, round_=context.round, reveal=context.reveal
        )
        if total is None:  # a survivor withheld a seed: this round's sum stays masked
            return updates[:0], weights[:0]
        agg = self.decode_sum(total, cohort_size=cohort.size)
        # the codes hold shares of the whole cohort's weight; renormalise to the survivors'
        agg *= float(np.sum(context.cohort_weights)) / float(np.sum(weights))
        return agg[None, :].astype(np.float32), np.ones(1)


def on_ring(updates: UpdateMatrix) -> npt.NDArray[np.bool_]:
    """Rows that are masked vectors: finite integers in :math:`[0, 2^{24})`."""
    ring = np.isfinite(updates) & (updates >= 0) & (updates < _MOD)
    out: npt.NDArray[np.bool_] = np.all(
        ring & (np.rint(np.where(ring, updates, 0)) == updates), axis=1
    )
    return out


def make_postprocessors(
    *,
    dp: DPSettings | None,
    secure_aggregation: bool,
    max_abs: float = 1.0,
    mask_key: bytes | None = None,
    keys: PrivacyKeys | None = None,
) -> list[Postprocessor]:
    """The post-processor chain of a privacy config: DP first, then masking.

    ``mask_key`` (from the run secret; ``None``: fresh OS randomness) keys the masks and the
    DP noise, so neither can be regenerated from the experiment seed. DP runs are therefore
    reproduced bit for bit by the same seed *and* run secret (``--secret-file``); with the
    seed alone they are statistically equivalent.

    ``keys`` (a party's :class:`~qtfl.fl.privacy_keys.PrivacyKeys`) replaces ``mask_key``:
    every client's noise, the server's noise and every pair's mask come from the key of its
    holder, per round — what runs (in process and on Flower) use.

    Secure aggregation leaves the server no individual update to add central noise to, so
    together they need ``dp.placement="client"``.
    """
    chain: list[Postprocessor] = []
    if dp is not None:
        if secure_aggregation and dp.placement == "server":
            raise InputError(
                "privacy.dp.placement 'server' cannot be combined with secure_aggregation "
                "(the server sees only the masked sum); use placement 'client'"
            )
        from qtfl.security.run_secret import LinkSecret
        from qtfl.security.shamir import secret_generator

        noise = (
            secret_generator() if mask_key is None else LinkSecret(mask_key).generator(b"dp-noise")
        )
        chain.append(DPFedAvg(dp, noise_rng=noise, keys=keys))
    if secure_aggregation:
        chain.append(SecureAggregation(max_abs=max_abs, mask_key=mask_key, keys=keys))
    return chain
