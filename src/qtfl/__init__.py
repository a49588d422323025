"""qtfl: federated learning over quantum teleportation, with eavesdropper detection.

The package is layered as in the design reference: physics (``qtfl.quantum``,
``qtfl.network``, ``qtfl.security``) knows nothing of federated learning; the FL engine
(``qtfl.fl``) sees only :class:`qtfl.channel.Channel` objects; ``qtfl.cli`` holds no logic;
names a user types come from :mod:`qtfl.registry`.

The version has one source, the package metadata (``pyproject.toml``).
"""

from importlib.metadata import PackageNotFoundError, version

from qtfl.errors import InputError, QtflError

try:
    __version__ = version("qtfl")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

__all__ = ["InputError", "QtflError", "__version__"]
