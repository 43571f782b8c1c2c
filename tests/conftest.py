"""Shared fixtures: gmsh meshes built once per test session (in a temporary folder)."""

import numpy as np
import pytest

from ssbfv.mesh import read
from ssbfv.mesh.generate import box_tet_mesh, sphere_tet_mesh


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


class MeshFactory:
    """Builds gmsh meshes on demand and caches them for the session."""

    def __init__(self, folder):
        self.folder = folder
        self._cache = {}

    def box(self, h, **kw):
        key = ("box", h, tuple(sorted((k, str(v)) for k, v in kw.items())))
        if key not in self._cache:
            path = self.folder / f"box_{len(self._cache)}.msh"
            box_tet_mesh(path, h=h, **kw)
            self._cache[key] = read(path)
        return self._cache[key]

    def sphere(self, h, radius=1.0):
        key = ("sphere", h, radius)
        if key not in self._cache:
            path = self.folder / f"sphere_{len(self._cache)}.msh"
            sphere_tet_mesh(path, radius=radius, h=h)
            self._cache[key] = read(path)
        return self._cache[key]


@pytest.fixture(scope="session")
def meshes(tmp_path_factory):
    return MeshFactory(tmp_path_factory.mktemp("meshes"))

