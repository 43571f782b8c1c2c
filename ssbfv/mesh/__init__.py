"""Meshes: reading (meshio), finite-volume geometry (numba) and periodic face pairing.

Public API
----------
read(path, scale=1.0) -> Mesh       read .msh (2.2, 4.1), .vtu, .xdmf
Mesh                                volume cells, regions, boundary patches, FV geometry
pair_periodic(mesh, a, b, t)        matched face pairs of two periodic patches
from_labels(labels, voxel, names)   hexahedral (or tetrahedral) mesh of a label image
write_msh(mesh, path)               gmsh file with regions and patches as physical groups
mesh_report(mesh)                   fractions, interfaces, quality, connectivity, periodicity
generate, occ, cleanup              gmsh builders: boxes/spheres, packings (OpenCASCADE)
"""

from .mesh import Mesh, TET, HEX
from .io import read, MeshReadError
from .periodic import pair_periodic, PeriodicMatchError
from .report import mesh_report, format_report
from .voxel import from_labels
from .write import write_msh

__all__ = [
    "Mesh", "TET", "HEX", "read", "MeshReadError", "pair_periodic", "PeriodicMatchError",
    "mesh_report", "format_report", "from_labels", "write_msh",
]
