"""The Flower app objects a deployed run loads (``[tool.flwr.app.components]``).

Both read their :class:`~qtfl.flower.job.FlowerJob` from the run config's ``job`` (inline JSON).
"""

from __future__ import annotations

from qtfl.flower.client import make_client_app
from qtfl.flower.server import make_server_app

server_app = make_server_app()
client_app = make_client_app()
