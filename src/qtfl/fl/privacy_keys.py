"""The secret keys of the privacy defences, each held only by the party that uses it.

DP noise and secure-aggregation masks protect something only if nobody else can regenerate
them, so each comes from a key of its own, derived from the run secret
(:mod:`qtfl.security.run_secret`) with a purpose and context naming its holder:

============================================  =================================================
key                                           holder
============================================  =================================================
``key("dp-noise", scenario, k)``              client ``k`` (local DP noise of its updates)
``key("dp-noise", scenario, "server")``       the server (central DP noise on the sum)
``key("mask-pair", scenario, i, j)``, i < j   clients ``i`` and ``j`` (their pairwise mask;
                                              in SecAgg+ their edge key)
``key("secagg-self", scenario, k)``           client ``k`` (its SecAgg+ self-mask seed and
                                              the coefficients of its Shamir shares)
============================================  =================================================

Per round a key seeds one generator (:meth:`~qtfl.security.run_secret.LinkSecret.generator`
with the public label ``round/<r>``), so a draw depends on the key and the round only — not
on which other clients trained or in which order — and a Flower client node derives exactly
what the in-process engine derives. A pair key is the stand-in for the key two clients
agree (Diffie-Hellman in Bonawitz et al. 2017); revealing one round's seed of a pair (for a
dropped peer) reveals nothing of other rounds: :meth:`PrivacyKeys.pair_seed` is
``HKDF(pair key, "round/<r>")``. The quantum-keyed SecAgg+ (:mod:`qtfl.fl.secagg`) takes
the pair's 16-byte edge key of round ``r`` from the same pair key under another label
(:meth:`PrivacyKeys.edge_key`): it stands in for the key the two clients distil over the
pairs the server swaps (whose establishment, cost and abort the simulation draws from the
experiment seed); an edge key is uniform and held by its two clients only, as the
distilled one is.

In process one :class:`PrivacyKeys` holds the whole run secret. On Flower each node holds
its own share (:func:`party_keys` lists what a party's file must contain): a client node the
keys of the clients it serves, the server its central-noise key and no pair or client key.
"""

from __future__ import annotations

import numpy as np

from qtfl.security.run_secret import LinkSecret, SecretSource, hkdf

#: The context name of the server's own DP noise key.
SERVER_NOISE = "server"


def _label(round_: int) -> bytes:
    return f"round/{int(round_)}".encode()


class PrivacyKeys:
    """The privacy keys of one scenario as ``source`` (a run secret or a party's share) holds them.

    Asking for a key the source does not hold raises :class:`~qtfl.errors.InputError`
    naming it (a client node asking for another client's key, the server for a pair key).
    """

    def __init__(self, source: SecretSource, scenario: str) -> None:
        self._source = source
        self.scenario = scenario

    def client_noise(self, round_: int, client: int) -> np.random.Generator:
        """Generator of client ``client``'s local DP noise in round ``round_``."""
        key = self._source.key("dp-noise", self.scenario, int(client))
        return LinkSecret(key).generator(_label(round_))

    def server_noise(self, round_: int) -> np.random.Generator:
        """Generator of the server's central DP noise in round ``round_``."""
        key = self._source.key("dp-noise", self.scenario, SERVER_NOISE)
        return LinkSecret(key).generator(_label(round_))

    def pair_seed(self, round_: int, i: int, j: int) -> bytes:
        """The 32-byte mask seed clients ``i`` and ``j`` share in round ``round_``."""
        a, b = sorted((int(i), int(j)))
        key = self._source.key("mask-pair", self.scenario, a, b)
        return hkdf(key, _label(round_))


    def edge_key(self, round_: int, i: int, j: int) -> bytes:
        """The 16-byte SecAgg+ key of edge ``(i, j)`` in round ``round_`` (its two clients')."""
        a, b = sorted((int(i), int(j)))
        key = self._source.key("mask-pair", self.scenario, a, b)
        return hkdf(key, f"secagg-edge/{int(round_)}".encode())[:16]

    def self_seed(self, round_: int, client: int) -> bytes:
        """Client ``client``'s 16-byte SecAgg+ self-mask seed ``b`` in round ``round_``."""
        key = self._source.key("secagg-self", self.scenario, int(client))
        return hkdf(key, f"self/{int(round_)}".encode())[:16]

    def share_coefficients(self, round_: int, client: int) -> np.random.Generator:
        """Generator of the random coefficients of client ``client``'s Shamir shares of its
        self-mask seed in round ``round_`` (only the client can draw them)."""
        key = self._source.key("secagg-self", self.scenario, int(client))
        return LinkSecret(key).generator(f"shamir/{int(round_)}".encode())


def party_keys(
    scenario: str, *, clients: list[int], num_clients: int, server: bool = False
) -> list[tuple[str | int, ...]]:
    """The ``(purpose, *context)`` of every privacy key a party holds.

    A client node serving ``clients`` holds their noise and self-mask keys and their pair
    keys with every other client; the server (``server=True``) only its central-noise key.
    """
    if server:
        return [("dp-noise", scenario, SERVER_NOISE)]
    out: list[tuple[str | int, ...]] = []
    for k in clients:
        out.append(("dp-noise", scenario, int(k)))
        out.append(("secagg-self", scenario, int(k)))
        for j in range(num_clients):
            if j != k:
                out.append(("mask-pair", scenario, min(k, j), max(k, j)))
    return out
