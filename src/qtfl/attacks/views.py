"""What each attacker observes, turned into the update it attacks.

A view is a function ``(Delivery, ViewContext) -> float32 update | None``; it reads only
``Delivery.tap`` (an eavesdropper) or ``Delivery.received`` (the server), never a channel's
internals. ``None`` means the attacker holds nothing to attack (the transfer aborted
before any payload crossed the wire).

=============================  ==========================================================
tap kind / attacker            what the attacker reconstructs
=============================  ==========================================================
``plaintext``                  the float32 bytes on the wire: the exact update
``ciphertext``                 AES-GCM output read as float32 (nonce and tag dropped);
                               non-finite values set to 0 — the best she can do is guess
``bell-measurement-bits``      Eve's payload guess (``Tap.payload_guess``: her own Z
                               outcome ⊕ the tapped X-correction bit where she
                               intercepted, the tapped bit alone elsewhere; without a
                               guess, the X-correction bits) decoded with the channel's
                               basis encoding and header
``one-time-pad-ciphertext``    QKD-OTP: Eve's guess (ciphertext ⊕ her key guess) or,
                               without one, the ciphertext bits, decoded the same way
``server``                     the update the server decoded (``Delivery.received``)
=============================  ==========================================================

The teleportation header (the float32 ``max|x|`` scale) travels over the authenticated
classical channel; :class:`ViewContext` hands it to the attacker, the conservative choice
(it reveals one number and makes her decoded values land on the true scale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Delivery, FloatVector
from qtfl.errors import require_choice, require_int
from qtfl.quantum.encoding import BasisEncoding, BasisPayload

AEAD_NONCE_BYTES = 12


@dataclass(frozen=True)
class ViewContext:
    """Public facts the attacker is given.

    Attributes:
        n_values: length of the update (public: the model architecture is public).
        encoding_bits: ``b`` of the teleportation channel's basis encoding.
        header_max_abs: the teleportation header (``max|x|``), given to the attacker.
    """

    n_values: int
    encoding_bits: int = 16
    header_max_abs: float = 1.0

    def __post_init__(self) -> None:
        require_int("n_values", self.n_values, low=1)


View = Callable[[Delivery, ViewContext], "FloatVector | None"]


def plaintext_view(delivery: Delivery, ctx: ViewContext) -> FloatVector | None:
    """The plaintext bytes read as float32."""
    raw = np.ascontiguousarray(delivery.tap.observed, dtype=np.uint8)
    return raw.view(np.float32)[: ctx.n_values].copy()


def ciphertext_view(delivery: Delivery, ctx: ViewContext) -> FloatVector | None:
    """AES-GCM ciphertext body read as float32 (a guess: it is indistinguishable from random)."""
    body = np.ascontiguousarray(delivery.tap.observed[AEAD_NONCE_BYTES:], dtype=np.uint8)
    n = min(ctx.n_values, body.size // 4)
    out = np.zeros(ctx.n_values, np.float32)
    out[:n] = body[: 4 * n].view(np.float32)
    out[~np.isfinite(out)] = 0.0
    return out


def bell_bits_view(delivery: Delivery, ctx: ViewContext) -> FloatVector | None:
    """Eve's payload-bit guess decoded with the channel's encoding and the public header."""
    tap = delivery.tap
    n_bits = ctx.n_values * ctx.encoding_bits
    if tap.payload_guess is not None:
        guess = np.asarray(tap.payload_guess, dtype=np.uint8)[:n_bits]
    elif tap.kind == "bell-measurement-bits":  # the X-correction bit m1 of every qubit
        guess = np.unpackbits(tap.observed, count=2 * n_bits)[1::2]
    else:  # one-time-pad ciphertext bits read as payload bits
        guess = np.unpackbits(tap.observed, count=n_bits)
    encoding = BasisEncoding(bits=ctx.encoding_bits)
    payload = BasisPayload(
        packed=np.packbits(guess),
        n_values=ctx.n_values,
        bits_per_value=ctx.encoding_bits,
        max_abs=float(ctx.header_max_abs),
    )
    return encoding.decode(payload)


def server_view(delivery: Delivery, ctx: ViewContext) -> FloatVector | None:
    """The honest-but-curious server: whatever it decoded (None if the transfer aborted)."""
    return None if delivery.received is None else np.asarray(delivery.received, np.float32)


TAP_VIEWS: dict[str, View] = {
    "plaintext": plaintext_view,
    "ciphertext": ciphertext_view,
    "bell-measurement-bits": bell_bits_view,
    "one-time-pad-ciphertext": bell_bits_view,
}
"""Eavesdropper views by :attr:`Tap.kind`."""

ATTACKERS: tuple[str, ...] = ("eavesdropper", "server")


def attacker_view(
    attacker: str, delivery: Delivery, ctx: ViewContext
) -> npt.NDArray[np.float32] | None:
    """The update ``attacker`` (``"eavesdropper"`` or ``"server"``) reconstructs.

    An eavesdropper whose tap holds no payload (e.g. only the check announcements of an
    aborted teleportation) gets ``None``.
    """
    require_choice("attacker", attacker, ATTACKERS)
    if attacker == "server":
        return server_view(delivery, ctx)
    view = TAP_VIEWS.get(delivery.tap.kind)
    return None if view is None else view(delivery, ctx)
