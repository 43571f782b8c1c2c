"""The independent 1D finite-volume reference of the layered half-cell (tests/reference_1d.py):
Jacobian, conservation, sign conventions, quasi-equilibrium and fast-transport limits,
grid/time convergence, cut-off handling."""

import numpy as np
import pytest

from reference_1d import (Reference1D, _graded_faces, one_c_current_density, solve_layered_1d,
                          uniform_limit_voltage)
from ssbfv.solver.kinetics import F
from ssbfv.solver.parameters import get_parameter_set

L_S = 30e-6
LAYERS = [(20e-6, "separator"), (10e-6, "polymer")]  # anode | NaSICON | PEO | NVP


@pytest.fixture(scope="module")
def params():
    return get_parameter_set("nvp_peo_nasicon")


@pytest.fixture(scope="module")
def one_c(params):
    return one_c_current_density(params, L_S)


@pytest.fixture(scope="module")
def c5_discharge(params, one_c):
    """C/5 discharge of 20 µm NaSICON + 10 µm PEO | 30 µm NVP (ends on the cut-off when the
    polymer depletes at the interface), conservation asserted inside the solver."""
    return solve_layered_1d(LAYERS, L_S, params, one_c / 5, n_e=100, n_s=50, dt=5.0, check_conservation=True)


def test_one_c_helper(params, one_c):
    assert one_c == pytest.approx(F * 14200.0 * L_S / 3600.0, rel=1e-14)
    assert one_c == pytest.approx(11.417, rel=1e-4)


def test_analytic_jacobian_matches_finite_differences(params):
    prob = Reference1D(LAYERS, L_S, params, n_e=10, n_s=6)
    rng = np.random.default_rng(1)
    u = prob.initial_guess(0.3, 2.0)
    u[prob.i_ce] *= 1 + 0.3 * rng.random(prob.ne)
    u[prob.i_pe] += 0.05 * rng.random(prob.ne)
    u[prob.i_cs] *= 1 + 0.3 * rng.random(prob.ns)
    u[prob.i_ps] += 0.01 * rng.random(prob.ns)
    u[[prob.i_A, prob.i_ceI, prob.i_csI]] = [1400.0, 900.0, 5000.0]
    ce_old, cs_old = 0.99 * u[prob.i_ce], 1.01 * u[prob.i_cs]
    for static in (False, True):
        _, J, _ = prob.assemble(u, ce_old, cs_old, 10.0, 2.0, static=static)
        J = J.toarray()
        Jfd = np.empty_like(J)
        for k in range(prob.N):
            h = 1e-6 * max(abs(u[k]), 1e-3)
            up, um = u.copy(), u.copy()
            up[k] += h
            um[k] -= h
            Jfd[:, k] = (prob.assemble(up, ce_old, cs_old, 10.0, 2.0, static=static, jac=False)[0]
                         - prob.assemble(um, ce_old, cs_old, 10.0, 2.0, static=static, jac=False)[0]) / (2 * h)
        scale = np.abs(Jfd).max(axis=1, keepdims=True)
        assert np.max(np.abs(J - Jfd) / scale) < 1e-6


def test_conservation_every_step(params, one_c, c5_discharge):
    r = c5_discharge
    assert r.n_steps > 50
    assert np.all(r.conservation_error[1:] < 1e-8)
    # total Na: the solid gains exactly I t / F (mean chi linear in t)
    chi_expect = 0.01 + r.current_density * r.time_s / (F * 14200.0 * L_S)
    np.testing.assert_allclose(r.chi_mean, chi_expect, rtol=1e-10)
    # 1D: the interface current is -I at every point
    np.testing.assert_allclose(r.i_bv, -r.current_density, rtol=1e-8)
    # a charge conserves too (checked inside the solver)
    c = solve_layered_1d(LAYERS, L_S, params, one_c / 5, mode="charge", n_e=60, n_s=30, dt=10.0, t_end=300.0,
                         check_conservation=True)
    assert c.reason == "t_end" and c.current_density < 0
    assert np.all(c.conservation_error[1:] < 1e-8)
    np.testing.assert_allclose(c.i_bv, one_c / 5, rtol=1e-8)


def test_electrolyte_boundary_signs_at_steady_state(params, one_c):
    """Constant-kappa NaSICON separator, fast solid: after many diffusion times the electrolyte
    is at steady state, c_e linear with dc/dx = -(1 - t+) I / (D_e F) on discharge (highest
    at the anode, where Na+ enters), the mean c_e unchanged, the cell current I everywhere."""
    p = params.with_overrides({"solid.D_s": 1e-10})
    I = one_c / 5
    r = solve_layered_1d([(20e-6, "separator")], L_S, p, I, n_e=40, n_s=20, dt=100.0, t_end=3000.0)
    D, tp = 4e-12, 0.39
    slope = np.diff(r.c_e) / np.diff(r.x_e)
    np.testing.assert_allclose(slope, -(1 - tp) * I / (D * F), rtol=1e-6)
    assert r.c_e[0] > 1300.0 > r.c_e[-1]
    assert np.mean(r.c_e) == pytest.approx(1300.0, rel=1e-12)
    # electrolyte current from the cell values: -kappa dphi/dx + (kappa_D/c) dc/dx = I
    kappa, theta = 0.15, 8.314462618 * 298.15 / F
    cm = 0.5 * (r.c_e[1:] + r.c_e[:-1])
    i_e = -kappa * np.diff(r.phi_e) / np.diff(r.x_e) + 2 * theta * kappa * (1 - tp) * slope / cm
    np.testing.assert_allclose(i_e, I, rtol=1e-3)
    # charge: the profile reverses
    rc = solve_layered_1d([(20e-6, "separator")], L_S, p, I, mode="charge", n_e=40, n_s=20, dt=100.0,
                          t_end=3000.0)
    np.testing.assert_allclose(np.diff(rc.c_e) / np.diff(rc.x_e), (1 - tp) * I / (D * F), rtol=1e-6)


def test_quasi_equilibrium_at_tiny_current(params):
    ocp = params.get("ocp.model")
    for mode in ("discharge", "charge"):
        r = solve_layered_1d(LAYERS, L_S, params, 1e-4, mode=mode, n_e=30, n_s=30, n_steps_default=200,
                             check_conservation=True)
        assert r.reason == "chi_end"
        assert r.chi_mean[-1] == pytest.approx(0.99 if mode == "discharge" else 0.01, abs=1e-12)
        assert np.max(np.abs(r.voltage_V - ocp.U(r.chi_mean))) < 1e-3


def test_fast_transport_limit_is_uniform_butler_volmer(params, one_c):
    fast = params.with_overrides({
        "electrolyte.separator.kappa": 1e4, "electrolyte.polymer.kappa": 1e4,
        "electrolyte.separator.D_e": 1e-7, "electrolyte.polymer.D_e": 1e-7,
        "solid.D_s": 1e-7, "solid.sigma": 1e6})
    for mode in ("discharge", "charge"):
        r = solve_layered_1d(LAYERS, L_S, fast, one_c / 5, mode=mode, n_e=20, n_s=20, dt=200.0)
        assert r.reason == "chi_end"
        v = uniform_limit_voltage(fast, r.chi_mean, r.current_density)
        assert np.max(np.abs(r.voltage_V - v)) < 1e-4
        # the overpotential is substantial, so the check is not trivial
        assert np.min(np.abs(r.voltage_V - fast.get("ocp.model").U(r.chi_mean))) > 0.05


def test_grid_and_time_convergence(params, one_c):
    """Halving dx and dt together: the voltage curve (at the coarse capacities) changes by
    < 0.5 mV and the changes fall at observed order >= 0.9 (implicit Euler: first order)."""
    runs = [solve_layered_1d(LAYERS, L_S, params, one_c / 20, n_e=80 * 2**k, n_s=80 * 2**k, dt=80.0 / 2**k,
                             t_end=3000.0) for k in range(3)]
    q = runs[0].capacity
    v = [r.voltage_at(q) for r in runs]
    d1 = np.max(np.abs(v[0] - v[1]))
    d2 = np.max(np.abs(v[1] - v[2]))
    assert d1 < 0.5e-3
    assert np.log2(d1 / d2) >= 0.9


def test_discharge_ends_on_cutoff(c5_discharge):
    r = c5_discharge
    assert r.reason == "voltage_cutoff"
    assert 2.5 <= r.voltage_V[-1] <= 2.5 + 1e-4
    assert np.all(r.voltage_V[:-1] > 2.5)
    assert np.all(np.diff(r.voltage_V) < 0)
    # depletion of the polymer at the interface ends this run, well before mean chi 0.99
    assert r.c_e_surf[-1] < 10.0 and r.chi_mean[-1] < 0.1
    assert r.n_floor == 0


def test_graded_grid(params, one_c, c5_discharge):
    f = _graded_faces(9, 5.0)
    h = np.diff(f)
    assert f[0] == 0.0 and f[-1] == 1.0 and h.max() / h.min() == pytest.approx(5.0)
    np.testing.assert_allclose(h, h[::-1])
    np.testing.assert_allclose(_graded_faces(4, 1.0), np.linspace(0, 1, 5))
    g = solve_layered_1d(LAYERS, L_S, params, one_c / 5, n_e=100, n_s=50, dt=5.0, grading=5.0)
    hf = np.diff(g.x_faces_e)
    assert hf[-1] < 0.5 * hf.max() and hf[0] < 0.5 * hf.max()
    assert g.reason == "voltage_cutoff"
    q = c5_discharge.capacity[c5_discharge.capacity < 0.015]
    assert np.max(np.abs(g.voltage_at(q) - c5_discharge.voltage_at(q))) < 2e-3  # same solution, other grid
    assert g.capacity[-1] == pytest.approx(c5_discharge.capacity[-1], rel=5e-3)


def test_charge_ends_on_cutoff(params, one_c):
    r = solve_layered_1d(LAYERS, L_S, params, one_c / 5, mode="charge", n_e=60, n_s=30, dt=40.0)
    assert r.reason == "voltage_cutoff"
    assert 4.0 - 1e-4 <= r.voltage_V[-1] <= 4.0
    assert np.all(r.voltage_V[:-1] < 4.0)


def test_input_validation(params):
    with pytest.raises(ValueError, match="magnitude"):
        solve_layered_1d(LAYERS, L_S, params, -1.0)
    with pytest.raises(ValueError, match="mode"):
        solve_layered_1d(LAYERS, L_S, params, 1.0, mode="cycle")
    with pytest.raises(KeyError, match="unknown electrolyte material"):
        solve_layered_1d([(10e-6, "glass")], L_S, params, 1.0)
