"""P2D against the 3D solver on a laterally uniform cell where P2D's assumptions hold.

The cathode is a comb of thin active fins along x (period p in y: active width p/2, polymer
width p/2) behind a NaSICON separator, on a hexahedral voxel mesh (periodic in y and z).
Both phases run straight from separator to collector, so tau_AM = tau_e = 1 and
eps_AM = eps_e = 1/2; the interface area per cathode volume is a = 2/p, which a P2D sphere
of diameter D = 6 eps_AM / a reproduces. With a fast solid diffusion coefficient the shape of
the particle does not matter and the fins are thin enough that lateral gradients in the
electrolyte are negligible: the 3D cell is then a P2D cell, and the two models must agree
to discretisation error. The descriptors are measured on the mesh, not typed in.
"""

import numpy as np
import pytest

from ssbfv.mesh import from_labels
from ssbfv.microstructure.surface import mesh_contact_area
from ssbfv.microstructure.tortuosity import mesh_tortuosity
from ssbfv.solver.coupling import CouplingOptions, HalfCellModel
from ssbfv.solver.galvanostatic import Galvanostatic, Protocol, Stepping
from ssbfv.solver.halfcell import HalfCellLayout
from ssbfv.solver.p2d import P2DGeometry, P2DModel, solve_p2d
from ssbfv.solver.parameters import get_parameter_set

H = 0.5e-6  # voxel [m]


def fin_cell(n_sep=10, n_cat=40, n_y=4, n_z=1, patches=None):
    """Labels: 0 separator, 1 polymer, 2 active; fins of n_y/2 voxels in a period of n_y."""
    lab = np.ones((n_sep + n_cat, n_y, n_z), dtype=np.int32)
    lab[:n_sep] = 0
    lab[n_sep:, : n_y // 2, :] = 2
    names = {0: "separator", 1: "polymer", 2: "active"} if n_sep else {1: "polymer", 2: "active"}
    return from_labels(lab, H, names, patches=patches)


@pytest.fixture(scope="module")
def params():
    # fast solid diffusion: a fin and a sphere of the same a = 6 eps / D then behave alike
    return get_parameter_set("nvp_peo_nasicon").with_overrides({"solid.D_s": 1e-11})


def _compare(params, n_y, n_sep=10, n_cat=40, t_end=600.0, dt=20.0):
    """max |V_3D - V_P2D| [V] after switch-on and the voltage drop [V] over the run."""
    mesh = fin_cell(n_sep, n_cat, n_y, patches={"xmin": "anode", "xmax": "collector"})
    # descriptors measured on the cathode alone, as ssbfv p2d does
    cath = fin_cell(0, n_cat, n_y)
    vol = cath.cell_volumes
    eps_am = float(vol[cath.region_cells("active")].sum() / vol.sum())
    area = mesh_contact_area(cath, ["active"], {"e": ["polymer"]}, periodic=True).total
    D = 6.0 * eps_am * vol.sum() / area
    tau_am = mesh_tortuosity(cath, ["active"], 0, periodic=True)
    tau_e = mesh_tortuosity(cath, ["polymer"], 0, periodic=True)
    assert eps_am == pytest.approx(0.5, abs=1e-12)
    assert D == pytest.approx(3 * n_y * H / 2, rel=1e-12)  # a = 2 / period
    assert tau_am.tau == pytest.approx(1.0, abs=1e-9) and tau_e.tau == pytest.approx(1.0, abs=1e-9)
    geo = P2DGeometry(L_sep=n_sep * H, L_cat=n_cat * H, eps_AM=eps_am, tau_AM=tau_am.tau, eps_e_cat=1 - eps_am,
                      tau_e_cat=tau_e.tau, particle_diameter=D)
    p2d = P2DModel(params, geo, cathode_electrolyte="polymer", separator_electrolyte="separator")

    layout = HalfCellLayout(mesh)
    model = HalfCellModel(layout, params, CouplingOptions())
    res3 = Galvanostatic(model, Protocol("discharge", 1.0, t_end=t_end), Stepping(dt0=dt, dt_max=dt, grow=1.0)).run()
    assert res3.reason == "t_end"
    t3, v3 = res3.column("time_s"), res3.column("voltage_V")
    # same current density: both 1C definitions are F (c_max - c_min) eps_AM L_cat / 3600
    assert res3.records[0].current_A / layout.area_yz == pytest.approx(p2d.one_c_current_density(), rel=1e-9)
    r2 = solve_p2d(p2d, c_rate=1.0, t_end=t_end, n_x_sep=n_sep, n_x_cat=n_cat, n_r=12,
                   dts=[dt] * int(round(t_end / dt)))
    np.testing.assert_allclose(r2.time_s, t3, rtol=0, atol=1e-9)
    # the switch-on point is a potential-only solve in both: compare from the first step on
    return float(np.max(np.abs(v3[1:] - r2.voltage_V[1:]))), float(v3[1] - v3[-1])


def test_p2d_matches_3d_on_fin_cell(params):
    """1C, 10 min, strong electrolyte depletion (c_e 2600 -> 350 mol/m^3 across the cathode).
    What P2D neglects here is the lateral structure: the fins' end faces on the separator
    (p / 4 L_cat of the interface area) and the lateral electrolyte gradients across the
    gap, both of the order of the fin period p, so the difference must shrink with p."""
    err_fine, drop = _compare(params, n_y=2)
    err_coarse, _ = _compare(params, n_y=4)
    assert drop > 0.04  # the comparison is over a real voltage change
    assert err_fine < 3e-3, f"3D vs P2D, fin period 1 um: max |dV| = {err_fine * 1e3:.3f} mV"
    assert err_fine < 0.6 * err_coarse, (err_fine, err_coarse)
