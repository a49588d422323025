"""What a client node keeps between rounds: its clients' error-feedback residuals.

The residual of error feedback is the client's own (it is the part of its update never sent),
so it lives on the client node — not in the ServerApp's checkpoint. Flower's ``Context.state``
does not outlive a run, and a resumed run is a new Flower run, so each node keeps the
residuals in files of its own directory (``<state_dir>/<party>/<scenario>/client-<k>.npz``,
owner-only, written atomically), one record per client:

* ``round``: the last round the client sent in;
* ``before``: its residual before that send;
* ``accepted`` / ``rejected``: its residual after that send if the server accepted / did
  not accept the delivery (:meth:`qtfl.flower.compression_ends.CompressedEnds.send_with_state`).

The server's train message names the client's last recorded delivery (``last_round``,
``last_accepted``; from the server's own round records, which its checkpoint holds), and
:meth:`ResidualStore.current` picks the state to start from:

* a record of this very round (the round is being re-run after a resume): ``before``;
* a record of the server's ``last_round``: ``accepted`` or ``rejected`` as the server says;
* a record of a round the server holds no delivery of (its reply never arrived): ``rejected``
  — nothing reached the server, so error feedback keeps the whole update.

So a resumed run continues from exactly the residuals of the uninterrupted one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError
from qtfl.fl.checkpoint import atomic_write_bytes
from qtfl.fl.engine import RoundMetrics

FloatVector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LastDelivery:
    """How the server recorded a client's last uplink delivery (``round`` 0: none yet)."""

    round: int = 0
    accepted: bool = False


class ResidualStore:
    """The residual records of the clients of one party (a node) in one scenario."""

    def __init__(self, state_dir: str | Path, party: str, scenario: str) -> None:
        self.root = Path(state_dir) / party / scenario

    def _path(self, client: int) -> Path:
        return self.root / f"client-{int(client)}.npz"

    def current(self, client: int, *, round_: int, last: LastDelivery) -> FloatVector | None:
        """The residual client ``client`` starts round ``round_`` from (``None``: fresh)."""
        path = self._path(client)
        if not path.is_file():
            if last.round:
                raise InputError(
                    f"client {client}: the server holds its delivery of round {last.round} "
                    f"but this node has no residual record under {self.root}"
                )
            return None
        with np.load(path, allow_pickle=False) as doc:
            sent = int(doc["round"])
            if sent >= round_:
                key = "before"
            elif sent == last.round:
                key = "accepted" if last.accepted else "rejected"
            elif sent > last.round:
                key = "rejected"  # the server never received that delivery
            else:
                raise InputError(
                    f"client {client}: this node's residual is of round {sent}, older than "
                    f"the server's record of round {last.round}"
                )
            if key == "before" and not bool(doc["has_before"]):
                return None
            return np.asarray(doc[key], np.float32).copy()

    def record(
        self,
        client: int,
        *,
        round_: int,
        before: FloatVector | None,
        accepted: FloatVector,
        rejected: FloatVector,
    ) -> None:
        """Keep client ``client``'s send of round ``round_`` (atomically, owner-only)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(
            buf,
            round=np.int64(round_),
            has_before=np.bool_(before is not None),
            before=np.zeros(0, np.float32) if before is None else before,
            accepted=accepted,
            rejected=rejected,
        )
        atomic_write_bytes(self._path(client), buf.getvalue())


def last_delivery(history: Sequence[RoundMetrics], client: int) -> LastDelivery:
    """Client ``client``'s last uplink delivery in the round records ``history``."""
    for record in reversed(history):
        ids = record.clients.get("client", [])
        for i in range(len(ids) - 1, -1, -1):
            if int(ids[i]) == int(client):
                return LastDelivery(record.round, bool(record.clients["accepted"][i]))
    return LastDelivery()
