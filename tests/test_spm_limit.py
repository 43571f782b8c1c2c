"""Single-particle limit: one NVP hemisphere on the current collector in a very conductive
electrolyte against the single-particle model (spherical diffusion of radius 3 V / A with a
uniform surface flux I / (F A), and the Butler-Volmer overpotential of that uniform current)."""

import numpy as np
import pytest

from ssbfv.mesh import read
from ssbfv.mesh.occ import mesh_spheres_occ
from ssbfv.solver.coupling import HalfCellModel
from ssbfv.solver.galvanostatic import Galvanostatic, Protocol, Stepping
from ssbfv.solver.halfcell import HalfCellLayout
from ssbfv.solver.kinetics import F, ButlerVolmer
from ssbfv.solver.parameters import get_parameter_set

R = 4e-6


def spm_voltage(params, radius, flux, c0, times, n=400):
    """Independent SPM: implicit Euler FV in r (n equal shells, the same steps as ``times``),
    inward flux ``flux`` [mol/m^2/s] at r = radius; V = U(c_surf) + eta(i) with the surface value
    extrapolated from the last shell by the flux condition."""
    D = float(params.get("solid.D_s"))
    cmax = float(params.get("solid.c_s_max"))
    ocp = params.get("ocp.model")
    bv = ButlerVolmer(float(params.get("kinetics.k")), cmax, 0.5, 0.5, float(params.get("thermal.T")))
    ce = float(params.get("initial.c_e0"))
    r = np.linspace(0.0, radius, n + 1)
    vol = (r[1:] ** 3 - r[:-1] ** 3) / 3.0
    area = r[1:-1] ** 2
    dr = r[1] - r[0]
    cond = D * area / dr
    c = np.full(n, c0)
    i_bv = -flux * F  # i_BV < 0 when sodium enters the solid
    out = []
    t_prev = 0.0
    for t in times:
        dt = t - t_prev
        if dt > 0:
            A = np.diag(vol / dt)
            A[np.arange(n - 1), np.arange(n - 1)] += cond
            A[np.arange(1, n), np.arange(1, n)] += cond
            A[np.arange(n - 1), np.arange(1, n)] -= cond
            A[np.arange(1, n), np.arange(n - 1)] -= cond
            b = vol / dt * c
            b[-1] += flux * radius**2
            c = np.linalg.solve(A, b)
        t_prev = t
        cs = c[-1] + flux * (dr / 2) / D
        i0 = float(bv.exchange_current(cs, ce))
        eta = np.arcsinh(i_bv / (2 * i0)) / (0.5 * bv.f)
        out.append(float(ocp.U(cs / cmax)) + eta)
    return np.array(out)


@pytest.fixture(scope="module")
def hemisphere(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "hemi.msh"
    L, W = 10e-6, 12e-6
    mesh_spheres_occ(str(path), np.array([[L, W / 2, W / 2]]), np.array([R]), np.array([0]), ["active"],
                     (L, W, W), 2e-6, h=0.8e-6)
    return read(path, scale=1e-6)


def test_hemisphere_in_fast_electrolyte_matches_single_particle_model(hemisphere):
    params = get_parameter_set("nvp_peo_nasicon").with_overrides({
        "solid.sigma": 1e5,
        "electrolyte.separator.kappa": 1e3, "electrolyte.polymer.kappa": 1e3,
        "electrolyte.separator.D_e": 1e-6, "electrolyte.polymer.D_e": 1e-6,
    })
    model = HalfCellModel(HalfCellLayout(hemisphere), params)
    run = Galvanostatic(model, Protocol("discharge", 1.0, chi0=0.6, t_end=1000.0),
                        Stepping(dt0=20.0, dt_max=20.0, grow=1.0))
    res = run.run()
    assert res.reason == "t_end"
    t, V = res.column("time_s"), res.column("voltage_V")
    A = model.area_if.sum()
    radius = 3 * model.layout.volume_active / A
    assert radius == pytest.approx(R, rel=0.02)
    flux = run.current / (F * A)
    V_spm = spm_voltage(params, radius, flux, 0.6 * model.c_s_max, t)
    err = np.abs(V - V_spm)
    print(f"SPM: {hemisphere.n_cells} cells, max |V - V_spm| = {1e3 * err.max():.3f} mV, V {V[0]:.4f} -> {V[-1]:.4f} V")
    assert err.max() < 2e-3
    assert V[0] - V[-1] > 0.02  # the particle's surface filled: a real test of the diffusion
