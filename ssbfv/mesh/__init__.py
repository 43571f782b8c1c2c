"""Meshes: reading (meshio), finite-volume geometry (numba) and periodic face pairing.

Public API
----------
read(path, scale=1.0) -> Mesh       read .msh (2.2, 4.1), .vtu, .xdmf
Mesh                                volume cells, regions, boundary patches, FV geometry
pair_periodic(mesh, a, b, t)        matched face pairs of two periodic patches
box_tet_mesh(...)                   gmsh box meshes for tests, demos and benchmarks
"""

from .mesh import Mesh, TET, HEX
from .io import read, MeshReadError
from .periodic import pair_periodic, PeriodicMatchError

__all__ = ["Mesh", "TET", "HEX", "read", "MeshReadError", "pair_periodic", "PeriodicMatchError"]
