"""Meshes from voxel label images: one hexahedron per voxel, or six Kuhn tetrahedra.

    mesh = from_labels(labels, 0.5e-6, {0: "separator", 1: "polymer", 2: "active"},
                       patches={"xmin": "anode", "xmax": "collector"})

Conventions
-----------
- ``labels[i, j, k]`` is the voxel whose centre is ``origin + ((i, j, k) + 0.5) * h``: array
  axes 0, 1, 2 are x, y, z (x = the thickness direction of a half-cell, DESIGN.md §1). The
  mesh covers the box ``[origin, origin + shape * h]``.
- Cells are ordered region by region (regions sorted by their smallest label value), and
  within a region in C order of the voxels (i slowest, k fastest); the six tetrahedra of a
  voxel are consecutive. Region-major order is what a gmsh 4.1 file stores (one entity block
  per region), so :func:`ssbfv.mesh.write.write_msh` round-trips the mesh unchanged.
- Nodes are the grid corners in C order (unused corners dropped when ``keep`` removes
  regions); hexahedra use the gmsh/VTK node order.
- Boundary patches: the six box faces, named through ``patches``; with ``keep``, the faces
  between a kept and a dropped voxel form patches named ``"<inside>|<outside>"`` (the
  names that :class:`ssbfv.solver.FvDomain` gives to region cuts).
- Periodic by construction: the grid nodes on opposite box faces are translates of each
  other (the tetrahedral split is the same in every voxel), so the patch pairs
  (xmin, xmax), (ymin, ymax), (zmin, zmax) pair face by face with
  :func:`ssbfv.mesh.pair_periodic` and the translation ``shape[a] * h[a]``. With ``keep``,
  along ``periodic_axes`` a box face whose periodic partner voxel (on the opposite side of
  the image) is dropped is tagged as a cut, so that the two box patches still pair.

The mesh is built directly on the grid: the face topology (owner < neighbour, internal
faces first, ordered as :class:`ssbfv.mesh.Mesh` orders them) and the exact geometry of
the axis-aligned cells come from numba kernels, with no face hashing, so a 200^3 image
(8 M hexahedra) meshes in a few seconds with a peak of ~3.8 GB, of which ~3.4 GB are the\nMesh's own arrays.
Units: ``voxel_size`` and ``origin`` in m (SI inside ssbfv).
"""

from __future__ import annotations

import itertools

import numba as nb
import numpy as np

from .geometry import HEX_FACES, TET_FACES
from .mesh import HEX, TET, Mesh

BOX_FACES = ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")
#: cube corner offsets (di, dj, dk) in gmsh/VTK hexahedron order
CORNERS = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    dtype=np.int64,
)


# ---------------------------------------------------------------------------- split tables
def _kuhn_tets() -> np.ndarray:
    """(6, 4) cube corners of the Kuhn/Freudenthal tetrahedra along the diagonal 0 -> 6.

    Tetrahedron (a, b, c) (a permutation of the axes) walks from corner (0,0,0) along e_a,
    then e_b, then e_c to (1,1,1); odd permutations swap their 2nd and 3rd node so that
    every tetrahedron is positively oriented (gmsh convention).
    """
    corner_of = {tuple(c): n for n, c in enumerate(CORNERS.tolist())}
    tets = []
    for perm in itertools.permutations(range(3)):
        p = np.zeros(3, dtype=np.int64)
        path = [corner_of[tuple(p)]]
        for a in perm:
            p[a] = 1
            path.append(corner_of[tuple(p)])
        inversions = sum(perm[i] > perm[j] for i in range(3) for j in range(i + 1, 3))
        if inversions % 2:
            path[1], path[2] = path[2], path[1]
        tets.append(path)
    return np.array(tets, dtype=np.int64)


def _split_tables(split_tets: bool):
    """Sub-cells of a voxel and, per local face, where its partner is.

    Returns
    -------
    sub_corners : (n_sub, 8) cube corner of each node of each sub-cell, -1 padded
    lf_corners : (n_sub, n_lf, 4) cube corners of each local face (Mesh local face order)
    lf_dir : (n_sub, n_lf) -1 for a face inside the voxel, else the voxel face it lies on,
        0..5 = x-, x+, y-, y+, z-, z+
    lf_partner : (n_sub, n_lf) the sub-cell across the face (in the same voxel for
        lf_dir = -1, else in the neighbouring voxel)
    """
    if split_tets:
        sub = _kuhn_tets()
        faces = TET_FACES
    else:
        sub = np.arange(8, dtype=np.int64)[None, :]
        faces = HEX_FACES
    n_sub, n_lf = sub.shape[0], faces.shape[0]
    lf_corners = np.full((n_sub, n_lf, 4), -1, dtype=np.int64)
    valid = faces >= 0
    lf_corners[:, valid] = sub[:, faces[valid]]
    # corner coordinates of each local face, as sets, to find partners (24 faces at most)
    keys = {}
    lf_dir = np.full((n_sub, n_lf), -1, dtype=np.int64)
    for s, f in itertools.product(range(n_sub), range(n_lf)):
        xyz = CORNERS[lf_corners[s, f][lf_corners[s, f] >= 0]]
        for axis in range(3):
            if np.all(xyz[:, axis] == xyz[0, axis]):
                lf_dir[s, f] = 2 * axis + int(xyz[0, axis])
        keys[(s, f)] = xyz
    lf_partner = np.full((n_sub, n_lf), -1, dtype=np.int64)
    for (s, f), xyz in keys.items():
        d = lf_dir[s, f]
        shifted = xyz.copy()
        if d >= 0:  # seen from the neighbour across voxel face d
            shifted[:, d // 2] += -1 if d % 2 else 1
        target = {tuple(r) for r in shifted.tolist()}
        for (s2, f2), xyz2 in keys.items():
            if (s2, f2) != (s, f) and {tuple(r) for r in xyz2.tolist()} == target:
                lf_partner[s, f] = s2
    assert np.all(lf_partner >= 0)
    sub_corners = np.full((n_sub, 8), -1, dtype=np.int64)
    sub_corners[:, : sub.shape[1]] = sub
    return sub_corners, lf_corners, lf_dir, lf_partner


# ---------------------------------------------------------------------------- kernels
@nb.njit(cache=True)
def _number_voxels(reg, keep_lut, n_regions):
    """Region-major numbering of the kept voxels (a counting sort on the region).

    reg : (n_vox,) full region index per voxel (C order)
    keep_lut : (n_full,) mesh region of each full region, -1 if dropped
    Returns vid (n_vox,) voxel -> kept voxel number or -1, vox (n_kept,) kept -> voxel,
    counts (n_regions,) kept voxels per mesh region.
    """
    n = reg.shape[0]
    counts = np.zeros(n_regions, dtype=np.int64)
    for v in range(n):
        r = keep_lut[reg[v]]
        if r >= 0:
            counts[r] += 1
    start = np.zeros(n_regions, dtype=np.int64)
    for r in range(1, n_regions):
        start[r] = start[r - 1] + counts[r - 1]
    n_kept = start[n_regions - 1] + counts[n_regions - 1] if n_regions else 0
    vid = np.full(n, -1, dtype=np.int64)
    vox = np.empty(n_kept, dtype=np.int64)
    for v in range(n):
        r = keep_lut[reg[v]]
        if r >= 0:
            vid[v] = start[r]
            vox[start[r]] = v
            start[r] += 1
    return vid, vox, counts


@nb.njit(cache=True)
def _number_nodes(vid, nx, ny, nz, corners):
    """Node ids on the (nx+1, ny+1, nz+1) corner grid (C order), -1 for corners of no
    kept voxel. Returns (node_id flat, number of nodes)."""
    sy = nz + 1
    sx = (ny + 1) * (nz + 1)
    n_nodes_grid = (nx + 1) * sx
    node_id = np.full(n_nodes_grid, -1, dtype=np.int64)
    for v in range(vid.shape[0]):
        if vid[v] < 0:
            continue
        i = v // (ny * nz)
        j = (v // nz) % ny
        k = v % nz
        base = i * sx + j * sy + k
        for c in range(8):
            node_id[base + corners[c, 0] * sx + corners[c, 1] * sy + corners[c, 2]] = 0
    n = 0
    for p in range(n_nodes_grid):
        if node_id[p] == 0:
            node_id[p] = n
            n += 1
    return node_id, n


@nb.njit(cache=True)
def _node_points(node_id, n_nodes, nx, ny, nz, h, origin):
    """Coordinates [m] of the used grid corners."""
    pts = np.empty((n_nodes, 3))
    p = 0
    for i in range(nx + 1):
        for j in range(ny + 1):
            for k in range(nz + 1):
                n = node_id[p]
                if n >= 0:
                    pts[n, 0] = origin[0] + i * h[0]
                    pts[n, 1] = origin[1] + j * h[1]
                    pts[n, 2] = origin[2] + k * h[2]
                p += 1
    return pts


@nb.njit(cache=True)
def _cells(vox, node_id, ny, nz, corners, sub_corners, h, origin):
    """Node ids (n_cells, 8) (-1 padded) and centres (n_cells, 3) [m] of the sub-cells of
    each kept voxel; a centre is the node mean (the centroid of a box or a tetrahedron)."""
    n_sub = sub_corners.shape[0]
    sy = nz + 1
    sx = (ny + 1) * (nz + 1)
    out = np.full((vox.shape[0] * n_sub, 8), -1, dtype=np.int64)
    cen = np.empty((vox.shape[0] * n_sub, 3))
    gid = np.empty(8, dtype=np.int64)
    for c in range(vox.shape[0]):
        v = vox[c]
        i = v // (ny * nz)
        j = (v // nz) % ny
        k = v % nz
        base = i * sx + j * sy + k
        for q in range(8):
            gid[q] = node_id[base + corners[q, 0] * sx + corners[q, 1] * sy + corners[q, 2]]
        for s in range(n_sub):
            cell = c * n_sub + s
            m0 = 0.0
            m1 = 0.0
            m2 = 0.0
            nn = 0
            for q in range(8):
                lc = sub_corners[s, q]
                if lc >= 0:
                    out[cell, q] = gid[lc]
                    m0 += origin[0] + (i + corners[lc, 0]) * h[0]
                    m1 += origin[1] + (j + corners[lc, 1]) * h[1]
                    m2 += origin[2] + (k + corners[lc, 2]) * h[2]
                    nn += 1
            cen[cell, 0] = m0 / nn
            cen[cell, 1] = m1 / nn
            cen[cell, 2] = m2 / nn
    return out, cen


@nb.njit(cache=True)
def _across(i, j, k, d, nx, ny, nz):
    """Voxel across face d (0..5 = x-, x+, y-, y+, z-, z+) of voxel (i, j, k), wrapped
    periodically; returns (flat index of the neighbour, True if the step left the box)."""
    a = d // 2
    step = 1 if d % 2 else -1
    ii, jj, kk = i, j, k
    n = nx
    if a == 0:
        ii += step
    elif a == 1:
        jj += step
        n = ny
    else:
        kk += step
        n = nz
    q = ii if a == 0 else (jj if a == 1 else kk)
    outside = q < 0 or q >= n
    if outside:
        q = q % n
        if a == 0:
            ii = q
        elif a == 1:
            jj = q
        else:
            kk = q
    return (ii * ny + jj) * nz + kk, outside


@nb.njit(cache=True)
def _faces(vid, vox, reg, cell_nodes, cell_centre, nx, ny, nz, lf_corners, sub_corners, lf_dir,
           lf_partner, periodic, corners, h, origin, fill, n_int, n_bnd):
    """Faces of the mesh, in the order of ssbfv.mesh.geometry: per cell (in cell order)
    and local face, an internal face when the cell is the lower of the two, a boundary
    face when nothing is across. With ``fill`` False only counts (n_int, n_bnd).

    Returns owner (n_f,), neighbour (n_int,), face_nodes (n_f, 4), per boundary face a
    code (0..5 = box face x-, x+, y-, y+, z-, z+; 6 + r = cut towards full region r), the
    face area vectors (n_f, 3) [m^2] pointing out of the owner, face centres (n_f, 3) [m],
    and the counts. Geometry is exact for axis-aligned cells: centres are node means
    (centroids of triangles and rectangles), area vectors 0.5 (b-a)x(c-a) for triangles and
    0.5 (p2-p0)x(p3-p1) for rectangles, computed from the grid indices.
    """
    n_sub = lf_corners.shape[0]
    n_lf = lf_corners.shape[1]
    nf = n_int + n_bnd if fill else 0
    owner = np.empty(nf, dtype=np.int64)
    neighbour = np.empty(n_int if fill else 0, dtype=np.int64)
    face_nodes = np.empty((nf, 4), dtype=np.int64)
    code = np.empty(n_bnd if fill else 0, dtype=np.int64)
    area = np.empty((nf, 3))
    centre = np.empty((nf, 3))
    local = np.empty(8, dtype=np.int64)  # sub-cell node slot of each cube corner
    xyz = np.empty((4, 3))
    fi = 0
    fb = 0
    for c in range(vox.shape[0]):
        v = vox[c]
        i = v // (ny * nz)
        j = (v // nz) % ny
        k = v % nz
        for s in range(n_sub):
            cell = c * n_sub + s
            for q in range(8):
                if sub_corners[s, q] >= 0:
                    local[sub_corners[s, q]] = q
            for f in range(n_lf):
                d = lf_dir[s, f]
                partner = -1
                bcode = -1
                if d < 0:
                    partner = c * n_sub + lf_partner[s, f]
                else:
                    w, outside = _across(i, j, k, d, nx, ny, nz)
                    if not outside:
                        if vid[w] >= 0:
                            partner = vid[w] * n_sub + lf_partner[s, f]
                        else:
                            bcode = 6 + reg[w]
                    elif periodic[d // 2] and vid[w] < 0:
                        bcode = 6 + reg[w]
                    else:
                        bcode = d
                if partner >= 0 and partner < cell:
                    continue
                if fill:
                    slot = fi if partner >= 0 else n_int + fb
                    owner[slot] = cell
                    nn = 0
                    for q in range(4):
                        lc = lf_corners[s, f, q]
                        if lc >= 0:
                            face_nodes[slot, q] = cell_nodes[cell, local[lc]]
                            xyz[q, 0] = origin[0] + (i + corners[lc, 0]) * h[0]
                            xyz[q, 1] = origin[1] + (j + corners[lc, 1]) * h[1]
                            xyz[q, 2] = origin[2] + (k + corners[lc, 2]) * h[2]
                            nn += 1
                        else:
                            face_nodes[slot, q] = -1
                    if nn == 3:  # u = b - a, w = c - a
                        u0, u1, u2 = xyz[1, 0] - xyz[0, 0], xyz[1, 1] - xyz[0, 1], xyz[1, 2] - xyz[0, 2]
                        w0, w1, w2 = xyz[2, 0] - xyz[0, 0], xyz[2, 1] - xyz[0, 1], xyz[2, 2] - xyz[0, 2]
                        for dd in range(3):
                            centre[slot, dd] = (xyz[0, dd] + xyz[1, dd] + xyz[2, dd]) / 3.0
                    else:  # u = p2 - p0, w = p3 - p1
                        u0, u1, u2 = xyz[2, 0] - xyz[0, 0], xyz[2, 1] - xyz[0, 1], xyz[2, 2] - xyz[0, 2]
                        w0, w1, w2 = xyz[3, 0] - xyz[1, 0], xyz[3, 1] - xyz[1, 1], xyz[3, 2] - xyz[1, 2]
                        for dd in range(3):
                            centre[slot, dd] = 0.25 * (xyz[0, dd] + xyz[1, dd] + xyz[2, dd] + xyz[3, dd])
                    s0 = 0.5 * (u1 * w2 - u2 * w1)
                    s1 = 0.5 * (u2 * w0 - u0 * w2)
                    s2 = 0.5 * (u0 * w1 - u1 * w0)
                    dot = (s0 * (centre[slot, 0] - cell_centre[cell, 0]) + s1 * (centre[slot, 1] - cell_centre[cell, 1])
                           + s2 * (centre[slot, 2] - cell_centre[cell, 2]))
                    sg = -1.0 if dot < 0.0 else 1.0
                    area[slot, 0] = sg * s0
                    area[slot, 1] = sg * s1
                    area[slot, 2] = sg * s2
                    if partner >= 0:
                        neighbour[fi] = partner
                    else:
                        code[fb] = bcode
                if partner >= 0:
                    fi += 1
                else:
                    fb += 1
    return owner, neighbour, face_nodes, code, area, centre, fi, fb


# ---------------------------------------------------------------------------- inputs
def _voxel_size(voxel_size) -> np.ndarray:
    """(3,) voxel edge lengths [m] from a number or a 3-sequence; ValueError if not > 0."""
    try:
        h = np.asarray(voxel_size, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"voxel_size must be a number or 3 numbers [m], got {voxel_size!r}") from None
    if h.ndim == 0:
        h = np.full(3, float(h))
    if h.shape != (3,):
        raise ValueError(f"voxel_size must be a number or 3 numbers [m], got shape {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h <= 0.0):
        raise ValueError(f"voxel_size must be finite and > 0 [m], got {h.tolist()}")
    return h


def _region_lookup(labels: np.ndarray, names: dict):
    """Full region index per voxel (C order, flat) and the full region names.

    Regions are the distinct names of the labels present, ordered by their smallest label
    value (several labels may share a name). ValueError lists labels without a name.
    """
    if not isinstance(names, dict) or not names:
        raise ValueError("names must be a non-empty dict {label value: region name}")
    flat = labels.reshape(-1)
    if flat.dtype == np.bool_:
        flat = flat.view(np.uint8)
    lo = int(flat.min())
    hi = int(flat.max())
    dense = hi - lo < (1 << 24)
    if dense:  # table look-up on (label - lo)
        small_unsigned = np.issubdtype(flat.dtype, np.unsignedinteger) and flat.dtype.itemsize <= 4
        idx = flat if small_unsigned and hi < (1 << 24) else None
        off = 0 if idx is not None else lo
        if idx is None:
            idx = flat.astype(np.int64) - lo
        present = np.flatnonzero(np.bincount(idx, minlength=hi - off + 1)) + off
    else:
        present = np.unique(flat)
    key = {int(k): str(v) for k, v in names.items()}
    unknown = [int(p) for p in present if int(p) not in key]
    if unknown:
        shown = unknown[:20] + (["..."] if len(unknown) > 20 else [])
        raise ValueError(
            f"label values {shown} occur in the image but have no region name "
            f"(names given for {sorted(key)})"
        )
    region_names = []
    for p in present:  # a handful of labels
        if key[int(p)] not in region_names:
            region_names.append(key[int(p)])
    rid = np.array([region_names.index(key[int(p)]) for p in present], dtype=np.int16)
    if dense:
        lut = np.full(hi - off + 1, -1, dtype=np.int16)
        lut[present - off] = rid
        reg = lut[idx]
    else:
        reg = rid[np.searchsorted(present, flat)]
    return reg, region_names


def _patch_names(patches) -> list:
    """Patch name (or None: untagged) of each box face, in BOX_FACES order."""
    out = dict(zip(BOX_FACES, BOX_FACES))
    if patches is not None:
        bad = set(patches) - set(BOX_FACES)
        if bad:
            raise ValueError(f"patches: unknown box faces {sorted(bad)}; use {list(BOX_FACES)}")
        out.update(patches)
    return [None if out[f] is None else str(out[f]) for f in BOX_FACES]


def _kept_regions(full_names, names, keep) -> list:
    """Names of the regions to mesh (in full_names order); ValueError for names that are
    not region names or when no kept region occurs in the image."""
    if keep is None:
        return list(full_names)
    keep = [keep] if isinstance(keep, str) else list(keep)
    known = {str(v) for v in names.values()}
    bad = [k for k in keep if k not in known]
    if bad:
        raise ValueError(f"keep: unknown regions {bad}; the names are {sorted(known)}")
    out = [r for r in full_names if r in keep]
    if not out:
        raise ValueError(f"keep={keep}: none of these regions occurs in the image")
    return out


def _boundary_patches(bface_nodes, code, inside, patches, mesh_names, full_names):
    """Tagged boundary elements, their patch index and the patch names.

    bface_nodes : (n_b, 4) nodes of the boundary faces; code : (n_b,) from _faces (0..5
    box face, 6 + r cut towards full region r); inside : (n_b,) mesh region of the owner.
    Box patches come first (BOX_FACES order, as named by ``patches``), then one cut patch
    ``"<inside>|<outside>"`` per region pair that occurs.
    """
    box_names = _patch_names(patches)
    patch_names = []
    for nm in box_names:
        if nm is not None and nm not in patch_names:
            patch_names.append(nm)
    n_full = len(full_names)
    code_patch = np.full(6 + len(mesh_names) * n_full, -1, dtype=np.int64)
    for d, nm in enumerate(box_names):
        if nm is not None:
            code_patch[d] = patch_names.index(nm)
    is_cut = code >= 6
    key = np.where(is_cut, 6 + inside * n_full + (code - 6), code)
    for kk in np.unique(key[is_cut]):  # one per (kept, dropped) region pair
        a, b = divmod(int(kk) - 6, n_full)
        nm = f"{mesh_names[a]}|{full_names[b]}"
        if nm in patch_names:
            raise ValueError(f"patch name {nm!r} is used for a box face and for a region cut")
        patch_names.append(nm)
        code_patch[kk] = len(patch_names) - 1
    bpatch = code_patch[key]
    tagged = bpatch >= 0
    if tagged.all():
        return bface_nodes, bpatch, patch_names
    return bface_nodes[tagged], bpatch[tagged], patch_names


# ---------------------------------------------------------------------------- public
def from_labels(labels, voxel_size, names, patches=None, split_tets=False, keep=None, *,
                origin=(0.0, 0.0, 0.0), periodic_axes=(1, 2), return_arrays=False):
    """Mesh a 3D label image: one hexahedron per voxel (or six tetrahedra).

    Parameters
    ----------
    labels : (nx, ny, nz) integer array, axes 0, 1, 2 = x, y, z
    voxel_size : voxel edge [m], a number or (hx, hy, hz)
    names : {label value: region name}; every label in the image must be named (several
        labels may share a name: they form one region)
    patches : {box face: patch name or None}, box faces xmin, xmax, ymin, ymax, zmin, zmax;
        faces not given keep their own name, None leaves a face untagged ("defaultFaces")
    split_tets : split each voxel into 6 Kuhn tetrahedra along its (0,0,0)-(1,1,1)
        diagonal (conforming across voxels and across periodic sides)
    keep : region names to mesh (default all); the others are dropped, their faces
        towards kept voxels become patches ``"<kept>|<dropped>"``, unused nodes are dropped
    origin : (3,) coordinates of the image corner [m]
    periodic_axes : axes along which the image is periodic (only matters with ``keep``: a
        box face whose partner voxel across the period is dropped is tagged as a cut)
    return_arrays : also return the plain arrays (points, cell_nodes, cell_nface,
        cell_region, region_names, boundary elements, their patch, patch names), e.g. to
        build a Mesh the generic way

    Returns a Mesh (and the arrays dict when ``return_arrays``). Raises ValueError for a
    non-3D or non-integer image, unnamed labels, bad voxel sizes, unknown ``keep`` names or
    when nothing is left to mesh.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 3D array (x, y, z), got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = np.ascontiguousarray(labels)
    h = _voxel_size(voxel_size)
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(origin)):
        raise ValueError(f"origin must be 3 finite numbers [m], got {origin.tolist()}")
    if any(a not in (0, 1, 2) for a in periodic_axes):
        raise ValueError(f"periodic_axes must be among 0, 1, 2 (x, y, z), got {periodic_axes!r}")
    nx, ny, nz = (int(n) for n in labels.shape)

    reg, full_names = _region_lookup(labels, names)
    mesh_names = _kept_regions(full_names, names, keep)
    keep_lut = np.array([mesh_names.index(r) if r in mesh_names else -1 for r in full_names], dtype=np.int64)

    vid, vox, counts = _number_voxels(reg, keep_lut, len(mesh_names))
    node_id, n_nodes = _number_nodes(vid, nx, ny, nz, CORNERS)
    points = _node_points(node_id, n_nodes, nx, ny, nz, h, origin)
    sub_corners, lf_corners, lf_dir, lf_partner = _split_tables(split_tets)
    n_sub = sub_corners.shape[0]
    cell_nodes, cen = _cells(vox, node_id, ny, nz, CORNERS, sub_corners, h, origin)
    del node_id
    cell_region = np.repeat(np.arange(len(mesh_names), dtype=np.int64), counts * n_sub)
    cell_nface = np.full(cell_nodes.shape[0], TET if split_tets else HEX, dtype=np.int64)

    periodic = np.zeros(3, dtype=np.bool_)
    periodic[list(periodic_axes)] = True
    args = (vid, vox, reg, cell_nodes, cen, nx, ny, nz, lf_corners, sub_corners, lf_dir, lf_partner,
            periodic, CORNERS, h, origin)
    *_, n_int, n_bnd = _faces(*args, False, 0, 0)
    owner, neighbour, face_nodes, code, area, fc, _, _ = _faces(*args, True, n_int, n_bnd)
    del vid, vox, reg
    vol = np.full(cell_nodes.shape[0], float(np.prod(h)) / n_sub)
    topo = dict(owner=owner, neighbour=neighbour, n_internal=n_int, face_nodes=face_nodes,
                face_area=area, face_centre=fc, cell_volume=vol, cell_centre=cen)

    elems, epatch, patch_names = _boundary_patches(
        face_nodes[n_int:], code, cell_region[owner[n_int:]], patches, mesh_names, full_names)
    mesh = Mesh(points, cell_nodes, cell_nface, cell_region, mesh_names, elems, epatch, patch_names,
                geometry=topo)
    if return_arrays:
        arrays = dict(points=points, cell_nodes=cell_nodes, cell_nface=cell_nface,
                      cell_region=cell_region, region_names=list(mesh_names),
                      boundary_elements=elems, boundary_element_patch=epatch,
                      patch_names=list(patch_names))
        return mesh, arrays
    return mesh
