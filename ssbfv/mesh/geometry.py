"""Finite-volume geometry of a mesh of tetrahedra and hexahedra, built by numba kernels.

Given volume cells as node lists, this module finds the unique faces with owner/neighbour
addressing (OpenFOAM convention: internal faces first, owner = the lower cell index, the
face area vector points from owner to neighbour; boundary faces point out of their owner),
and computes face area vectors and centres and cell volumes and centres.

Face matching uses an open-addressing hash table on the sorted node ids of each local face
(expected O(number of faces), no global sort); boundary elements are matched to faces by a
counting sort on their smallest node.

Units: whatever the node coordinates are in (SI metres inside ssbfv): areas in m^2,
volumes in m^3.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# Local faces of a tetrahedron (gmsh/VTK node order); every face is a triangle.
TET_FACES = np.array([[0, 2, 1, -1], [0, 1, 3, -1], [0, 3, 2, -1], [1, 2, 3, -1]], dtype=np.int64)
# Local faces of a hexahedron (gmsh/VTK node order), nodes listed cyclically.
HEX_FACES = np.array(
    [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]],
    dtype=np.int64,
)


@nb.njit(cache=True)
def _sorted_key(nodes, out):
    """Copy the (up to 4) valid node ids of a face into out, sorted ascending, padded -1."""
    n = 0
    for k in range(4):
        if nodes[k] >= 0:
            out[n] = nodes[k]
            n += 1
    for k in range(n, 4):
        out[k] = -1
    # insertion sort of out[:n]
    for i in range(1, n):
        v = out[i]
        j = i - 1
        while j >= 0 and out[j] > v:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = v
    return n


@nb.njit(cache=True)
def _offsets(cell_nface):
    """First local-face index of each cell (CSR offsets) and the cell of each local face."""
    n_cells = cell_nface.shape[0]
    offsets = np.zeros(n_cells + 1, dtype=np.int64)
    for c in range(n_cells):
        offsets[c + 1] = offsets[c] + cell_nface[c]
    lf_cell = np.empty(offsets[n_cells], dtype=np.int32)
    for c in range(n_cells):
        for i in range(offsets[c], offsets[c + 1]):
            lf_cell[i] = c
    return offsets, lf_cell


@nb.njit(cache=True)
def _local_face_nodes(cell_nodes, cell_nface, c, f, out):
    """Nodes of local face f of cell c into out (4, -1 padded)."""
    if cell_nface[c] == 4:
        for k in range(3):
            out[k] = cell_nodes[c, TET_FACES[f, k]]
        out[3] = -1
    else:
        for k in range(4):
            out[k] = cell_nodes[c, HEX_FACES[f, k]]


@nb.njit(cache=True)
def _bucket_by_min_node(keys, n_points):
    """Counting sort of rows of sorted keys by their first (smallest) node: CSR (start, order)."""
    n = keys.shape[0]
    start = np.zeros(n_points + 1, dtype=np.int64)
    for i in range(n):
        start[keys[i, 0] + 1] += 1
    for p in range(n_points):
        start[p + 1] += start[p]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        p = keys[i, 0]
        order[fill[p]] = i
        fill[p] += 1
    return start, order


@nb.njit(cache=True)
def _face_keys(cell_nodes, cell_nface, offsets, packed):
    """Key of each local face: its three smallest node ids (which identify a triangle or a
    quad of a conforming mesh), packed 21 bits each into one int64 when ``packed``,
    else as three columns."""
    n_cells = cell_nodes.shape[0]
    n = offsets[n_cells]
    keys = np.empty((n, 1 if packed else 3), dtype=np.int64)
    nodes = np.empty(4, dtype=np.int64)
    k = np.empty(4, dtype=np.int64)
    for c in range(n_cells):
        for f in range(cell_nface[c]):
            i = offsets[c] + f
            _local_face_nodes(cell_nodes, cell_nface, c, f, nodes)
            _sorted_key(nodes, k)
            if packed:
                keys[i, 0] = (k[0] << 42) | (k[1] << 21) | k[2]
            else:
                keys[i, 0] = k[0]
                keys[i, 1] = k[1]
                keys[i, 2] = k[2]
    return keys


@nb.njit(cache=True)
def _match_faces(cell_nodes, cell_nface, offsets, n_points):
    """Pair local faces sharing the same node set (open-addressing hash table on the face
    keys, expected O(1) per face).

    Returns partner (n_local,) with the partner's local index or -1 (boundary), and the
    number of node sets shared by more than two local faces (a non-manifold mesh).
    """
    keys = _face_keys(cell_nodes, cell_nface, offsets, n_points < (1 << 21))
    n = keys.shape[0]
    m = keys.shape[1]
    size = 1
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int32)
    partner = np.full(n, -1, dtype=np.int32)
    n_bad = 0
    for i in range(n):
        h = np.uint64(14695981039346656037)
        for c in range(m):
            h ^= np.uint64(keys[i, c])
            h *= np.uint64(1099511628211)
            h ^= h >> np.uint64(31)
        slot = np.int64(h & mask)
        while True:
            j = table[slot]
            if j < 0:
                table[slot] = i
                break
            same = True
            for c in range(m):
                if keys[i, c] != keys[j, c]:
                    same = False
            if same:
                if partner[j] >= 0:
                    n_bad += 1
                else:
                    partner[i] = j
                    partner[j] = i
                break
            slot = (slot + 1) & np.int64(size - 1)
    return partner, n_bad


@nb.njit(cache=True)
def _number_faces(lf_cell, partner, offsets):
    """Global face numbering: internal faces (ordered by owner) first, then boundary faces.

    Returns face_local (n_faces,) = the owner-side local face of each global face,
    owner (n_faces,), neighbour (n_internal,), and n_internal.
    """
    n_loc = lf_cell.shape[0]
    n_int = 0
    n_bnd = 0
    for i in range(n_loc):
        j = partner[i]
        if j < 0:
            n_bnd += 1
        elif lf_cell[i] < lf_cell[j] or (lf_cell[i] == lf_cell[j] and i < j):
            n_int += 1
    face_local = np.empty(n_int + n_bnd, dtype=np.int64)
    owner = np.empty(n_int + n_bnd, dtype=np.int32)
    neighbour = np.empty(n_int, dtype=np.int32)
    fi = 0
    fb = n_int
    n_cells = offsets.shape[0] - 1
    for c in range(n_cells):
        for i in range(offsets[c], offsets[c + 1]):
            j = partner[i]
            if j < 0:
                face_local[fb] = i
                owner[fb] = c
                fb += 1
            elif c < lf_cell[j] or (c == lf_cell[j] and i < j):
                face_local[fi] = i
                owner[fi] = c
                neighbour[fi] = lf_cell[j]
                fi += 1
    return face_local, owner, neighbour, n_int


@nb.njit(cache=True)
def _face_geometry(points, face_nodes):
    """Area vectors (orientation as listed) and centres of triangles and (possibly
    non-planar) quadrilaterals; quads are split into 4 triangles about the node mean."""
    n = face_nodes.shape[0]
    area = np.empty((n, 3))
    centre = np.empty((n, 3))
    for f in range(n):
        nn = 4 if face_nodes[f, 3] >= 0 else 3
        if nn == 3:
            a = face_nodes[f, 0]
            b = face_nodes[f, 1]
            c = face_nodes[f, 2]
            u0 = points[b, 0] - points[a, 0]
            u1 = points[b, 1] - points[a, 1]
            u2 = points[b, 2] - points[a, 2]
            v0 = points[c, 0] - points[a, 0]
            v1 = points[c, 1] - points[a, 1]
            v2 = points[c, 2] - points[a, 2]
            area[f, 0] = 0.5 * (u1 * v2 - u2 * v1)
            area[f, 1] = 0.5 * (u2 * v0 - u0 * v2)
            area[f, 2] = 0.5 * (u0 * v1 - u1 * v0)
            for d in range(3):
                centre[f, d] = (points[a, d] + points[b, d] + points[c, d]) / 3.0
        else:
            m = np.zeros(3)
            for k in range(4):
                for d in range(3):
                    m[d] += 0.25 * points[face_nodes[f, k], d]
            s = np.zeros(3)
            cs = np.zeros(3)
            wsum = 0.0
            for k in range(4):
                a = face_nodes[f, k]
                b = face_nodes[f, (k + 1) % 4]
                u0 = points[a, 0] - m[0]
                u1 = points[a, 1] - m[1]
                u2 = points[a, 2] - m[2]
                v0 = points[b, 0] - m[0]
                v1 = points[b, 1] - m[1]
                v2 = points[b, 2] - m[2]
                t0 = 0.5 * (u1 * v2 - u2 * v1)
                t1 = 0.5 * (u2 * v0 - u0 * v2)
                t2 = 0.5 * (u0 * v1 - u1 * v0)
                s[0] += t0
                s[1] += t1
                s[2] += t2
                w = np.sqrt(t0 * t0 + t1 * t1 + t2 * t2)
                wsum += w
                for d in range(3):
                    cs[d] += w * (m[d] + points[a, d] + points[b, d]) / 3.0
            for d in range(3):
                area[f, d] = s[d]
                centre[f, d] = cs[d] / wsum if wsum > 0.0 else m[d]
    return area, centre


@nb.njit(cache=True)
def _cell_geometry(points, cell_nodes, cell_nface, owner, neighbour, face_area, face_centre):
    """Cell volumes and centroids by pyramids from each face to the node mean; flips face
    area vectors so that they point out of the owner (and into the neighbour)."""
    n_cells = cell_nodes.shape[0]
    n_faces = owner.shape[0]
    n_int = neighbour.shape[0]
    # node means
    xm = np.zeros((n_cells, 3))
    for c in range(n_cells):
        nn = 4 if cell_nface[c] == 4 else 8
        for k in range(nn):
            for d in range(3):
                xm[c, d] += points[cell_nodes[c, k], d] / nn
    # orient faces: out of owner
    for f in range(n_faces):
        c = owner[f]
        s = 0.0
        for d in range(3):
            s += face_area[f, d] * (face_centre[f, d] - xm[c, d])
        if s < 0.0:
            for d in range(3):
                face_area[f, d] = -face_area[f, d]
    vol = np.zeros(n_cells)
    cen = np.zeros((n_cells, 3))
    for f in range(n_faces):
        for side in range(2):
            if side == 0:
                c = owner[f]
                sgn = 1.0
            else:
                if f >= n_int:
                    break
                c = neighbour[f]
                sgn = -1.0
            pv = 0.0
            for d in range(3):
                pv += sgn * face_area[f, d] * (face_centre[f, d] - xm[c, d])
            pv /= 3.0
            vol[c] += pv
            for d in range(3):
                cen[c, d] += pv * (0.75 * face_centre[f, d] + 0.25 * xm[c, d])
    for c in range(n_cells):
        if vol[c] > 0.0:
            for d in range(3):
                cen[c, d] /= vol[c]
        else:
            for d in range(3):
                cen[c, d] = xm[c, d]
    return vol, cen


@nb.njit(cache=True)
def _gather_face_nodes(cell_nodes, cell_nface, lf_cell, offsets, face_local):
    """Node lists (n_faces, 4), -1 padded, of the global faces (int32)."""
    n = face_local.shape[0]
    out = np.empty((n, 4), dtype=np.int32)
    nodes = np.empty(4, dtype=np.int64)
    for f in range(n):
        i = face_local[f]
        c = lf_cell[i]
        _local_face_nodes(cell_nodes, cell_nface, c, i - offsets[c], nodes)
        for k in range(4):
            out[f, k] = nodes[k]
    return out


@nb.njit(cache=True)
def _match_boundary_elements(face_nodes, first_bface, elem_nodes, n_points):
    """Index (global face) of the boundary face of each boundary element, -1 when the
    element is not on the boundary; -2 - f when it matches internal face f."""
    n_f = face_nodes.shape[0]
    keys = np.empty((n_f, 4), dtype=np.int64)
    for f in range(n_f):
        _sorted_key(face_nodes[f], keys[f])
    start, order = _bucket_by_min_node(keys, n_points)
    n_e = elem_nodes.shape[0]
    ek = np.empty(4, dtype=np.int64)
    out = np.full(n_e, -1, dtype=np.int64)
    for e in range(n_e):
        _sorted_key(elem_nodes[e], ek)
        p = ek[0]
        if p < 0 or p >= n_points:
            continue
        for a in range(start[p], start[p + 1]):
            f = order[a]
            same = True
            for k in range(4):
                if keys[f, k] != ek[k]:
                    same = False
                    break
            if same:
                out[e] = f if f >= first_bface else -2 - f
                break
    return out


class FaceTopologyError(ValueError):
    """The cells do not form a valid conforming mesh (a face shared by more than 2 cells)."""


def build_geometry(points: np.ndarray, cell_nodes: np.ndarray, cell_nface: np.ndarray) -> dict:
    """Faces and geometry of a tet/hex mesh.

    Parameters
    ----------
    points : (n_points, 3) float, node coordinates [m]
    cell_nodes : (n_cells, 8) int, node ids, -1 padded (tets use the first 4)
    cell_nface : (n_cells,) int, 4 for a tetrahedron, 6 for a hexahedron

    Returns a dict with owner, neighbour, n_internal, face_nodes, face_area (area vectors
    [m^2], owner -> neighbour / outward), face_centre [m], cell_volume [m^3], cell_centre [m].
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    cell_nodes = np.ascontiguousarray(cell_nodes)
    cell_nface = np.ascontiguousarray(cell_nface)
    if points.shape[0] >= 2**31 - 1:
        raise ValueError("meshes with more than 2^31 points are not supported")
    offsets, lf_cell = _offsets(cell_nface)
    if offsets[-1] >= 2**30:
        raise ValueError("meshes with more than 2^30 cell faces are not supported")
    partner, n_bad = _match_faces(cell_nodes, cell_nface, offsets, points.shape[0])
    if n_bad:
        raise FaceTopologyError(
            f"non-conforming mesh: {n_bad} faces are shared by more than two cells"
        )
    face_local, owner, neighbour, n_int = _number_faces(lf_cell, partner, offsets)
    del partner
    face_nodes = _gather_face_nodes(cell_nodes, cell_nface, lf_cell, offsets, face_local)
    del lf_cell, face_local
    face_area, face_centre = _face_geometry(points, face_nodes)
    vol, cen = _cell_geometry(points, cell_nodes, cell_nface, owner, neighbour, face_area, face_centre)
    return dict(
        owner=owner,
        neighbour=neighbour,
        n_internal=int(n_int),
        face_nodes=face_nodes,
        face_area=face_area,
        face_centre=face_centre,
        cell_volume=vol,
        cell_centre=cen,
    )


def match_boundary_elements(face_nodes, n_internal, elem_nodes, n_points):
    """Global face index of each boundary element (triangles/quads, (n, 4) -1 padded).

    Returns an array with the boundary face index, -1 for no match, or -2 - f for an
    element lying on internal face f. Elements are first matched against the boundary
    faces only; the (rare) rest against all faces.
    """
    elem_nodes = np.ascontiguousarray(elem_nodes, dtype=np.int64)
    n_internal = int(n_internal)
    hit = _match_boundary_elements(np.ascontiguousarray(face_nodes[n_internal:], dtype=np.int64), 0, elem_nodes, int(n_points))
    on_b = hit >= 0
    hit[on_b] += n_internal
    rest = np.flatnonzero(~on_b)
    if rest.size:
        hit[rest] = _match_boundary_elements(np.ascontiguousarray(face_nodes, dtype=np.int64), n_internal,
                                             elem_nodes[rest], int(n_points))
    return hit
