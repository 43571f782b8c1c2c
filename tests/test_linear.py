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
    b = np.random.default_rng(2).standard_normal(A.shape[0])  # not a constant: deflation solves that exactly
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


def _neumann_box(n, robin):
    """7-point Laplacian of an n^3 box with Neumann sides, tied to zero only by a Robin term
    ``robin`` (relative to the diagonal ~6) on one face."""
    e = np.ones(n)
    t = sp.diags([-e[:-1], 2 * e, -e[:-1]], [-1, 0, 1]).tolil()
    t[0, 0] = t[-1, -1] = 1.0  # Neumann ends
    t = t.tocsr()
    i = sp.identity(n)
    A = sp.kron(sp.kron(t, i), i) + sp.kron(sp.kron(i, t), i) + sp.kron(sp.kron(i, i), t)
    d = np.zeros(n**3)
    d[: n * n] = robin
    return (A + sp.diags(d)).tocsr()


def _weak_robin_blocks():
    """Three disconnected Neumann boxes, each tied to zero by a Robin term 1e-8 .. 1e-9 of
    the diagonal, and one firmly anchored box: the structure of the half-cell's solid
    potential (a particle network plus floating particles)."""
    return sp.block_diag([_neumann_box(16, 1e-8), _neumann_box(10, 1e-9), _neumann_box(8, 3e-9),
                          poisson3d(6)]).tocsr()


def test_component_deflation_on_weak_robin_blocks():
    from scipy.sparse.linalg import spsolve

    A = _weak_robin_blocks()
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    exact = spsolve(A.tocsc(), b)
    plain = AmgCgSolver(tol=1e-10, deflate_components=False, maxiter=5000)
    x_plain, info_plain = plain.solve(A, b)
    deflated = AmgCgSolver(tol=1e-10)
    x, info = deflated.solve(A, b)
    assert deflated._components.shape[1] == 3  # the anchored box is left to the AMG cycle
    # the component constants are the slow modes of the plain AMG preconditioner
    assert info.iterations <= 20 < info_plain.iterations
    assert info.iterations < info_plain.iterations / 2
    # the solution is dominated by the near-null modes (values ~1e9, so the true residual
    # is limited by rounding, ~1e-16 |A| |x|): both solvers must get them
    assert np.max(np.abs(x - exact)) <= 1e-6 * np.max(np.abs(exact))
    assert np.max(np.abs(x_plain - exact)) <= 1e-6 * np.max(np.abs(exact))


def test_deflated_preconditioner_is_symmetric_positive_definite():
    """CG needs a symmetric positive definite preconditioner: the balancing form is."""
    A = _weak_robin_blocks()
    solver = AmgCgSolver(tol=1e-10)
    solver.setup(A)
    M = solver._deflated(A)
    rng = np.random.default_rng(3)
    u, v = rng.standard_normal((2, A.shape[0]))
    assert abs(u @ M(v) - v @ M(u)) <= 1e-10 * abs(u @ M(u)) ** 0.5 * abs(v @ M(v)) ** 0.5
    for w in rng.standard_normal((5, A.shape[0])):
        assert w @ M(w) > 0.0


def test_too_many_components_are_not_deflated():
    from scipy.sparse.linalg import spsolve

    A = sp.block_diag([_neumann_box(3, 1e-8)] * 12).tocsr()  # 12 weak components
    b = np.random.default_rng(4).standard_normal(A.shape[0])
    solver = AmgCgSolver(tol=1e-10, max_components=10)
    x, info = solver.solve(A, b)
    assert solver._components is None and info.converged
    assert AmgCgSolver(tol=1e-10, max_components=12)._weak_components(A).shape[1] == 12
    exact = spsolve(A.tocsc(), b)  # values ~1e7: compare with the exact solution, not the residual
    assert np.max(np.abs(x - exact)) <= 1e-6 * np.max(np.abs(exact))
