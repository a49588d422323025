"""Package layout only (metadata lives in pyproject.toml).

The example experiment files live in the top-level ``configs/`` directory of the source tree
(where ``qtfl run configs/quickstart.yaml`` finds them) and ship in the wheel as the data
package ``qtfl.configs`` (``qtfl configs`` lists them); a ``package_dir`` mapping is the one
thing pyproject.toml cannot express next to package discovery.
"""

from setuptools import find_packages, setup

setup(
    package_dir={"": "src", "qtfl.configs": "configs"},
    packages=[*find_packages("src"), "qtfl.configs"],
)
