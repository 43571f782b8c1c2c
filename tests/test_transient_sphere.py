"""Transient diffusion in a sphere with a constant surface influx (the active-particle
problem) against the analytic series solution: convergence in space and time, and exact
conservation of the inserted amount."""

import numpy as np
import pytest
from helpers import l2, sphere_constant_flux

from ssbfv.solver import AmgCgSolver, BoundaryArrays, DiffusionOperator, FvDomain, Neumann, solve_diffusion

R, D, J, T_END = 1.0, 1.0, 1.0, 0.1


def run_sphere(mesh, n_steps):
    dom = FvDomain(mesh)
    op = DiffusionOperator(dom, np.full(dom.n_cells, D))
    bc = BoundaryArrays.from_conditions(dom, {"surface": Neumann(-J)})  # outward flux -J: influx J
    solver = AmgCgSolver(tol=1e-12)
    c = np.zeros(dom.n_cells)
    dt = T_END / n_steps
    vol = dom.cell_volumes
    area = mesh.face_areas[mesh.patch_faces("surface")].sum()
    for step in range(n_steps):
        sol = solve_diffusion(op, bc, solver, capacity=np.ones(dom.n_cells), dt=dt, phi_old=c, phi0=c,
                              n_correctors=10, corrector_tol=1e-10, tol=1e-12)
        c = sol.phi
        # conservation every step: inserted amount = J * area * t
        assert np.sum(c * vol) == pytest.approx(J * area * dt * (step + 1), rel=1e-9)
    return c


def test_sphere_constant_flux_converges_in_space_and_time(meshes):
    errors = []
    for h, n_steps in ((0.3, 5), (0.15, 10), (0.1, 15)):
        mesh = meshes.sphere(h)
        c = run_sphere(mesh, n_steps)
        r = np.linalg.norm(mesh.cell_centres, axis=1)
        exact = sphere_constant_flux(r, T_END, R, D, J)
        errors.append(l2(mesh, c - exact) / np.sqrt(mesh.cell_volumes.sum()) / (exact.max() - exact.min()))
    print("relative L2 errors", errors)
    assert errors[-1] < 0.02
    assert errors[0] / errors[1] > 1.6 and errors[1] / errors[2] > 1.3
