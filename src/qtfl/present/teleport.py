"""What ``qtfl teleport`` prints: figures of a teleport run and of a verified transfer.

The library returns typed results (:class:`~qtfl.quantum.benchmark.TeleportSummary`,
:class:`~qtfl.channel.teleportation.VerifiedTransfer`); this module flattens them into the
one mapping the command prints (table or ``--json``).

Every figure of one mapping describes one run. Without an eavesdropper the resources and
``bit_error_rate`` come from a plain teleport of the payload (no checks) and the verification
fields from a verified run of the same bits; with an eavesdropper, the plain run is not
used: resources, ``bit_error_rate``, verdict and leakage all come from the attacked run.
"""

from __future__ import annotations

from typing import Any

from qtfl.channel.teleportation import VerifiedTransfer
from qtfl.channel.verified import BitTransfer
from qtfl.quantum.benchmark import TeleportSummary


def transfer_figures(transfer: BitTransfer) -> dict[str, Any]:
    """Detection and leakage of one verified transfer (``protocol_*``: the whole transfer,
    checks and retries included)."""
    leak = transfer.leakage
    return {
        "detected": transfer.verdict.detected,
        "reason": transfer.verdict.reason,
        "qber": transfer.verdict.qber,
        "qber_bound": transfer.verdict.qber_bound,
        "p_value": transfer.verdict.p_value,
        "attempts": transfer.verdict.attempts,
        "payload_sent": transfer.payload_sent,
        "eve_bits_correct": None if leak is None else leak.bits_correct,
        "eve_agreement": None if leak is None else leak.agreement,
        "eve_information_bits": None if leak is None else leak.information_bits,
        "eve_information_bound_bits": None if leak is None else leak.bound_bits,
        "protocol_bell_pairs": transfer.ledger.bell_pairs,
        "protocol_check_pairs": transfer.ledger.check_pairs,
        "protocol_classical_bits": transfer.ledger.classical_bits,
    }


def eavesdropper_figures(run: VerifiedTransfer) -> dict[str, Any]:
    """The eavesdropper of ``run`` and its options (``None`` where an option does not apply)."""
    eve = run.eavesdropper
    return {
        "eavesdropper": eve.name,
        "eavesdropper_fraction": getattr(eve, "fraction", None),
        "eavesdropper_basis": getattr(eve, "basis", None),
        "check_fraction": run.check_fraction,
        "alpha": run.alpha,
    }


def teleport_figures(plain: TeleportSummary | None, run: VerifiedTransfer) -> dict[str, Any]:
    """The mapping ``qtfl teleport`` prints (see the module docstring for which run is which).

    ``plain`` is ignored when ``run`` has an eavesdropper (pass ``None`` then).
    """
    attacked = run.eavesdropper.name != "none"
    if plain is None or attacked:
        head: dict[str, Any] = {
            "payload_qubits": run.payload_bits,
            "bell_pairs": run.transfer.ledger.bell_pairs,
            "classical_bits": run.transfer.ledger.classical_bits,
            "bit_error_rate": run.bit_error_rate,
            "seconds": run.seconds,
        }
    else:
        head = plain.as_dict()
    return {
        **head,
        **eavesdropper_figures(run),
        **transfer_figures(run.transfer),
        "payload_bit_errors": run.payload_bit_errors,
    }


__all__ = ["eavesdropper_figures", "teleport_figures", "transfer_figures"]
