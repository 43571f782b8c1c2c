"""Verification of the P2D model (ssbfv.solver.p2d, DESIGN.md §8).

- Na conservation per step; analytic Jacobian against finite differences;
- observed convergence orders in x and in r (fixed time steps, voltage at a fixed time);
- Newman's analytic porous-electrode resistance (linear kinetics, t = 0+) in x;
- fast-transport limits: the single-particle model (asinh formula for fast D_s, and Crank's
  series for the surface concentration of a sphere under constant flux for finite D_s);
- end reasons of charge and discharge; single-ion electrolytes; D_s(c); CSV; bad input.
"""

import csv
import math

import numpy as np
import pytest

from helpers import sphere_flux_roots
from reference_1d import uniform_limit_voltage
from ssbfv.solver.kinetics import F, ButlerVolmer
from ssbfv.solver.ocp import Margules2P
from ssbfv.solver.p2d import (CSV_COLUMNS, P2DElectrolyte, P2DGeometry, P2DModel, P2DSystem,
                              electrolyte_from_params, solve_p2d)
from ssbfv.solver.parameters import get_parameter_set

NVP = get_parameter_set("nvp_peo_nasicon")


def ref_geometry(**kw):
    d = dict(L_sep=20e-6, L_cat=100e-6, eps_AM=0.54, tau_AM=1.5, eps_e_cat=0.46, tau_e_cat=2.0,
             particle_diameter=8e-6)
    d.update(kw)
    return P2DGeometry(**d)


def observed_orders(values):
    """log2 of successive difference ratios of a sequence computed on grids refined by 2."""
    d = np.abs(np.diff(np.asarray(values, dtype=float)))
    return np.log2(d[:-1] / d[1:])


def fast_electrolyte():
    return P2DElectrolyte(kappa=1e4, D_e=1e-5, t_plus=0.39, name="fast")


# -- geometry, units ---------------------------------------------------------------------------

def test_one_c_and_theoretical_capacity():
    m = P2DModel(NVP, ref_geometry())
    assert m.one_c_current_density() == pytest.approx(F * 14200 * 0.54 * 100e-6 / 3600, rel=1e-14)
    # DESIGN.md §9: 54 % NVP ~ 205 mAh/cm^3
    assert m.theoretical_capacity_mAh_per_cm3() == pytest.approx(205.5, abs=0.5)
    g = ref_geometry()
    assert g.specific_area == pytest.approx(6 * 0.54 / 8e-6)
    assert g.radius == 4e-6


# -- conservation, Jacobian --------------------------------------------------------------------

@pytest.mark.parametrize("electrolyte", ["polymer", "filler"])
def test_sodium_conservation_every_step(electrolyte):
    m = P2DModel(NVP, ref_geometry(), cathode_electrolyte=electrolyte)
    # the filler run stops before the electrolyte is depleted at the collector (c_e -> 0)
    r = solve_p2d(m, 0.2, t_end=None if electrolyte == "polymer" else 12000.0)
    assert r.n_steps > 10
    err = r.conservation_error[1:]
    assert np.all(np.isfinite(err))
    assert err.max() < 1e-10, err.max()


@pytest.mark.parametrize("case", ["binary", "single_ion", "variable_Ds"])
def test_jacobian_matches_finite_differences(case):
    if case == "single_ion":
        m = P2DModel(_nca_filled(), ref_geometry(L_sep=30e-6, L_cat=43e-6, eps_AM=0.6, eps_e_cat=0.4,
                                                 particle_diameter=5e-6))
    elif case == "variable_Ds":
        m = P2DModel(NVP, ref_geometry(), D_s=lambda c: 1e-14 * (1.0 + 2.0 * c / 14200.0),
                     dD_s_dc=lambda c: 1e-14 * 2.0 / 14200.0 + 0.0 * c)
    else:
        m = P2DModel(NVP, ref_geometry())
    s = P2DSystem(m, 3, 6, 5)
    rng = np.random.default_rng(1)
    u = s.initial_guess(0.4, 3.0)
    u_old = u.copy()
    # a non-uniform state: perturb every unknown
    ce, pe, ps, cs, sf = s.split(u)
    if s.i_ce is not None:
        u[s.i_ce] *= 1.0 + 0.3 * rng.uniform(-1, 1, s.nx)
    u[s.i_pe] += 0.02 * rng.uniform(-1, 1, s.nx)
    u[s.i_ps] += 0.02 * rng.uniform(-1, 1, s.nc)
    u[s.i_cs] *= 1.0 + 0.3 * rng.uniform(-1, 1, cs.shape)
    u[s.i_sf] *= 1.0 + 0.3 * rng.uniform(-1, 1, s.nc)
    I, dt = 3.0, 50.0
    J = s.jacobian(u, u_old, dt, I).toarray()
    Jfd = np.empty_like(J)
    for j in range(s.N):
        h = 1e-6 * s.scale[j]
        up, um = u.copy(), u.copy()
        up[j] += h
        um[j] -= h
        Jfd[:, j] = (s.residual(up, u_old, dt, I)[0] - s.residual(um, u_old, dt, I)[0]) / (2 * h)
    err = np.abs(J - Jfd) * s.scale[None, :]
    tolm = 1e-6 * np.max(np.abs(J) * s.scale[None, :], axis=1, keepdims=True) + 1e-9
    assert np.all(err <= tolm), np.unravel_index(np.argmax(err - tolm), err.shape)


# -- convergence -------------------------------------------------------------------------------

def test_convergence_in_x():
    """Voltage at t = 6000 s of a C/5 discharge (NaSICON electrolyte in the cathode, so c_e
    varies strongly across the cell) on n_x_cat = 10, 20, 40, 80 (separator cells in
    proportion), fixed time steps, n_r = 10: second order (difference ratios ~4)."""
    m = P2DModel(NVP, ref_geometry(), cathode_electrolyte="filler")
    T = 6000.0
    V = [solve_p2d(m, 0.2, n_x_sep=n // 5, n_x_cat=n, n_r=10, dts=[T / 40] * 40, t_end=T).voltage_V[-1]
         for n in (10, 20, 40, 80)]
    p = observed_orders(V)
    assert np.all(p > 1.8), (V, p)
    assert abs(V[-1] - V[-2]) < 2e-5


def test_convergence_in_x_graded_grid():
    m = P2DModel(NVP, ref_geometry(), cathode_electrolyte="filler")
    T = 6000.0
    V = [solve_p2d(m, 0.2, n_x_sep=n // 5, n_x_cat=n, n_r=10, x_grading=3.0, dts=[T / 40] * 40,
                   t_end=T).voltage_V[-1] for n in (10, 20, 40, 80)]
    p = observed_orders(V)
    assert np.all(p > 1.6), (V, p)


@pytest.mark.parametrize("spacing, order", [("uniform", 1.9), ("volume", 1.4)])
def test_convergence_in_r(spacing, order):
    """Voltage at t = 2000 s of the reference (polymer) discharge with n_r = 4 ... 32:
    second order for shells uniform in r (ratios ~4); ~1.6 for equal-volume shells (coarse at
    the centre)."""
    m = P2DModel(NVP, ref_geometry())
    T = 2000.0
    V = [solve_p2d(m, 0.2, n_x_sep=4, n_x_cat=20, n_r=n, r_spacing=spacing, dts=[T / 40] * 40,
                   t_end=T).voltage_V[-1] for n in (4, 8, 16, 32)]
    p = observed_orders(V)
    assert np.all(p > order), (V, p)


def test_newman_porous_electrode_resistance():
    """t = 0+ (uniform concentrations) at a tiny current: linear kinetics, and the cell
    resistance is the separator's L_sep / kappa_sep plus Newman's porous-electrode result
    L/(k + s) [1 + (2 + (s/k + k/s) cosh nu) / (nu sinh nu)], nu^2 = L^2 a j' (1/k + 1/s),
    j' = i0 F/RT (alpha_a + alpha_c), k = kappa_eff, s = sigma_eff."""
    geo = ref_geometry()
    sep = P2DElectrolyte(kappa=0.15, D_e=4e-12, t_plus=0.39, name="sep")
    chi0 = 0.5
    bv = ButlerVolmer(3e-12, 14200.0, 0.5, 0.5, 298.15)
    jp = float(bv.exchange_current(chi0 * 14200, 1300.0)) * bv.f
    U = float(NVP.get("ocp.model").U(chi0))
    for kappa, sigma in ((0.006, 714.0), (0.05, 0.02)):
        cat = P2DElectrolyte(kappa=kappa, D_e=4.7e-14, t_plus=0.39, name="cat")
        m = P2DModel(NVP.with_overrides({"solid.sigma": sigma}), geo, cathode_electrolyte=cat,
                     separator_electrolyte=sep)
        k, s = kappa * 0.46 / 2.0, sigma * 0.54 / 1.5
        L, a = geo.L_cat, geo.specific_area
        nu = L * math.sqrt(a * jp * (1 / k + 1 / s))
        R_exact = geo.L_sep / 0.15 + L / (k + s) * (1 + (2 + (s / k + k / s) * math.cosh(nu)) / (nu * math.sinh(nu)))
        errs = []
        for n in (10, 20, 40):
            r = solve_p2d(m, 1e-4, n_x_sep=max(1, n // 5), n_x_cat=n, n_r=4, chi0=chi0, dts=[1e-9], t_end=1e-9)
            errs.append(abs((U - r.voltage_V[0]) / r.current_density / R_exact - 1.0))
        assert errs[-1] < 1e-3, errs
        assert np.all(np.log2(np.array(errs[:-1]) / errs[1:]) > 1.8), errs


# -- fast-transport limits: single-particle model ----------------------------------------------

def test_fast_transport_collapses_to_asinh_spm():
    """Huge D_s, kappa, D_e, sigma: uniform reaction, uniform particles, V = U(chi) + eta with
    eta from asinh at the uniform interface current I / (a L_cat) (reference_1d's formula)."""
    p = NVP.with_overrides({"solid.sigma": 1e7})
    geo = ref_geometry()
    m = P2DModel(p, geo, cathode_electrolyte=fast_electrolyte(), separator_electrolyte=fast_electrolyte(),
                 D_s=1e-8)
    r = solve_p2d(m, 0.2, n_x_cat=10, n_x_sep=2, n_r=5)
    assert r.reason == "chi_end"
    i_int = r.current_density / (geo.specific_area * geo.L_cat)
    V_spm = uniform_limit_voltage(p, r.chi_mean, i_int)
    assert np.max(np.abs(r.voltage_V - V_spm)) < 1e-5  # V (0.01 mV; the brief asked ~1 mV)


def test_fast_electrolyte_matches_spm_with_sphere_diffusion():
    """Huge kappa, D_e, sigma but D_s = 1e-14 m^2/s: every particle is the single particle of
    an SPM under the constant flux j = I / (a L_cat F), whose surface concentration is Crank's
    series c0 + (j R / D)[3 tau + 1/5 - 2 sum exp(-a_n^2 tau)/a_n^2], tau = D t / R^2, tan a_n = a_n
    (independent of the P2D's r discretisation)."""
    p = NVP.with_overrides({"solid.sigma": 1e7})
    geo = ref_geometry()
    Ds, R = 1e-14, geo.radius
    m = P2DModel(p, geo, cathode_electrolyte=fast_electrolyte(), separator_electrolyte=fast_electrolyte(), D_s=Ds)
    T = 10000.0
    r = solve_p2d(m, 0.2, n_x_cat=6, n_x_sep=2, n_r=20, dts=[T / 200] * 200, t_end=T)
    I = r.current_density
    j = I / (geo.specific_area * geo.L_cat * F)
    al = sphere_flux_roots(200)
    tau = Ds * r.time_s / R**2
    cs = 0.01 * 14200 + j * R / Ds * (3 * tau + 0.2 - 2 * np.sum(np.exp(-np.outer(tau, al**2)) / al**2, axis=1))
    bv = ButlerVolmer(3e-12, 14200.0, 0.5, 0.5, 298.15)
    i0 = bv.exchange_current(cs, 1300.0)
    V_spm = p.get("ocp.model").U(cs / 14200) - np.arcsinh(I / (geo.specific_area * geo.L_cat) / (2 * i0)) / (0.5 * bv.f)
    dV = np.abs(r.voltage_V - V_spm)
    assert dV.max() < 1e-4, dV.max()           # 0.1 mV over the whole run (early steps included)
    assert dV[r.time_s > 1000].max() < 1e-5


# -- runs to their ends ------------------------------------------------------------------------

def test_discharge_and_charge_end_on_cutoff():
    m = P2DModel(NVP, ref_geometry())
    d = solve_p2d(m, 0.2, "discharge")
    assert d.reason == "voltage_cutoff" and abs(d.voltage_V[-1] - 2.5) <= 1e-3
    assert d.voltage_V[-1] >= 2.5 - 1e-3
    assert np.all(np.diff(d.chi_mean) > 0) and d.current_density > 0
    c = solve_p2d(m, 0.2, "charge")
    assert c.reason == "voltage_cutoff" and abs(c.voltage_V[-1] - 4.0) <= 1e-3
    assert np.all(np.diff(c.chi_mean) < 0) and c.current_density < 0
    assert c.soc[-1] > c.soc[0]


def test_filler_runs_end_with_right_reason():
    m = P2DModel(NVP, ref_geometry(), cathode_electrolyte="filler")
    d = solve_p2d(m, 0.2)
    assert d.reason == "voltage_cutoff" and abs(d.voltage_V[-1] - 2.5) <= 1e-3
    # nearly the full theoretical capacity with the fast NaSICON electrolyte (paper: 202 of 204)
    assert 190 < d.final_capacity_mAh_per_cm3 < 206
    c = solve_p2d(m, 0.2, "charge")
    assert c.reason == "chi_end" and c.chi_mean[-1] == pytest.approx(0.01, abs=1e-9)


def test_t_end_and_explicit_steps():
    m = P2DModel(NVP, ref_geometry(), cathode_electrolyte="filler")
    r = solve_p2d(m, 0.5, t_end=600.0, dts=[100.0] * 6)
    assert r.reason == "t_end" and r.n_steps == 6
    assert r.time_s[-1] == pytest.approx(600.0)
    assert r.capacity_mAh_per_cm2[-1] == pytest.approx(abs(r.current_density) * 600 / 36000)
    assert r.capacity_mAh_per_cm3[-1] == pytest.approx(r.capacity_mAh_per_cm2[-1] / 0.01)


# -- variants ----------------------------------------------------------------------------------

def _nca_filled():
    """The nca_lps set with its gaps filled by placeholder numbers (for the solver tests only:
    NOT literature values)."""
    return get_parameter_set("nca_lps").with_overrides({
        "solid.c_s_max": 48000.0, "solid.c_s_min": 0.0, "solid.D_s": 1e-14, "kinetics.k": 1e-11,
        "kinetics.alpha_a": 0.5, "kinetics.alpha_c": 0.5, "thermal.T": 298.15, "initial.c_e0": 1000.0,
        "initial.chi0_discharge": 0.3, "ocp.model": Margules2P(U0=3.9, A=0.0, B=0.0, T=298.15),
    })


def test_single_ion_electrolyte():
    p = _nca_filled()
    m = P2DModel(p, ref_geometry(L_sep=30e-6, L_cat=43e-6, eps_AM=0.6, eps_e_cat=0.4, tau_e_cat=2.5,
                                 particle_diameter=5e-6))
    assert m.single_ion and m.cathode_electrolyte.name == "se"
    r = solve_p2d(m, 1.0, chi_end=0.95)
    assert r.reason in ("voltage_cutoff", "chi_end")
    assert np.all(r.c_e == 1000.0)
    assert r.conservation_error[1:].max() < 1e-10
    with pytest.raises(ValueError, match="both"):
        P2DModel(NVP, ref_geometry(), cathode_electrolyte=P2DElectrolyte(0.1, None, 1.0, "x"))


def test_callable_D_s():
    g = ref_geometry()
    a = solve_p2d(P2DModel(NVP, g, cathode_electrolyte="filler"), 1.0, t_end=900.0)
    b = solve_p2d(P2DModel(NVP, g, cathode_electrolyte="filler", D_s=lambda c: np.full_like(c, 1e-14)), 1.0,
                  t_end=900.0)
    assert np.allclose(a.voltage_V, b.voltage_V, atol=1e-9, rtol=0)
    c = solve_p2d(P2DModel(NVP, g, cathode_electrolyte="filler", D_s=lambda c: 1e-14 * (1.0 - 0.5 * c / 14200)),
                  1.0, t_end=900.0)
    assert c.reason == "t_end" and c.conservation_error[1:].max() < 1e-10
    assert c.voltage_V[-1] < a.voltage_V[-1]  # slower diffusion at higher c: lower voltage


def test_kappa_override_and_electrolyte_helper():
    e = electrolyte_from_params(NVP, "polymer", kappa=0.05)
    assert float(e.kappa.kappa(np.array([10.0]))[0]) == 0.05 and e.D_e == 4.7e-14
    e2 = electrolyte_from_params(NVP, "polymer", kappa=lambda c: 1e-3 * c / 1300.0)
    assert float(e2.kappa.dkappa_dc(np.array([650.0]))[0]) == pytest.approx(1e-3 / 1300.0, rel=1e-6)
    m = P2DModel(NVP, ref_geometry(), cathode_electrolyte=e)
    r = solve_p2d(m, 0.2, t_end=1800.0)
    assert r.reason == "t_end"
    # run on: the polymer (D_e = 4.7e-14) depletes behind the first cathode cells, whose particles
    # fill up; the voltage then collapses
    r = solve_p2d(m, 0.2)
    assert r.reason == "voltage_collapse", r.message


def test_to_csv(tmp_path):
    r = solve_p2d(P2DModel(NVP, ref_geometry()), 1.0)
    path = r.to_csv(tmp_path / "out" / "p2d.csv")
    rows = list(csv.reader(path.open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == r.time_s.size + 1
    last = [float(x) for x in rows[-1]]
    assert last[1] == pytest.approx(r.voltage_V[-1], abs=1e-9)
    assert last[2] == pytest.approx(r.current_density)
    assert last[4] == pytest.approx(r.capacity_mAh_per_cm2[-1])
    assert last[5] == pytest.approx(1 - r.chi_mean[-1], abs=1e-9)


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, name", [
    (dict(L_sep=-1e-6), "L_sep"), (dict(L_cat=-1e-6), "L_cat"), (dict(L_cat=0.0), "L_cat"),
    (dict(eps_AM=0.0), "eps_AM"), (dict(eps_AM=1.2), "eps_AM"), (dict(eps_e_cat=-0.1), "eps_e_cat"),
    (dict(eps_e_sep=1.5), "eps_e_sep"), (dict(tau_AM=0.0), "tau_AM"), (dict(tau_e_cat=-2.0), "tau_e_cat"),
    (dict(particle_diameter=0.0), "particle_diameter"), (dict(eps_AM=0.7, eps_e_cat=0.4), "exceeds 1"),
    (dict(L_cat=float("nan")), "L_cat"),
])
def test_bad_geometry(kw, name):
    with pytest.raises(ValueError, match=name):
        ref_geometry(**kw)


@pytest.mark.parametrize("override, name", [
    ({"solid.D_s": None}, "solid.D_s"), ({"kinetics.k": None}, "kinetics.k"),
    ({"solid.c_s_max": None}, "solid.c_s_max"), ({"initial.c_e0": None}, "initial.c_e0"),
    ({"electrolyte.polymer.D_e": None}, "electrolyte.polymer.D_e"),
    ({"thermal.T": None}, "thermal.T"),
])
def test_missing_parameters_named(override, name):
    p = NVP.with_overrides(override)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        P2DModel(p, ref_geometry())


def test_incomplete_nca_set_names_missing_item():
    p = get_parameter_set("nca_lps").with_overrides({"solid.c_s_max": None})
    with pytest.raises(ValueError, match=r"solid\.c_s_max.*missing"):
        P2DModel(p, ref_geometry(L_cat=43e-6))
    with pytest.raises(ValueError, match=r"initial\.chi0_charge"):
        solve_p2d(P2DModel(_nca_filled(), ref_geometry()), 0.1, "charge")


def test_bad_solver_arguments():
    m = P2DModel(NVP, ref_geometry())
    with pytest.raises(ValueError, match="mode"):
        solve_p2d(m, 0.2, "sideways")
    with pytest.raises(ValueError, match="c_rate"):
        solve_p2d(m, -1.0)
    with pytest.raises(ValueError, match="exactly one"):
        solve_p2d(m)
    with pytest.raises(ValueError, match="not in parameter set"):
        P2DModel(NVP, ref_geometry(), cathode_electrolyte="glass")
    with pytest.raises(ValueError, match="r_spacing"):
        solve_p2d(m, 0.2, r_spacing="log")


def test_effective_properties_given_directly():
    """An electrolyte marked effective=True is used as given: kappa_b eps/tau given as bulk with
    the geometry's eps/tau must equal kappa_b eps/tau given as effective."""
    g = ref_geometry()
    f = g.eps_e_cat / g.tau_e_cat
    bulk = P2DElectrolyte(kappa=0.15, D_e=4e-12, t_plus=0.39, name="b")
    eff = P2DElectrolyte(kappa=0.15 * f, D_e=4e-12 * f, t_plus=0.39, name="e", effective=True)
    a = solve_p2d(P2DModel(NVP, g, cathode_electrolyte=bulk), 0.5, t_end=3000.0)
    b = solve_p2d(P2DModel(NVP, g, cathode_electrolyte=eff), 0.5, t_end=3000.0)
    assert np.allclose(a.voltage_V, b.voltage_V, atol=1e-10, rtol=0)


def test_no_separator():
    m = P2DModel(NVP, ref_geometry(L_sep=0.0), cathode_electrolyte="filler")
    r = solve_p2d(m, 0.5)
    assert r.grid["n_x_sep"] == 0 and r.reason == "voltage_cutoff"
    assert r.conservation_error[1:].max() < 1e-8
