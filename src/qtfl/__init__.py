"""qtfl: federated learning over quantum teleportation, with eavesdropper detection.

The package is layered as in the design reference: physics (``qtfl.quantum``,
``qtfl.network``, ``qtfl.security``) knows nothing of federated learning; the FL engine
(``qtfl.fl``) sees only :class:`qtfl.channel.Channel` objects; ``qtfl.cli`` holds no logic.
"""

from qtfl.errors import InputError, QtflError

__version__ = "0.1.0"

__all__ = ["InputError", "QtflError", "__version__"]
