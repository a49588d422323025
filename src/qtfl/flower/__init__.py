"""Flower integration (the ``qtfl[flower]`` extra): ``qtfl run --engine flower-sim`` and
``--engine flower-deploy`` run every scenario on Flower with the same Channels.

Importing any module of this package without Flower installed raises one
:class:`~qtfl.extras.MissingExtraError` that says ``pip install 'qtfl[flower]'``.
"""

from qtfl.extras import require_extra

require_extra("flower", purpose="the Flower engines (--engine flower-sim / flower-deploy)")

__all__: list[str] = []
