"""An in-memory Flower Grid for tests: the real ServerApp logic and ClientApp, no Ray, no gRPC.

Messages still go through ``ClientApp.__call__`` (mods included) and replies through
``Message(content, reply_to=...)``; records are serialised and parsed again on the way so
only what Flower would put on the wire reaches the other side.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

NODE_BASE = 1000


class InlineGrid(Grid):
    def __init__(
        self,
        client_app: ClientApp,
        num_nodes: int,
        *,
        dead: Callable[[int, Message], bool] | None = None,
        reverse_partitions: bool = False,
    ) -> None:
        self.client_app = client_app
        TaskIdentity.run_id = 1  # what Flower's runtime sets in a ServerApp process
        TaskIdentity.node_id = 0
        TaskIdentity.task_id = 1
        self.ids = [NODE_BASE + i for i in range(num_nodes)]
        self.contexts = {
            i: Context(
                run_id=1,
                node_id=i,
                node_config={
                    "partition-id": num_nodes - 1 - n if reverse_partitions else n,
                    "num-partitions": num_nodes,
                },
                state=RecordDict(),
                run_config={},
            )
            for n, i in enumerate(self.ids)
        }  # fmt: skip
        self.dead = dead or (lambda _node, _msg: False)
        self.sent: list[Message] = []
        self.replies: list[Message] = []

    def set_run(self, run_id: int) -> None:  # type: ignore[override]
        pass

    @property
    def run(self):  # type: ignore[override]
        raise NotImplementedError

    def create_message(self, *args, **kwargs):  # type: ignore[override]
        raise NotImplementedError

    def get_node_ids(self) -> Iterable[int]:
        return list(self.ids)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        out = []
        for msg in messages:
            self.sent.append(msg)
            node = msg.metadata.dst_node_id
            if self.dead(node, msg):
                continue
            reply = self.client_app(msg, self.contexts[node])
            self.replies.append(reply)
            out.append(reply)
        return out


def untimed_rows(out: Path) -> list[dict[str, object]]:
    """The metrics.jsonl rows of a run directory without their timing fields."""
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]


def secret_file(tmp_path: Path) -> Path:
    """An owner-only run-secret file, so two engines run with one secret."""
    path = tmp_path / "secret.key"
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path


#: A teleport uplink whose bit error (0.042 at F = 0.937) is beyond what ldpc-2/3 decodes
#: when calibrated at 0.035 (:func:`fixed_decoder`): blocks fail and are sent again.
FEC_AT_ITS_LIMIT = {"kind": "teleport", "link": {"fidelity": 0.937}, "bits": 16,
                    "fec": "ldpc-2/3", "max_retransmissions": 2}  # fmt: skip


def fixed_decoder(monkeypatch: pytest.MonkeyPatch, code: str, *, bit_error_rate: float) -> None:
    """Make every FEC teleport channel use ``code`` calibrated at ``bit_error_rate`` whatever
    its link (so both engines decode alike and blocks can be forced to fail)."""
    from qtfl.channel import teleportation
    from qtfl.channel.fec import FecCodec

    def fixed(fec: str, **_: object) -> FecCodec:
        return FecCodec(code, bit_error_rate=bit_error_rate)

    monkeypatch.setattr(teleportation.FecCodec, "for_link", staticmethod(fixed))
