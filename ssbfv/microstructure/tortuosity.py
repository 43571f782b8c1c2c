"""Tortuosity factor of a phase from steady conduction solves, on voxel images and on meshes.

Definition (DESIGN.md §8): for a phase of volume fraction eps (all of the phase, in the
whole image or mesh), with bulk conductivity k and effective conductivity k_eff measured
along an axis,

    tau = eps * k / k_eff,     so that     k_eff = k * eps / tau

(the form in which a P2D model uses it). k_eff comes from a steady conduction solve in
the phase alone: potential V_in on the inlet face (the lower side of the box along the
axis), V_out on the outlet face, no flux on the other faces (or periodic sides, optional)
and on the phase's own boundary; k_eff = I L / (A (V_in - V_out)) with I the current
through the inlet face, L the box length along the axis and A its cross-section. A phase
that does not connect the two faces gives k_eff = 0, tau = inf (reported as null/None by
the callers). Parts of the phase not connected to both faces (isolated clusters, clusters
touching one face only) carry no current: they count in eps but are left out of the
solve. Dead-end branches of a percolating cluster are kept (they carry no current and
leave k_eff unchanged; they raise eps, hence tau, in proportion).

Voxel images (:func:`voxel_tortuosity`): the 7-point finite-volume scheme on the voxels
of the phase, face conductance k A_f / h between two face-sharing voxels of the phase,
and k A_f / (h/2) from a boundary voxel to the fixed potential on an inlet/outlet face.
Steps, each O(n) and without Python loops over voxels:

1. connected components of the phase (6-connectivity, ``scipy.ndimage.label``), merged
   across the periodic sides when asked; keep the components that touch both faces;
2. number the kept voxels in C order (numba, in place in the label array);
3. assemble the CSR matrix (int32 indices, float64 values) and right-hand side (numba,
   parallel over planes). Conductances are normalised by the one along the axis, so for
   cubic voxels every off-diagonal entry is -1 exactly;
4. CG preconditioned by smoothed-aggregation AMG: by default the project's hierarchy built
   with less memory (``ssbfv.microstructure.lean_amg``) and a parallel CG; ``amg="csr"``
   for ``ssbfv.solver.linear.AmgCgSolver``, ``amg="pyamg"`` for pyamg's own hierarchy. CG
   stops at the residual tolerance and when the inlet/outlet current imbalance (= the sum
   of the residual) is small enough.

Meshes (:func:`mesh_tortuosity`): ``ssbfv.solver.solve_conduction`` restricted to the
regions of the phase with Dirichlet conditions on the two patches of the axis; the same
definitions. On a hexahedral mesh of a label image (``ssbfv.mesh.from_labels``) this is
the same discretisation as the voxel solver.

Units: lengths in m; k cancels (tau and k_eff / k are dimensionless).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numba as nb
import numpy as np

AXES = ("x", "y", "z")


@dataclass
class TortuosityResult:
    """Tortuosity of a phase along one axis.

    tau : tortuosity factor eps k / k_eff (inf when the phase does not connect the faces)
    conductivity_ratio : k_eff / k = eps / tau (0 when it does not percolate)
    volume_fraction : eps, all of the phase over the whole image/mesh volume
    percolating_fraction : volume fraction of the phase in parts connected to both faces
    n_cells : unknowns of the linear system (cells of the percolating parts)
    current_in, current_out : currents through the inlet and outlet faces for a unit
        potential difference and k = 1 [A for S/m, V, m] (in = into the phase)
    imbalance : |current_in - current_out| / current_in (0 when nothing percolates)
    iterations : CG iterations; residual : final relative residual
    times : seconds per stage ("label", "assemble", "setup", "solve")
    potential : optional potential per voxel (NaN outside the solved cells), or per mesh
        cell, when asked for
    """

    axis: str
    tau: float
    conductivity_ratio: float
    volume_fraction: float
    percolating_fraction: float
    n_cells: int
    current_in: float = 0.0
    current_out: float = 0.0
    imbalance: float = 0.0
    iterations: int = 0
    residual: float = 0.0
    times: dict = field(default_factory=dict)
    potential: np.ndarray | None = field(default=None, repr=False)

    @property
    def percolates(self) -> bool:
        return bool(np.isfinite(self.tau))

    def summary(self) -> dict:
        """JSON-ready dict (tau None when it does not percolate)."""
        return {
            "tau": float(self.tau) if self.percolates else None,
            "conductivity_ratio": float(self.conductivity_ratio),
            "volume_fraction": float(self.volume_fraction),
            "percolating_fraction": float(self.percolating_fraction),
            "n_cells": int(self.n_cells),
            "current_in": float(self.current_in),
            "current_out": float(self.current_out),
            "imbalance": float(self.imbalance),
            "iterations": int(self.iterations),
            "residual": float(self.residual),
            "times_s": {k: round(float(v), 4) for k, v in self.times.items()},
        }


def axis_index(axis) -> int:
    """0, 1, 2 from 0/1/2 or "x"/"y"/"z"; ValueError otherwise."""
    if isinstance(axis, str) and axis.lower() in AXES:
        return AXES.index(axis.lower())
    if isinstance(axis, (int, np.integer)) and 0 <= int(axis) < 3:
        return int(axis)
    raise ValueError(f"axis must be 0, 1, 2 or 'x', 'y', 'z', got {axis!r}")


def voxel_size3(voxel_size) -> np.ndarray:
    """(3,) voxel edges [m] from a number or three numbers; ValueError unless finite > 0."""
    if voxel_size is None:
        raise ValueError("the voxel size is missing: give it in metres (e.g. 0.5e-6)")
    try:
        h = np.asarray(voxel_size, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"voxel size must be a number or 3 numbers [m], got {voxel_size!r}") from None
    if h.ndim == 0:
        h = np.full(3, float(h))
    if h.shape != (3,) or not np.all(np.isfinite(h)) or np.any(h <= 0.0):
        raise ValueError(f"voxel size must be finite and > 0 [m] (one number or three), got {voxel_size!r}")
    return h


# ---------------------------------------------------------------------------- voxel kernels
@nb.njit(parallel=True, cache=True)
def _number_cells(lab, keep):
    """Replace component labels by row numbers (C order) of the kept voxels, -1 elsewhere.

    lab : (n0, n1, n2) int32 component labels (0 = not in the phase), overwritten
    keep : (n_labels + 1,) bool, keep[0] = False
    Returns (n_rows, rows per plane i).
    """
    n0, n1, n2 = lab.shape
    per_plane = np.zeros(n0, dtype=np.int64)
    for i in nb.prange(n0):
        c = 0
        for j in range(n1):
            for k in range(n2):
                if keep[lab[i, j, k]]:
                    c += 1
        per_plane[i] = c
    start = np.zeros(n0, dtype=np.int64)
    for i in range(1, n0):
        start[i] = start[i - 1] + per_plane[i - 1]
    for i in nb.prange(n0):
        c = start[i]
        for j in range(n1):
            for k in range(n2):
                if keep[lab[i, j, k]]:
                    lab[i, j, k] = c
                    c += 1
                else:
                    lab[i, j, k] = -1
    return start[n0 - 1] + per_plane[n0 - 1], per_plane


@nb.njit(inline="always")
def _neighbours(idx, i, j, k, per1, per2, out_col, out_axis):
    """Row numbers of the phase neighbours of voxel (i, j, k) (up to 6) and their axis;
    duplicates (a 2-voxel periodic side) are kept (two faces, two conductances)."""
    n0, n1, n2 = idx.shape
    m = 0
    if i > 0 and idx[i - 1, j, k] >= 0:
        out_col[m] = idx[i - 1, j, k]
        out_axis[m] = 0
        m += 1
    if i < n0 - 1 and idx[i + 1, j, k] >= 0:
        out_col[m] = idx[i + 1, j, k]
        out_axis[m] = 0
        m += 1
    if j > 0 or (per1 and n1 > 1):
        jj = j - 1 if j > 0 else n1 - 1
        if idx[i, jj, k] >= 0:
            out_col[m] = idx[i, jj, k]
            out_axis[m] = 1
            m += 1
    if j < n1 - 1 or (per1 and n1 > 1):
        jj = j + 1 if j < n1 - 1 else 0
        if idx[i, jj, k] >= 0:
            out_col[m] = idx[i, jj, k]
            out_axis[m] = 1
            m += 1
    if k > 0 or (per2 and n2 > 1):
        kk = k - 1 if k > 0 else n2 - 1
        if idx[i, j, kk] >= 0:
            out_col[m] = idx[i, j, kk]
            out_axis[m] = 2
            m += 1
    if k < n2 - 1 or (per2 and n2 > 1):
        kk = k + 1 if k < n2 - 1 else 0
        if idx[i, j, kk] >= 0:
            out_col[m] = idx[i, j, kk]
            out_axis[m] = 2
            m += 1
    return m


@nb.njit(parallel=True, cache=True)
def _row_lengths(idx, n_rows, per1, per2):
    """Entries per CSR row: 1 (diagonal) + distinct neighbours."""
    n0, n1, n2 = idx.shape
    length = np.zeros(n_rows, dtype=np.int32)
    for i in nb.prange(n0):
        col = np.empty(6, dtype=np.int64)
        ax = np.empty(6, dtype=np.int64)
        for j in range(n1):
            for k in range(n2):
                r = idx[i, j, k]
                if r < 0:
                    continue
                m = _neighbours(idx, i, j, k, per1, per2, col, ax)
                distinct = 0
                for a in range(m):
                    dup = False
                    for b in range(a):
                        if col[b] == col[a]:
                            dup = True
                    if not dup and col[a] != r:
                        distinct += 1
                length[r] = 1 + distinct
    return length


@nb.njit(parallel=True, cache=True)
def _fill(idx, indptr, indices, data, rhs, x0, g, per1, per2):
    """Fill the CSR matrix, right-hand side and initial guess.

    g : (3,) conductances per axis, normalised so that g[0] = 1; inlet potential 1 at the
    face i = -1/2, outlet 0 at i = n0 - 1/2 (half-voxel distance: conductance 2 g[0]).
    Rows are sorted by column (a small insertion sort of <= 7 entries).
    """
    n0, n1, n2 = idx.shape
    for i in nb.prange(n0):
        col = np.empty(6, dtype=np.int64)
        ax = np.empty(6, dtype=np.int64)
        rc = np.empty(7, dtype=np.int64)
        rv = np.empty(7, dtype=np.float64)
        for j in range(n1):
            for k in range(n2):
                r = idx[i, j, k]
                if r < 0:
                    continue
                m = _neighbours(idx, i, j, k, per1, per2, col, ax)
                diag = 0.0
                n = 0
                for a in range(m):
                    c = col[a]
                    if c == r:  # a 1-voxel periodic side: no coupling
                        continue
                    ga = g[ax[a]]
                    diag += ga
                    found = False
                    for b in range(n):
                        if rc[b] == c:
                            rv[b] -= ga
                            found = True
                    if not found:
                        rc[n] = c
                        rv[n] = -ga
                        n += 1
                b_r = 0.0
                if i == 0:
                    diag += 2.0 * g[0]
                    b_r = 2.0 * g[0]
                if i == n0 - 1:
                    diag += 2.0 * g[0]
                rc[n] = r
                rv[n] = diag
                n += 1
                for a in range(1, n):  # insertion sort by column
                    cc = rc[a]
                    vv = rv[a]
                    b = a - 1
                    while b >= 0 and rc[b] > cc:
                        rc[b + 1] = rc[b]
                        rv[b + 1] = rv[b]
                        b -= 1
                    rc[b + 1] = cc
                    rv[b + 1] = vv
                p = indptr[r]
                for a in range(n):
                    indices[p + a] = rc[a]
                    data[p + a] = rv[a]
                rhs[r] = b_r
                x0[r] = 1.0 - (i + 0.5) / n0


@nb.njit(parallel=True, cache=True)
def _scatter(idx, x, out):
    """out[i, j, k] = x[idx[i, j, k]] where idx >= 0, else NaN."""
    n0, n1, n2 = idx.shape
    for i in nb.prange(n0):
        for j in range(n1):
            for k in range(n2):
                r = idx[i, j, k]
                out[i, j, k] = x[r] if r >= 0 else np.nan


# ---------------------------------------------------------------------------- voxel solve
def percolating_labels(mask: np.ndarray, periodic=(False, False)):
    """Components of a boolean mask (axis 0 = transport axis) that touch both axis-0 faces.

    Returns (labels int32 (same shape), keep bool (n_labels + 1,)). Components are
    6-connected; with ``periodic`` (flags for axes 1, 2) components touching opposite
    sides of a periodic axis are merged.
    """
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(3, 1)
    lab = np.empty(mask.shape, dtype=np.int32)
    n = ndimage.label(mask, structure=structure, output=lab)
    root = np.arange(n + 1)
    pairs = []
    for a, flag in zip((1, 2), periodic):
        if flag and mask.shape[a] > 1:
            lo = np.take(lab, 0, axis=a).ravel()
            hi = np.take(lab, mask.shape[a] - 1, axis=a).ravel()
            both = (lo > 0) & (hi > 0)
            pairs.append(np.stack([lo[both], hi[both]]))
    if pairs:
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components

        e = np.unique(np.concatenate(pairs, axis=1), axis=1)
        g = sp.coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(n + 1, n + 1))
        _, root = connected_components(g, directed=False)
    touch_in = np.zeros(root.max() + 1, dtype=bool)
    touch_out = np.zeros(root.max() + 1, dtype=bool)
    touch_in[root[np.unique(lab[0])]] = True
    touch_out[root[np.unique(lab[-1])]] = True
    keep = touch_in[root] & touch_out[root]
    keep[0] = False
    return lab, keep


def assemble_voxel_system(idx, n_rows, h, periodic=(False, False)):
    """CSR matrix, right-hand side and linear initial guess of the normalised conduction
    problem on the numbered voxels ``idx`` (axis 0 = transport axis).

    h : (3,) voxel edges [m] in the (permuted) axis order. Conductances per axis are
    g_a = A_a / h_a normalised by g_0 (k = 1); potential 1 at the inlet, 0 at the outlet.
    """
    import scipy.sparse as sp

    area = np.array([h[1] * h[2], h[0] * h[2], h[0] * h[1]])
    g = area / h
    g = g / g[0]
    per1, per2 = bool(periodic[0]), bool(periodic[1])
    length = _row_lengths(idx, n_rows, per1, per2)
    nnz = int(length.sum(dtype=np.int64))
    itype = np.int32 if nnz < 2**31 - 1 else np.int64
    indptr = np.empty(n_rows + 1, dtype=itype)
    indptr[0] = 0
    np.cumsum(length, out=indptr[1:])
    del length
    indices = np.empty(nnz, dtype=itype)
    data = np.empty(nnz, dtype=np.float64)
    rhs = np.empty(n_rows, dtype=np.float64)
    x0 = np.empty(n_rows, dtype=np.float64)
    _fill(idx, indptr, indices, data, rhs, x0, g, per1, per2)
    A = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_rows), copy=False)
    A.has_sorted_indices = True
    return A, rhs, x0, g


def solve_spd(A, b, x0, tol=1e-8, maxiter=500, amg="lean", accept=None):
    """Solve the SPD system A x = b by AMG-preconditioned CG.

    amg : "lean" (default: :class:`ssbfv.microstructure.lean_amg.LeanSmoothedAggregationHierarchy`,
        the project's hierarchy built with less memory, and a parallel CG), "csr"
        (``ssbfv.solver.linear.AmgCgSolver`` with the project's hierarchy) or "pyamg"
        (``AmgCgSolver`` with ``pyamg.smoothed_aggregation_solver``, V-cycle)
    accept : optional extra stopping criterion ``accept(x, r) -> bool`` (lean only),
        checked once the residual is below tol
    Returns (x, iterations, relative residual, setup seconds, solve seconds); raises
    ``ssbfv.solver.linear.LinearSolveError`` when CG does not reach ``tol``.
    """
    from ..solver.linear import AmgCgSolver, LinearSolveError

    if amg == "lean":
        from .lean_amg import LeanSmoothedAggregationHierarchy, pcg

        t0 = time.perf_counter()
        M = LeanSmoothedAggregationHierarchy(A)
        t1 = time.perf_counter()
        x, it, res, ok = pcg(A, b, x0, M, tol, maxiter, accept)
        t2 = time.perf_counter()
        del M
        if not ok:
            raise LinearSolveError(f"CG+AMG did not converge in {it} iterations (relative residual {res:.3e}, "
                                   f"tolerance {tol:.1e}{', extra criterion not met' if res <= tol else ''})")
        return x, int(it), float(res), t1 - t0, t2 - t1
    if amg not in ("csr", "pyamg"):
        raise ValueError(f"amg must be 'lean', 'csr' or 'pyamg', got {amg!r}")
    solver = AmgCgSolver(tol=tol, maxiter=maxiter, amg=amg)
    t_setup = solver.setup(A)
    x, info = solver.solve(A, b, x0)
    return x, int(info.iterations), float(info.residual), t_setup + info.setup_time_s, info.solve_time_s


def voxel_tortuosity(mask, voxel_size, axis=0, periodic=False, tol=1e-6, imbalance_tol=1e-5, maxiter=500,
                     amg="lean", return_potential=False, volume_fraction=None) -> TortuosityResult:
    """Tortuosity factor of the phase ``mask`` along ``axis`` on a voxel image.

    Parameters
    ----------
    mask : (nx, ny, nz) bool, True in the conducting phase (axes 0, 1, 2 = x, y, z)
    voxel_size : voxel edge [m], a number or (hx, hy, hz)
    axis : 0/1/2 or "x"/"y"/"z", the transport direction
    periodic : couple the opposite sides of the two other axes (bool, or a pair of flags
        for the two other axes in increasing order)
    tol : relative residual tolerance of CG
    imbalance_tol : CG also iterates until |I_in - I_out| <= imbalance_tol I_in (the
        imbalance is the sum of the residual; with amg="lean" only). Both defaults give
        tau to ~1e-5 relative
    maxiter : CG iteration limit (a LinearSolveError beyond)
    amg : "lean" (default), "csr" or "pyamg", see :func:`solve_spd`
    return_potential : also return the potential per voxel (NaN outside the solve)
    volume_fraction : eps to use (default: the mask's fraction)

    Returns a :class:`TortuosityResult`. Raises ValueError for a mask that is not 3D or
    holds no phase voxel at all.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3 or mask.size == 0:
        raise ValueError(f"the phase mask must be a non-empty 3D array, got shape {mask.shape}")
    a = axis_index(axis)
    h = voxel_size3(voxel_size)
    n_phase = int(np.count_nonzero(mask))
    if n_phase == 0:
        raise ValueError("the phase is empty: no voxel belongs to it, so it has no tortuosity")
    eps = n_phase / mask.size if volume_fraction is None else float(volume_fraction)
    per = (periodic, periodic) if isinstance(periodic, (bool, np.bool_)) else tuple(bool(p) for p in periodic)
    if len(per) != 2:
        raise ValueError("periodic must be a bool or a pair of flags (the two other axes)")
    others = [b for b in range(3) if b != a]
    times = {}

    t0 = time.perf_counter()
    m = mask if a == 0 else np.moveaxis(mask, a, 0)
    m = np.ascontiguousarray(m, dtype=bool)
    hp = h[[a] + others]
    lab, keep = percolating_labels(m, per)
    del m
    times["label"] = time.perf_counter() - t0
    if not keep.any():
        times["assemble"] = times["setup"] = times["solve"] = 0.0
        pot = np.full(mask.shape, np.nan) if return_potential else None
        return TortuosityResult(AXES[a], np.inf, 0.0, eps, 0.0, 0, times=times, potential=pot)

    t0 = time.perf_counter()
    n_rows, per_plane = _number_cells(lab, keep)
    n_rows = int(n_rows)
    idx = lab
    del lab, keep
    A, rhs, x0, g = assemble_voxel_system(idx, n_rows, hp, per)
    if not return_potential:
        del idx
    times["assemble"] = time.perf_counter() - t0

    n_in, n_out = int(per_plane[0]), int(per_plane[-1])

    def balanced(x, r):
        i_in = 2.0 * g[0] * np.sum(1.0 - x[:n_in])
        return abs(float(np.sum(r))) <= imbalance_tol * i_in

    x, iterations, residual, t_setup, t_solve = solve_spd(A, rhs, x0, tol, maxiter, amg,
                                                          balanced if imbalance_tol else None)
    times["setup"], times["solve"] = t_setup, t_solve
    del A, rhs, x0

    i_in = float(2.0 * g[0] * np.sum(1.0 - x[:n_in]))
    i_out = float(2.0 * g[0] * np.sum(x[n_rows - n_out:]))
    n0, n1, n2 = idx.shape if return_potential else (mask.shape[a], *[mask.shape[b] for b in others])
    ratio = i_in * n0 / (n1 * n2)  # k_eff / k (see module docstring: g_0 normalisation)
    pot = None
    if return_potential:
        full = np.empty(idx.shape, dtype=np.float64)
        _scatter(idx, x, full)
        pot = np.ascontiguousarray(np.moveaxis(full, 0, a)) if a else full
    tau = eps / ratio if ratio > 0.0 else np.inf
    imbalance = abs(i_in - i_out) / abs(i_in) if i_in != 0.0 else 0.0
    g0 = hp[1] * hp[2] / hp[0]  # the normalising conductance k A_x / h_x (k = 1) [m]
    return TortuosityResult(AXES[a], float(tau), float(ratio), eps, n_rows / mask.size, n_rows,
                            i_in * g0, i_out * g0, float(imbalance), iterations, residual,
                            times, pot)


# ---------------------------------------------------------------------------- meshes
#: patch pairs (inlet, outlet) tried per axis, in this order
MESH_FACE_PATCHES = {
    0: (("xmin", "xmax"), ("anode", "collector")),
    1: (("ymin", "ymax"),),
    2: (("zmin", "zmax"),),
}


def mesh_face_patches(mesh, axis) -> tuple[str, str]:
    """(inlet, outlet) patch names of a mesh for an axis: xmin/xmax (or anode/collector),
    ymin/ymax, zmin/zmax. ValueError naming the patches looked for when none is there."""
    a = axis_index(axis)
    for lo, hi in MESH_FACE_PATCHES[a]:
        if lo in mesh.patch_names and hi in mesh.patch_names:
            return lo, hi
    wanted = " or ".join(f"{lo}/{hi}" for lo, hi in MESH_FACE_PATCHES[a])
    raise ValueError(f"the mesh has no patches {wanted} for a solve along {AXES[a]} "
                     f"(its patches: {list(mesh.patch_names)})")


def mesh_tortuosity(mesh, regions, axis=0, periodic=False, tol=1e-10, n_correctors=20,
                    volume_fraction=None, return_potential=False, conductivity=None) -> TortuosityResult:
    """Tortuosity factor of the phase made of ``regions`` of a mesh along ``axis``.

    The conduction problem of the module docstring, solved with
    ``ssbfv.solver.solve_conduction`` in the phase's regions (k = 1, potential 1 on the
    inlet patch, 0 on the outlet patch, see :func:`mesh_face_patches`; the cuts towards
    other regions and the other box sides insulated, or with ``periodic`` the side patch
    pairs of the two other axes coupled, translation = the mesh's extent). L and A come
    from the mesh's bounding box; eps (default) = phase volume / mesh volume. Components of
    the phase not connected to both patches carry no current (those touching no patch are
    left out by the solver, NaN potential).

    conductivity : optional {region: k} (default 1 everywhere). With unequal values the
        result's ``conductivity_ratio`` is k_eff in the units of k (not a ratio) and ``tau``
        is eps / k_eff: use it to measure the effective conductivity of a mixed phase.
    """
    from ..solver import Dirichlet, FvDomain, solve_conduction

    a = axis_index(axis)
    regions = [regions] if isinstance(regions, str) else list(regions)
    inlet, outlet = mesh_face_patches(mesh, a)
    lo, hi = mesh.bounding_box()
    ext = hi - lo
    others = [b for b in range(3) if b != a]
    cells = np.flatnonzero(np.isin(mesh.cell_region, [mesh.region_id(r) for r in regions]))
    total = float(mesh.cell_volumes.sum())
    if cells.size == 0:
        raise ValueError(f"the phase (regions {regions}) is empty: it has no tortuosity")
    eps = float(mesh.cell_volumes[cells].sum()) / total if volume_fraction is None else float(volume_fraction)
    pairs = []
    if periodic:
        for b in others:
            for pl, ph in MESH_FACE_PATCHES[b]:
                if pl in mesh.patch_names and ph in mesh.patch_names:
                    t = np.zeros(3)
                    t[b] = ext[b]
                    pairs.append((pl, ph, t))
                    break
    times = {}
    t0 = time.perf_counter()
    dom = FvDomain(mesh, regions, pairs)
    times["domain"] = time.perf_counter() - t0

    def empty():
        return TortuosityResult(AXES[a], np.inf, 0.0, eps, 0.0, 0, times=times,
                                potential=np.full(mesh.n_cells, np.nan) if return_potential else None)

    if inlet not in dom.group_names or outlet not in dom.group_names:
        return empty()
    _, comp = dom.components()
    c_in = np.unique(comp[dom.b_cell[dom.group_slice(inlet)]])
    c_out = np.unique(comp[dom.b_cell[dom.group_slice(outlet)]])
    perc = np.intersect1d(c_in, c_out)
    if perc.size == 0:
        return empty()
    in_perc = np.isin(comp, perc)
    perc_fraction = float(dom.cell_volumes[in_perc].sum()) / total
    t0 = time.perf_counter()
    k = {r: 1.0 for r in regions} if conductivity is None else {r: float(conductivity[r]) for r in regions}
    res = solve_conduction(mesh, k, {inlet: Dirichlet(1.0), outlet: Dirichlet(0.0)},
                           periodic=pairs, regions=regions, tol=tol, n_correctors=n_correctors, domain=dom)
    times["solve"] = time.perf_counter() - t0
    i_in = -res.patch_flux[inlet]
    i_out = res.patch_flux[outlet]
    area = float(np.prod(ext[others]))
    ratio = i_in * ext[a] / area
    tau = eps / ratio if ratio > 0.0 else np.inf
    imbalance = abs(i_in - i_out) / abs(i_in) if i_in != 0.0 else 0.0
    return TortuosityResult(AXES[a], float(tau), float(ratio), eps, perc_fraction, int(in_perc.sum()),
                            float(i_in), float(i_out), float(imbalance), res.iterations, 0.0, times,
                            res.values if return_potential else None)
