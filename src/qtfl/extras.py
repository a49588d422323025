"""Optional integrations and the one error that names the extra to install.

The core of qtfl (stim, torch, the in-process engine, every channel) needs none of these.
Heavy integrations are pip extras, imported only where they are used:

==========  ==========================================  ==================================
extra       packages                                    used by
==========  ==========================================  ==================================
flower      ``flwr[simulation]`` (Flower, Ray)          ``qtfl run --engine flower-*``
qiskit      ``qiskit``, ``qiskit-aer``,                 the Qiskit reference simulation,
            ``qiskit-ibm-runtime``                      device noise, ``qtfl bench teleport``
privacy     ``opacus``                                  DP accounting (epsilon of DP-FedAvg)
==========  ==========================================  ==================================

>>> EXTRAS["flower"][0]
'flwr'
"""

from __future__ import annotations

import importlib.util
from typing import Final

from qtfl.errors import QtflError

EXTRAS: Final[dict[str, tuple[str, ...]]] = {
    "flower": ("flwr", "psutil"),
    "qiskit": ("qiskit", "qiskit_aer", "qiskit_ibm_runtime"),
    "privacy": ("opacus",),
}
"""Importable modules each extra provides."""


class MissingExtraError(QtflError, ImportError):
    """An optional integration is not installed; the message names the pip extra."""


def require_extra(extra: str, *, purpose: str = "") -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` is importable.

    The check looks the modules up (``importlib.util.find_spec``) without importing them.
    """
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        need = f" for {purpose}" if purpose else ""
        verb = "is" if len(missing) == 1 else "are"
        raise MissingExtraError(
            f"{' and '.join(missing)} {verb} not installed{need}; install it with "
            f"pip install 'qtfl[{extra}]'"
        )


__all__ = ["EXTRAS", "MissingExtraError", "require_extra"]
