"""Mesh output: gmsh .msh (4.1 or 2.2) with physical groups, through meshio.

    order = write_msh(mesh, "cell.msh")            # gmsh 4.1, binary
    write_msh(mesh, "cell.msh", version=2.2, binary=False)

Regions become physical volumes (tags 1..R, in ``mesh.region_names`` order), patches and
internal face groups physical surfaces (tags R+1.., in ``mesh.patch_names`` order, then the
internal groups), so that :func:`ssbfv.mesh.read` gives back the same regions, patches and
cell order. Coordinates are written as stored (m); read them back with ``scale=1``.

Volume cells are written in blocks of consecutive cells of one region and one cell type
(one gmsh entity each). A mesh whose regions are interleaved in cell order into more than
``max_blocks`` runs is written sorted by region instead; the returned ``order`` says which
mesh cell each file cell is (``read(path)`` cell i = ``mesh`` cell ``order[i]``).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np

from .mesh import TET

VOLUME_TYPE = {4: "tetra", 8: "hexahedron"}
SURFACE_TYPE = {3: "triangle", 4: "quad"}


def _runs(key: np.ndarray) -> np.ndarray:
    """Start indices of the runs of equal values in key, plus len(key) at the end."""
    change = np.flatnonzero(key[1:] != key[:-1]) + 1
    return np.concatenate([[0], change, [key.size]])


def _volume_blocks(mesh, max_blocks: int):
    """Written cell order and its blocks [(type, node array, region index)]."""
    key = mesh.cell_region * 8 + mesh.cell_nface
    starts = _runs(key)
    order = np.arange(mesh.n_cells)
    if starts.size - 1 > max_blocks:
        warnings.warn(
            f"write_msh: cells interleave {len(mesh.region_names)} regions in {starts.size - 1} runs; "
            "writing them sorted by region (see the returned cell order)", stacklevel=3)
        order = np.argsort(key, kind="stable")
        starts = _runs(key[order])
    blocks = []
    for a, b in zip(starts[:-1], starts[1:]):  # one per run (a handful)
        cells = order[a:b]
        nn = 4 if mesh.cell_nface[cells[0]] == TET else 8
        blocks.append((VOLUME_TYPE[nn], mesh.cell_nodes[cells, :nn], int(mesh.cell_region[cells[0]])))
    return order, blocks


def _surface_blocks(mesh):
    """Surface groups (patches, then internal face groups) as [(name, [(type, nodes)])]."""
    groups = [(name, mesh.patch_faces(name)) for name in mesh.patch_names]
    groups += [(name, faces) for name, faces in mesh.internal_face_groups.items()]
    out = []
    for name, faces in groups:
        fn = mesh.face_nodes[faces]
        tri = fn[:, 3] < 0
        parts = [(SURFACE_TYPE[3], fn[tri, :3]), (SURFACE_TYPE[4], fn[~tri])]
        out.append((name, [(t, d) for t, d in parts if len(d)]))
    return out


def _node_entities(n_points: int, blocks) -> np.ndarray:
    """(n_points, 2) [dim, entity tag] per node for gmsh 4.1, such that every entity of
    ``blocks`` ([(dim, tag, nodes)]) owns at least one node (meshio builds the $Entities
    section from the node entities). Nodes go to the last block listing them; an entity
    left without nodes takes one from an entity that has several."""
    dim_tags = np.empty((n_points, 2), dtype=np.int64)
    dim_tags[:] = blocks[0][:2]  # nodes of no cell
    for dim, tag, nodes in blocks:
        dim_tags[nodes.reshape(-1)] = (dim, tag)
    code = dim_tags[:, 0] * (1 << 40) + dim_tags[:, 1]
    uniq, counts = np.unique(code, return_counts=True)
    count = dict(zip(uniq.tolist(), counts.tolist()))
    for dim, tag, nodes in blocks:  # one pass over the entities (a handful)
        c = dim * (1 << 40) + tag
        if count.get(c, 0):
            continue
        cand = np.unique(nodes.reshape(-1))
        keys = np.array(sorted(count), dtype=np.int64)
        vals = np.array([count[k] for k in keys.tolist()])
        ok = np.flatnonzero(vals[np.searchsorted(keys, code[cand])] > 1)
        if ok.size == 0:
            raise ValueError(f"write_msh: cannot give entity ({dim}, {tag}) a node of its own")
        p = cand[ok[0]]
        count[int(code[p])] -= 1
        code[p] = c
        count[c] = 1
        dim_tags[p] = (dim, tag)
    return dim_tags


def write_msh(mesh, path: str | os.PathLike, version: float = 4.1, binary: bool = True,
              max_blocks: int = 1000) -> np.ndarray:
    """Write a Mesh as a gmsh .msh file with named physical groups.

    Parameters
    ----------
    mesh : Mesh (coordinates in m)
    path : output file (.msh)
    version : 4.1 (default) or 2.2
    binary : binary (fast, default) or ASCII file
    max_blocks : most volume blocks (runs of one region and cell type) written in mesh
        cell order; beyond that the cells are written sorted by region

    Returns ``order``: (n_cells,) mesh cell index of each written cell (``arange`` when
    the cell order is kept, which is the case for gmsh and voxel meshes).
    Raises ValueError for an unsupported version or a name that is both a region and a
    patch.
    """
    version = {4.1: "4.1", 2.2: "2.2", "4.1": "4.1", "2.2": "2.2"}.get(version)
    if version is None:
        raise ValueError("version must be 4.1 or 2.2")
    surf_names = list(mesh.patch_names) + list(mesh.internal_face_groups)
    clash = set(mesh.region_names) & set(surf_names)
    if clash:
        raise ValueError(f"write_msh: names {sorted(clash)} are both regions and patches")
    order, vblocks = _volume_blocks(mesh, max_blocks)
    write_msh_blocks(path, mesh.points, mesh.region_names, vblocks, _surface_blocks(mesh), version, binary)
    return order


def write_msh_blocks(path, points, region_names, volume_blocks, surface_blocks, version="4.1",
                     binary=True) -> None:
    """Write cells given as blocks (the layout of :func:`write_msh`) to a gmsh .msh file.

    points : (n, 3) coordinates, written as given (any length unit)
    region_names : physical volume names (tags 1..R)
    volume_blocks : [(meshio cell type, (k, nodes) int array, region index)], one gmsh
        entity each
    surface_blocks : [(name, [(meshio cell type, (k, nodes) int array)])], one physical
        surface per name (tags R+1..), one entity per array
    version : "4.1" or "2.2"; binary : binary or ASCII file
    """
    import meshio

    n_reg = len(region_names)
    field_data = {name: np.array([i + 1, 3]) for i, name in enumerate(region_names)}
    field_data.update({name: np.array([n_reg + i + 1, 2]) for i, (name, _) in enumerate(surface_blocks)})
    cells, physical, geometrical, ent = [], [], [], []
    for e, (ctype, data, region) in enumerate(volume_blocks):
        cells.append(meshio.CellBlock(ctype, data))
        physical.append(np.full(len(data), region + 1, dtype=np.int32))
        geometrical.append(np.full(len(data), e + 1, dtype=np.int32))
        ent.append((3, e + 1, data))
    e = 0
    for g, (name, parts) in enumerate(surface_blocks):
        for ctype, data in parts:
            e += 1
            cells.append(meshio.CellBlock(ctype, data))
            physical.append(np.full(len(data), n_reg + g + 1, dtype=np.int32))
            geometrical.append(np.full(len(data), e, dtype=np.int32))
            ent.append((2, e, data))
    point_data = {}
    if str(version) == "4.1":
        point_data["gmsh:dim_tags"] = _node_entities(len(points), ent)
    out = meshio.Mesh(points, cells, point_data=point_data,
                      cell_data={"gmsh:physical": physical, "gmsh:geometrical": geometrical},
                      field_data=field_data)
    with contextlib.redirect_stdout(io.StringIO()):
        meshio.gmsh.write(os.fspath(path), out, fmt_version=str(version), binary=binary)
