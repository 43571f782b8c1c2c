"""AMG hierarchies in CSR with one lean cycle (:class:`AmgHierarchy`): smoothed aggregation
built from pyamg's kernels (:class:`SmoothedAggregationHierarchy`) and classical Ruge–Stüben
levels built by pyamg (:class:`ClassicalHierarchy`, for coefficients with large jumps).

Why not ``pyamg.smoothed_aggregation_solver`` directly: for our scalar matrices it stores
the prolongators in BSR format, and its setup spends most of its time in BSR bookkeeping
(``sum_duplicates``) and eigenvalue estimates; its cycle allocates and checks arrays on
every level of every call. Building the same smoothed-aggregation hierarchy in CSR with
pyamg's own strength-of-connection and aggregation kernels, and running the cycle with
pyamg's compiled Gauss-Seidel (W-cycle), made setup and solve about 2.2x faster on
our FV matrices at 400k cells (benchmarks/RESULTS.md). The method is unchanged:

- strength: symmetric strength of connection (theta, default 0: all couplings);
- aggregation: pyamg standard aggregation;
- tentative prolongator: piecewise constant per aggregate (near-null space B = 1),
  columns normalised;
- prolongator smoothing: one damped-Jacobi step P = (I - omega D_G^-1 A) T, with D_G the
  Gershgorin row sums sum_j |a_ij| (a local bound of the spectral radius, "local"
  weighting in pyamg's terms), omega = 4/3;
- Galerkin coarse operators A_c = P^T A P; a dense pseudo-inverse on the coarsest level.

The cycle smooths with forward Gauss-Seidel before and backward Gauss-Seidel after the
coarse correction, so the preconditioner is symmetric (needed by CG). ``cycle="W"`` visits
each coarse level twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pyamg import amg_core
from pyamg.aggregation.aggregate import standard_aggregation
from pyamg.strength import symmetric_strength_of_connection


@dataclass
class Level:
    A: sp.csr_matrix
    P: sp.csr_matrix | None = None
    R: sp.csr_matrix | None = None


class AmgHierarchy:
    """Levels (A, P, R) and a coarse pseudo-inverse, applied as one symmetric cycle: forward
    Gauss-Seidel before and backward Gauss-Seidel after the coarse correction (needed by
    CG), visiting each coarse level once (V) or twice (W). Subclasses build the levels."""

    levels: list
    coarse_inverse: np.ndarray
    cycle: str = "V"

    def _set_coarse(self):
        coarse = self.levels[-1].A.toarray()
        self.coarse_inverse = np.linalg.pinv(coarse) if coarse.size else coarse

    # ------------------------------------------------------------------ info
    def operator_complexity(self) -> float:
        return sum(L.A.nnz for L in self.levels) / self.levels[0].A.nnz

    def __repr__(self) -> str:
        sizes = ", ".join(f"{L.A.shape[0]}" for L in self.levels)
        return f"{type(self).__name__}(levels=[{sizes}], operator complexity {self.operator_complexity():.2f}, {self.cycle}-cycle)"

    # ------------------------------------------------------------------ cycle
    def __call__(self, b: np.ndarray) -> np.ndarray:
        """Apply one cycle to b (zero initial guess): an approximation of A^-1 b."""
        return self._cycle(0, np.asarray(b, dtype=np.float64))

    def _cycle(self, lvl, b):
        if lvl == len(self.levels) - 1:
            return self.coarse_inverse @ b
        L = self.levels[lvl]
        A = L.A
        n = A.shape[0]
        x = np.zeros(n)
        amg_core.gauss_seidel(A.indptr, A.indices, A.data, x, b, 0, n, 1)
        rc = L.R @ (b - A @ x)
        ec = self._cycle(lvl + 1, rc)
        if self.cycle == "W" and lvl + 1 < len(self.levels) - 1:
            ec += self._cycle(lvl + 1, rc - self.levels[lvl + 1].A @ ec)
        x += L.P @ ec
        amg_core.gauss_seidel(A.indptr, A.indices, A.data, x, b, n - 1, -1, -1)
        return x


class SmoothedAggregationHierarchy(AmgHierarchy):
    """Smoothed-aggregation AMG levels for a symmetric (positive semi-definite) CSR matrix.

    Parameters
    ----------
    A : CSR matrix
    theta : strength-of-connection threshold
    omega : Jacobi damping of the prolongator smoother (relative to the Gershgorin bound)
    max_coarse : stop coarsening below this many unknowns
    max_levels : at most this many levels
    cycle : "V" or "W"
    """

    def __init__(self, A, theta=0.0, omega=4.0 / 3.0, max_coarse=500, max_levels=15, cycle="W"):
        if cycle not in ("V", "W"):
            raise ValueError("cycle must be 'V' or 'W'")
        self.cycle = cycle
        A = sp.csr_matrix(A)
        A.sort_indices()
        self.levels = [Level(A)]
        while self.levels[-1].A.shape[0] > max_coarse and len(self.levels) < max_levels:
            Af = self.levels[-1].A
            C = symmetric_strength_of_connection(Af, theta)
            agg, _ = standard_aggregation(C)
            agg = sp.csr_matrix(agg)
            n_c = agg.shape[1]
            if n_c == 0 or n_c >= Af.shape[0]:
                break
            counts = np.bincount(agg.indices, minlength=n_c).astype(np.float64)
            T = sp.csr_matrix((1.0 / np.sqrt(counts[agg.indices]), agg.indices, agg.indptr), shape=agg.shape)
            rows = np.repeat(np.arange(Af.shape[0], dtype=np.int32), np.diff(Af.indptr))
            gersh = np.bincount(rows, weights=np.abs(Af.data), minlength=Af.shape[0])
            del rows
            gersh[gersh == 0.0] = 1.0
            AT = (Af @ T).tocsr()
            AT.data *= np.repeat(omega / gersh, np.diff(AT.indptr))  # D_G^-1 A T, in place
            P = (T - AT).tocsr()
            del AT
            P.sort_indices()
            AP = Af @ P
            Ac = (P.T @ AP).tocsr()
            del AP
            Ac.sort_indices()
            self.levels[-1].P = P
            self.levels[-1].R = P.T  # a CSC view of P: restriction without a copy
            self.levels.append(Level(Ac))
        self._set_coarse()


class ClassicalHierarchy(AmgHierarchy):
    """Classical (Ruge–Stüben) AMG levels for a symmetric M-matrix, built by pyamg
    (``pyamg.ruge_stuben_solver``: classical strength of connection with threshold theta,
    Ruge–Stüben C/F splitting, classical interpolation, R = P^T), cycled as the other
    hierarchies (forward / backward Gauss-Seidel).

    Why: where the coefficient jumps by orders of magnitude between neighbouring cells (the
    electrolyte potential late in a discharge: kappa of a depleted polymer at its floor next
    to NaSICON, a diagonal range of 1.5e6), aggregation with theta = 0 groups cells across the
    jumps and the cycle no longer reduces the error there; classical coarsening follows the
    strong couplings and interpolates along them (benchmarks/RESULTS.md, "Classical AMG for
    the electrolyte fields").

    Parameters
    ----------
    A : CSR matrix; theta : classical strength threshold; max_coarse, max_levels : as
    :class:`SmoothedAggregationHierarchy`; cycle : "V" or "W"
    """

    def __init__(self, A, theta=0.25, max_coarse=500, max_levels=15, cycle="V"):
        import pyamg

        if cycle not in ("V", "W"):
            raise ValueError("cycle must be 'V' or 'W'")
        self.cycle = cycle
        A = sp.csr_matrix(A)
        A.sort_indices()
        ml = pyamg.ruge_stuben_solver(A, strength=("classical", {"theta": theta}), max_coarse=max_coarse,
                                      max_levels=max_levels, keep=False)
        self.levels = []
        for lvl in ml.levels:
            L = Level(sp.csr_matrix(lvl.A))
            if hasattr(lvl, "P"):
                L.P = sp.csr_matrix(lvl.P)
                L.R = L.P.T  # a CSC view: restriction without a copy
            self.levels.append(L)
        self._set_coarse()
