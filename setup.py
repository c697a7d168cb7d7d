"""vizlab's packages: those found under vizlab/ and hydra_plugins/, plus ``vizlab.conf``,
which is the repository's top-level conf/ folder. The configs thus ship inside the wheel
(``vizlab/conf/``) while the checkout keeps one conf/ for ``python run.py``; there is no copy
to keep in step. (pyproject.toml's ``packages.find`` cannot add a package mapped onto another
folder, hence this file.)"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(
            include=["vizlab", "vizlab.*", "hydra_plugins", "hydra_plugins.*"]
        ),
        "vizlab.conf",
    ],
    package_dir={"vizlab.conf": "conf"},
)
