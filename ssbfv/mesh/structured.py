"""Tensor-product meshes with graded spacing in x: layered verification cells.

A laterally uniform layered half-cell (anode | electrolyte layers | planar interface | active
slab | collector) is the geometry on which the 3D solver is compared with 1D references. Its
mesh is a tensor product of node coordinates x (any spacing, e.g. refined towards the
interfaces) and uniform y, z, each box split into six Kuhn tetrahedra (or kept as hexahedra),
conformal and periodic in y and z by construction.
"""

from __future__ import annotations

import numpy as np

from .mesh import Mesh
from .voxel import from_labels


def graded_nodes(thickness: float, n: int, grading: float = 1.0, both_ends: bool = True) -> np.ndarray:
    """n + 1 node coordinates on [0, thickness] [m], geometric cell sizes with
    ``grading`` = largest / smallest cell, finest at both ends (or at x = 0 only)."""
    if n < 1 or not thickness > 0 or not grading >= 1.0:
        raise ValueError("need n >= 1 cells, thickness > 0 and grading >= 1")
    if grading == 1.0 or n == 1:
        return np.linspace(0.0, thickness, n + 1)
    if both_ends:
        half = n // 2
        left = graded_nodes(0.5, max(half, 1), grading, both_ends=False)
        right = 1.0 - graded_nodes(0.5, max(n - half, 1), grading, both_ends=False)[::-1]
        return thickness * np.concatenate([left, right[1:]])
    r = grading ** (1.0 / (n - 1))
    sizes = r ** np.arange(n)
    return thickness * np.concatenate([[0.0], np.cumsum(sizes) / sizes.sum()])


def layered_mesh(layers, n_yz: int = 2, width: float | None = None, split_tets: bool = True,
                 patches=None) -> Mesh:
    """Mesh of a laterally uniform layered box.

    Parameters
    ----------
    layers : [(region name, node coordinates within the layer [m], starting at 0), ...] from
        x = 0 upwards; e.g. ``[("separator", graded_nodes(20e-6, 40, 5)), ...]``
    n_yz : cells across y and across z
    width : box size in y and z [m] (default 1 µm per lateral cell; the answer of a
        laterally uniform problem does not depend on it)
    split_tets : six tetrahedra per box (True) or hexahedra
    patches : names of the box faces (default anode at xmin, collector at xmax, and
        ymin, ymax, zmin, zmax)
    """
    if not layers:
        raise ValueError("need at least one layer")
    x = [np.zeros(1)]
    region_of_cell = []
    names = []
    for name, nodes in layers:
        nodes = np.asarray(nodes, dtype=np.float64)
        if nodes.ndim != 1 or nodes.size < 2 or nodes[0] != 0.0 or np.any(np.diff(nodes) <= 0):
            raise ValueError(f"layer {name!r}: node coordinates must start at 0 and increase")
        if name not in names:
            names.append(name)
        region_of_cell.extend([names.index(name)] * (nodes.size - 1))
        x.append(x[-1][-1] + nodes[1:])
    x = np.concatenate(x)
    nx = x.size - 1
    if width is None:
        width = 1e-6 * n_yz
    labels = np.broadcast_to(np.asarray(region_of_cell, dtype=np.int32)[:, None, None], (nx, n_yz, n_yz))
    if patches is None:
        patches = {"xmin": "anode", "xmax": "collector"}
    _, arrays = from_labels(np.ascontiguousarray(labels), 1.0, {i: n for i, n in enumerate(names)},
                            patches=patches, split_tets=split_tets, return_arrays=True)
    pts = np.array(arrays["points"], dtype=np.float64)
    ix = np.rint(pts[:, 0]).astype(np.int64)
    pts[:, 0] = x[ix]
    pts[:, 1:] *= width / n_yz
    return Mesh(pts, arrays["cell_nodes"], arrays["cell_nface"], arrays["cell_region"], arrays["region_names"],
                arrays["boundary_elements"], arrays["boundary_element_patch"], arrays["patch_names"])
