"""The CG + smoothed-aggregation solver and its hierarchy-reuse policy."""

import numpy as np
import pytest
import scipy.sparse as sp

from ssbfv.solver import AmgCgSolver, LinearSolveError


def poisson3d(n, scale=1.0):
    e = np.ones(n)
    t = sp.diags([-e[:-1], 2 * e, -e[:-1]], [-1, 0, 1])
    i = sp.identity(n)
    A = sp.kron(sp.kron(t, i), i) + sp.kron(sp.kron(i, t), i) + sp.kron(sp.kron(i, i), t)
    return (scale * A + 1e-3 * sp.identity(n**3)).tocsr()


def test_solves_to_relative_tolerance_and_reports_iterations():
    A = poisson3d(20)
    rng = np.random.default_rng(1)
    b = rng.standard_normal(A.shape[0])
    solver = AmgCgSolver(tol=1e-10)
    x, info = solver.solve(A, b)
    assert info.converged and info.rebuilt
    assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
    assert 1 <= info.iterations < 40
    assert info.residual <= 1e-10


def test_hierarchy_reused_for_small_changes_rebuilt_for_large():
    A = poisson3d(15)
    b = np.ones(A.shape[0])
    solver = AmgCgSolver(tol=1e-10, rebuild_change=0.3)
    solver.solve(A, b)
    A2 = A.copy()
    A2.data *= 1.05  # 5 % change: keep the hierarchy
    x, info = solver.solve(A2, b)
    assert not info.rebuilt and info.converged
    assert np.linalg.norm(b - A2 @ x) <= 1e-10 * np.linalg.norm(b)
    A3 = A.copy()
    A3.data *= 3.0  # large change: rebuild
    _, info = solver.solve(A3, b)
    assert info.rebuilt
    A4 = poisson3d(16)  # new pattern: rebuild
    _, info = solver.solve(A4, np.ones(A4.shape[0]))
    assert info.rebuilt
    assert solver.stats.setups == 3 and solver.stats.solves == 4


def test_rebuild_when_iterations_grow():
    A = poisson3d(12)
    b = np.ones(A.shape[0])
    solver = AmgCgSolver(tol=1e-10, rebuild_change=1e9, rebuild_growth=1.5)  # value check off
    _, first = solver.solve(A, b)
    # strongly anisotropic values with the same pattern: the old hierarchy is poor
    B = A.copy()
    rows = np.repeat(np.arange(B.shape[0]), np.diff(B.indptr))
    B.data = np.where(np.abs(B.indices - rows) == 1, B.data * 50.0, B.data)
    B.setdiag(-(B - sp.diags(B.diagonal())).sum(axis=1).A1 + 1e-3)
    B = B.tocsr()
    _, stale = solver.solve(B, b)
    _, fresh = solver.solve(B, b)
    assert not stale.rebuilt and stale.converged
    assert stale.iterations > 1.5 * first.iterations
    assert fresh.rebuilt and fresh.iterations < stale.iterations


def test_failure_is_reported():
    A = poisson3d(10)
    solver = AmgCgSolver(tol=1e-14, maxiter=1)
    with pytest.raises(LinearSolveError, match="did not converge"):
        solver.solve(A, np.ones(A.shape[0]))
    quiet = AmgCgSolver(tol=1e-14, maxiter=1, raise_on_failure=False)
    _, info = quiet.solve(A, np.ones(A.shape[0]))
    assert not info.converged and info.residual > 1e-14



def test_direct_solver_for_small_systems():
    from ssbfv.solver.linear import DirectSolver

    A = poisson3d(8)
    rng = np.random.default_rng(2)
    x_true = rng.standard_normal(A.shape[0])
    x, info = DirectSolver().solve(A, A @ x_true)
    assert info.iterations == 1 and info.residual < 1e-13
    assert np.max(np.abs(x - x_true)) < 1e-12
