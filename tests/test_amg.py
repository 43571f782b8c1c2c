"""The CSR smoothed-aggregation hierarchy: a symmetric, effective CG preconditioner."""

import numpy as np
import pytest

from ssbfv.solver import AmgCgSolver, BoundaryArrays, DiffusionOperator, Dirichlet, FvDomain
from ssbfv.solver.amg import SmoothedAggregationHierarchy


@pytest.fixture(scope="module")
def fv_matrix(meshes):
    mesh = meshes.box(0.05, layers=(("a", 0.5), ("b", 0.5)))
    dom = FvDomain(mesh)
    gamma = np.where(mesh.cell_region[dom.cells] == 0, 1.0, 1e3)  # 1000x coefficient jump
    op = DiffusionOperator(dom, gamma)
    bc = BoundaryArrays.from_conditions(dom, {"xmin": Dirichlet(0.0), "xmax": Dirichlet(1.0)})
    alpha, rhs0, _, _ = op.boundary(bc)
    A = op.matrix(alpha).copy()
    b = np.zeros(dom.n_cells)
    np.add.at(b, dom.b_cell, rhs0)
    return A, b


@pytest.mark.parametrize("cycle", ["V", "W"])
def test_cycle_is_symmetric_and_coarsens(fv_matrix, cycle):
    A, _ = fv_matrix
    H = SmoothedAggregationHierarchy(A, cycle=cycle, max_coarse=100)
    assert len(H.levels) >= 3
    assert H.levels[1].A.shape[0] < A.shape[0] / 4
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((2, A.shape[0]))
    # symmetric preconditioner: <M u, v> = <u, M v>
    assert abs(H(u) @ v - u @ H(v)) <= 1e-10 * abs(H(u) @ v)
    # and positive definite
    assert u @ H(u) > 0


@pytest.mark.parametrize("amg", ["csr", "pyamg"])
def test_cg_converges_fast_on_fv_matrix_with_coefficient_jump(fv_matrix, amg):
    A, b = fv_matrix
    solver = AmgCgSolver(tol=1e-10, amg=amg)
    x, info = solver.solve(A, b)
    assert info.converged
    assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
    assert info.iterations <= 30
