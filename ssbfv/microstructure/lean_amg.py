"""A lower-memory build of the project's smoothed-aggregation hierarchy, for very large
voxel systems (10^7-10^8 unknowns), and a CG with a parallel matrix-vector product.

The method is exactly that of :class:`ssbfv.solver.amg.SmoothedAggregationHierarchy`
(theta = 0, pyamg standard aggregation, piecewise-constant tentative prolongator with
normalised columns, one damped-Jacobi smoothing step with the Gershgorin row sums,
omega = 4/3, Galerkin coarse operators, W-cycle with forward/backward Gauss-Seidel), and so
is the cycle (inherited). Only the setup is reorganised to keep the peak memory near the
size of the fine matrix plus the hierarchy:

- with theta = 0 the strength matrix has the pattern of A, so the aggregation runs on A's
  pattern directly (no copy of A);
- the smoothed prolongator P = T - omega D_G^-1 A T is built row by row in a numba kernel
  (no intermediate A T, T or their difference);
- the Galerkin product A_c = P^T (A P) is accumulated over slabs of fine rows, so that A P
  never exists whole (it is ~2.3x the size of A on a 7-point stencil).

On a 100^3 voxel image the lean build has the same levels and coarse operators as the
project's (to rounding) and its peak is ~0.35x of the project's setup peak (benchmarks in
docs/descriptors.md). It lives here because ``ssbfv/solver`` is shared; it could move there.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp
from pyamg import amg_core

from ..solver.amg import Level, SmoothedAggregationHierarchy


@nb.njit(parallel=True, cache=True)
def _smoothed_prolongator(indptr, indices, data, agg, w, omega, count_only, p_indptr, p_indices, p_data):
    """Rows of P = T - omega D_G^-1 A T, T[i, agg[i]] = w[i] (agg[i] = -1: empty row).

    D_G = sum_j |a_ij|. With count_only, writes the number of entries of each row into
    p_indptr[1 + i]; otherwise fills p_indices / p_data (columns sorted) from p_indptr.
    """
    n = indptr.shape[0] - 1
    for i in nb.prange(n):
        cols = np.empty(indptr[i + 1] - indptr[i] + 1, dtype=np.int64)
        vals = np.empty(indptr[i + 1] - indptr[i] + 1, dtype=np.float64)
        gersh = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            gersh += abs(data[p])
        if gersh == 0.0:
            gersh = 1.0
        s = omega / gersh
        m = 0
        if agg[i] >= 0:
            cols[0] = agg[i]
            vals[0] = w[i]
            m = 1
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            c = agg[j]
            if c < 0:
                continue
            v = -s * data[p] * w[j]
            found = False
            for q in range(m):
                if cols[q] == c:
                    vals[q] += v
                    found = True
                    break
            if not found:
                cols[m] = c
                vals[m] = v
                m += 1
        if count_only:
            p_indptr[i + 1] = m
            continue
        for a in range(1, m):  # insertion sort by column
            cc = cols[a]
            vv = vals[a]
            b = a - 1
            while b >= 0 and cols[b] > cc:
                cols[b + 1] = cols[b]
                vals[b + 1] = vals[b]
                b -= 1
            cols[b + 1] = cc
            vals[b + 1] = vv
        start = p_indptr[i]
        for a in range(m):
            p_indices[start + a] = cols[a]
            p_data[start + a] = vals[a]


def smoothed_prolongator(A: sp.csr_matrix, omega: float = 4.0 / 3.0):
    """(P, n_coarse) for a CSR matrix, or (None, 0) when nothing aggregates."""
    n = A.shape[0]
    itype = A.indptr.dtype
    agg = np.empty(n, dtype=itype)
    cpts = np.empty(n, dtype=itype)
    n_c = int(amg_core.standard_aggregation(n, A.indptr, A.indices, agg, cpts))
    del cpts
    if n_c == 0 or n_c >= n:
        return None, 0
    counts = np.bincount(agg[agg >= 0], minlength=n_c).astype(np.float64)
    w = np.zeros(n)
    ok = agg >= 0
    w[ok] = 1.0 / np.sqrt(counts[agg[ok]])
    del counts, ok
    p_indptr = np.zeros(n + 1, dtype=np.int64)
    dummy_i = np.empty(0, dtype=itype)
    dummy_d = np.empty(0, dtype=np.float64)
    _smoothed_prolongator(A.indptr, A.indices, A.data, agg, w, omega, True, p_indptr, dummy_i, dummy_d)
    np.cumsum(p_indptr, out=p_indptr)
    nnz = int(p_indptr[-1])
    pt = np.int32 if nnz < 2**31 - 1 and n_c < 2**31 - 1 else np.int64
    p_indptr = p_indptr.astype(pt)
    p_indices = np.empty(nnz, dtype=pt)
    p_data = np.empty(nnz, dtype=np.float64)
    _smoothed_prolongator(A.indptr, A.indices, A.data, agg, w, omega, False, p_indptr, p_indices, p_data)
    P = sp.csr_matrix((p_data, p_indices, p_indptr), shape=(n, n_c), copy=False)
    P.has_sorted_indices = True
    return P, n_c


def _rows(M: sp.csr_matrix, s0: int, s1: int) -> sp.csr_matrix:
    """Rows s0:s1 of a CSR matrix as a view of its data and indices (no copy)."""
    a0, a1 = int(M.indptr[s0]), int(M.indptr[s1])
    out = sp.csr_matrix((M.data[a0:a1], M.indices[a0:a1], M.indptr[s0:s1 + 1] - a0),
                        shape=(s1 - s0, M.shape[1]), copy=False)
    out.has_sorted_indices = M.has_sorted_indices
    return out


def galerkin(A: sp.csr_matrix, P: sp.csr_matrix, rows_per_slab: int = 2_000_000) -> sp.csr_matrix:
    """P^T A P, accumulated over slabs of fine rows (P[s]^T (A[s] P)) to bound memory."""
    n = A.shape[0]
    n_c = P.shape[1]
    if n <= rows_per_slab:
        Ac = (P.T @ (A @ P)).tocsr()
    else:
        parts = []
        for s0 in range(0, n, rows_per_slab):
            s1 = min(n, s0 + rows_per_slab)
            APs = _rows(A, s0, s1) @ P
            part = (_rows(P, s0, s1).T @ APs).tocoo()
            del APs
            parts.append((part.row.astype(np.int32), part.col.astype(np.int32), part.data))
            del part
        row = np.concatenate([p[0] for p in parts])
        col = np.concatenate([p[1] for p in parts])
        val = np.concatenate([p[2] for p in parts])
        del parts
        Ac = sp.coo_matrix((val, (row, col)), shape=(n_c, n_c)).tocsr()  # sums duplicates
        del row, col, val
    _drop_round_off(Ac)
    Ac.sort_indices()
    return Ac


def _drop_round_off(A: sp.csr_matrix, rel: float = 1e-12) -> None:
    """Remove off-diagonal entries |a_ij| <= rel sqrt(|a_ii a_jj|) in place: exact and
    near cancellations (round-off), which would otherwise add spurious connections to the
    aggregation pattern."""
    d = np.sqrt(np.abs(A.diagonal()))
    rows = np.repeat(np.arange(A.shape[0], dtype=A.indices.dtype), np.diff(A.indptr))
    small = np.abs(A.data) <= rel * d[rows] * d[A.indices]
    small &= rows != A.indices
    del rows
    if small.any():
        A.data[small] = 0.0
        A.eliminate_zeros()


class LeanSmoothedAggregationHierarchy(SmoothedAggregationHierarchy):
    """Same hierarchy and cycle as :class:`ssbfv.solver.amg.SmoothedAggregationHierarchy`
    (theta = 0 only), built with less memory. Parameters as there."""

    def __init__(self, A, omega=4.0 / 3.0, max_coarse=500, max_levels=15, cycle="W", rows_per_slab=2_000_000):
        if cycle not in ("V", "W"):
            raise ValueError("cycle must be 'V' or 'W'")
        self.cycle = cycle
        A = A if sp.isspmatrix_csr(A) else sp.csr_matrix(A)
        A.sort_indices()
        self.levels = [Level(A)]
        while self.levels[-1].A.shape[0] > max_coarse and len(self.levels) < max_levels:
            Af = self.levels[-1].A
            P, n_c = smoothed_prolongator(Af, omega)
            if P is None:
                break
            Ac = galerkin(Af, P, rows_per_slab)
            self.levels[-1].P = P
            self.levels[-1].R = P.T
            self.levels.append(Level(Ac))
        self.coarse_inverse = CoarseSolver(self.levels[-1].A.toarray())


@nb.njit(cache=True)
def _cholesky(A):
    """Lower Cholesky factor of a dense SPD matrix; ok = False when a pivot is not
    clearly positive (singular or indefinite: the caller falls back to a pseudo-inverse)."""
    n = A.shape[0]
    L = np.zeros((n, n))
    scale = 0.0
    for i in range(n):
        scale = max(scale, abs(A[i, i]))
    for j in range(n):
        d = A[j, j]
        for k in range(j):
            d -= L[j, k] * L[j, k]
        if not d > 1e-12 * scale:
            return L, False
        L[j, j] = np.sqrt(d)
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / L[j, j]
    return L, True


@nb.njit(cache=True)
def _cholesky_solve(L, b):
    n = L.shape[0]
    y = np.empty(n)
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * y[k]
        y[i] = s / L[i, i]
    x = np.empty(n)
    for i in range(n - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, n):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]
    return x


@nb.njit(cache=True)
def _dense_matvec(M, b):
    n, m = M.shape
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for j in range(m):
            s += M[i, j] * b[j]
        out[i] = s
    return out


class CoarseSolver:
    """Exact solve on the coarsest level (<= max_coarse unknowns), ``solver @ b``: dense
    Cholesky in numba (the voxel systems are positive definite), else the pseudo-inverse.

    Serial numba loops rather than LAPACK/BLAS: the W-cycle applies it hundreds of times per
    solve, and next to numba's thread pool a threaded BLAS call on a small matrix costs more
    in thread wake-ups than it computes (measured: 0.3-1 s per 200 x 200 pinv on a loaded
    2-core machine, 0.02 s unloaded)."""

    def __init__(self, A):
        A = np.ascontiguousarray(A, dtype=np.float64)
        self.size = A.size
        self.L = self.M = None
        if A.size:
            L, ok = _cholesky(A)
            if ok:
                self.L = L
            else:
                self.M = np.linalg.pinv(A)

    def __matmul__(self, b):
        b = np.asarray(b, dtype=np.float64)
        if self.L is not None:
            return _cholesky_solve(self.L, b)
        if self.M is not None:
            return _dense_matvec(self.M, b)
        return np.zeros(0)


# ---------------------------------------------------------------------------- CG
@nb.njit(parallel=True, cache=True)
def _matvec(indptr, indices, data, x, out):
    n = indptr.shape[0] - 1
    for i in nb.prange(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * x[indices[p]]
        out[i] = s


@nb.njit(parallel=True, cache=True)
def _axpy_norm(alpha, p, q, x, r):
    """x += alpha p; r -= alpha q; returns ||r||^2."""
    s = 0.0
    for i in nb.prange(x.shape[0]):
        x[i] += alpha * p[i]
        r[i] -= alpha * q[i]
        s += r[i] * r[i]
    return s


@nb.njit(parallel=True, cache=True)
def _dot(a, b):
    s = 0.0
    for i in nb.prange(a.shape[0]):
        s += a[i] * b[i]
    return s


@nb.njit(parallel=True, cache=True)
def _update_p(p, z, beta):
    for i in nb.prange(p.shape[0]):
        p[i] = z[i] + beta * p[i]


def pcg(A: sp.csr_matrix, b: np.ndarray, x: np.ndarray, M, tol: float, maxiter: int, accept=None):
    """Preconditioned CG on a CSR matrix, in place on x (float64); matrix-vector products
    and vector updates in parallel numba kernels.

    Stops when ||r|| <= tol ||b|| and, if given, ``accept(x, r)`` is true (an extra
    criterion checked only once the residual criterion holds). Returns (x, iterations,
    ||r|| / ||b||, accepted)."""
    bnorm = float(np.sqrt(_dot(b, b)))
    if bnorm == 0.0:
        x[:] = 0.0
        return x, 0, 0.0, True
    q = np.empty_like(b)
    _matvec(A.indptr, A.indices, A.data, x, q)
    r = b - q
    rnorm = float(np.sqrt(_dot(r, r)))
    if rnorm <= tol * bnorm and (accept is None or accept(x, r)):
        return x, 0, rnorm / bnorm, True
    z = M(r)
    p = z.copy()
    rz = _dot(r, z)
    it = 0
    while it < maxiter:
        it += 1
        _matvec(A.indptr, A.indices, A.data, p, q)
        pq = _dot(p, q)
        if pq <= 0.0:
            break
        alpha = rz / pq
        rnorm = float(np.sqrt(_axpy_norm(alpha, p, q, x, r)))
        if rnorm <= tol * bnorm and (accept is None or accept(x, r)):
            return x, it, rnorm / bnorm, True
        z = M(r)
        rz_new = _dot(r, z)
        beta = rz_new / rz
        rz = rz_new
        _update_p(p, z, beta)
    return x, it, rnorm / bnorm, False

