"""The completed nca_lps parameter set (P2D paper's NCA / LPS cell)."""

import numpy as np
import pytest

from ssbfv.solver.kinetics import F
from ssbfv.solver.ocp import check_monotonic
from ssbfv.solver.p2d import P2DGeometry, P2DModel, solve_p2d
from ssbfv.solver.parameters import get_parameter_set


def kim2011_nca_ocp(s):
    """Kim et al., J. Electrochem. Soc. 158, A955 (2011), NCA OCP (as transcribed in PyBaMM)."""
    return (1.638 * s**10 - 2.222 * s**9 + 15.056 * s**8 - 23.488 * s**7 + 81.246 * s**6 - 344.566 * s**5
            + 621.3475 * s**4 - 554.774 * s**3 + 264.427 * s**2 - 66.3691 * s + 11.8058
            - 0.61386 * np.exp(5.8201 * s**136.4))


@pytest.fixture(scope="module")
def ps():
    return get_parameter_set("nca_lps")


def test_complete_and_sourced(ps):
    assert ps.missing() == []
    for p in ps.paths():
        assert len(ps.quantity(p).source) > 10, p


def test_ocp_fit_against_the_source_curve(ps):
    U = ps.get("ocp.model")
    s = np.linspace(0.37, 0.96, 500)
    err = np.abs(U.U(s) - kim2011_nca_ocp(s))
    assert err.max() < 6e-3 and np.sqrt(np.mean(err**2)) < 1e-3
    assert check_monotonic(U)[0]
    # the charged state: chi0 is where U = 4.2 V, and c_s,min is that state
    chi0 = ps.get("initial.chi0_discharge")
    assert float(U.U(chi0)) == pytest.approx(4.2, abs=1e-3)
    assert ps.get("solid.c_s_min") == pytest.approx(chi0 * ps.get("solid.c_s_max"), rel=1e-12)


def test_derived_values(ps):
    # i0 at chi = 0.41 and c_e0 equals Kim's 4 A/m^2 (k converted for LPS's c_e0)
    cmax, ce0, k = ps.get("solid.c_s_max"), ps.get("initial.c_e0"), ps.get("kinetics.k")
    i0 = F * k * np.sqrt(ce0 * (cmax - 0.41 * cmax) * 0.41 * cmax)
    assert i0 == pytest.approx(4.0, rel=1e-12)
    # Li3PS4: 3 Li per 180.04 g/mol
    assert ce0 == pytest.approx(3 * ps.get("cell.density_se") / 0.18004, rel=1e-12)
    # 1C of the set vs the paper's 1C = 1.89 mA for the 10.5 mg of NCA in 12.4 mg of composite
    spec = F * (cmax - ps.get("solid.c_s_min")) / ps.get("cell.density_am") / 3.6  # mAh/kg
    paper = 1.89 / (ps.get("cell.composite_mass") * ps.get("cell.mass_fraction_am") * 1e6 * 1e-3)  # mAh/g
    assert spec / 1e3 == pytest.approx(176.1, abs=0.5)
    assert paper == pytest.approx(179.3, abs=0.5)
    assert abs(spec / 1e3 / paper - 1) < 0.03  # the two 1C definitions agree within 3 %


def test_p2d_discharges(ps):
    """The paper's cell (43 um, 85:15 wt % -> eps_AM from the densities, dense composite) at
    0.1 C and 1 C to the 3.1 V cut-off: capacities fall with the rate and stay below the
    window's theoretical capacity."""
    v_am = 0.85 / ps.get("cell.density_am")
    v_se = 0.15 / ps.get("cell.density_se")
    eps_am = v_am / (v_am + v_se)
    assert eps_am == pytest.approx(0.69, abs=0.01)
    geo = P2DGeometry(L_sep=0.0, L_cat=43e-6, eps_AM=eps_am, tau_AM=1.5, eps_e_cat=1 - eps_am, tau_e_cat=3.0,
                      particle_diameter=5e-6)
    m = P2DModel(ps, geo)
    theo = m.theoretical_capacity_mAh_per_cm3()
    caps = []
    for rate in (0.1, 1.0):
        r = solve_p2d(m, c_rate=rate, n_x_cat=30, n_r=20)
        assert r.reason == "voltage_cutoff", r.message
        assert r.voltage_V[0] < 4.2
        caps.append(r.final_capacity_mAh_per_cm3)
    assert theo > caps[0] > caps[1] > 0
