"""Equilibrium-potential models (Table III of the 3D paper) and the least-squares fitter."""

import json
import math

import numpy as np
import pytest

from ssbfv.solver.ocp import (CHI_EPS, F, OCP_MODELS, R, REDLICH_KISTER_TABLE_AI, TABLE_IV, Margules1P,
                              Margules2P, RedlichKister, VanLaar, check_monotonic, fit_ocp,
                              nvp_default_ocp, ocp_from_dict)

T = 298.15
TH = R * T / F  # thermal voltage [V]
CHI = np.array([0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])

MODELS = [
    Margules1P(3.3781, 2.1698),
    Margules1P(3.4, -0.7, T=320.0),
    Margules2P(3.3782, 1.5837, 0.2306),
    Margules2P(3.2, -1.0, 2.5, T=280.0),
    VanLaar(3.3785, 1.81, 1.0424),
    VanLaar(3.3, 0.9, 0.3),
    RedlichKister(3.3787, (4242.0, -170.67, -6814.2, 1406.3)),
    RedlichKister(3.5, (-2000.0, 800.0, 300.0, -150.0, 900.0, 400.0)),
]


def test_constants_are_codata():
    assert F == pytest.approx(96485.33212, rel=1e-10)
    assert R == pytest.approx(8.314462618, rel=1e-10)


def test_hand_computed_values():
    # chi = 0.5: ln term and (2chi - 1) terms vanish
    assert Margules1P(3.3781, 2.1698).U(0.5) == pytest.approx(3.3781, abs=1e-15)
    assert Margules2P(3.3782, 1.5837, 0.2306).U(0.5) == pytest.approx(3.3782 + TH * 0.2306 / 8, rel=1e-14)
    # van Laar at 0.5: A (B/4 - 1/4) / ((1 + B)/2)^2 = A (B - 1) / (1 + B)^2
    A, B = 1.81, 1.0424
    assert VanLaar(3.3785, A, B).U(0.5) == pytest.approx(3.3785 + TH * A * (B - 1) / (1 + B) ** 2, rel=1e-14)
    # Redlich-Kister at 0.5: only k = 1 survives, -2 * 1 * 1/4 * A_1 / F
    assert RedlichKister(3.0, (100.0, 200.0, 300.0)).U(0.5) == pytest.approx(3.0 - 0.5 * 200.0 / F, rel=1e-14)
    # chi = 0.25 by hand
    chi = 0.25
    ln = math.log(3.0)
    assert Margules1P(3.0, 1.5).U(chi) == pytest.approx(3.0 + TH * (ln + 1.5 * (-0.5)), rel=1e-14)
    b_term = -1 + 0.75 - 1.5 * 0.0625
    assert Margules2P(3.0, 1.5, 0.4).U(chi) == pytest.approx(3.0 + TH * (ln - 0.75 + 0.4 * b_term), rel=1e-14)
    D = 0.75 + 2.0 * 0.25
    vl = 0.7 * (2.0 * 0.0625 - 0.5625) / D**2
    assert VanLaar(3.0, 0.7, 2.0).U(chi) == pytest.approx(3.0 + TH * (ln + vl), rel=1e-14)
    y = -0.5
    rk = 1000.0 * y + 500.0 * (y**2 - 2 * 0.1875) + 250.0 * (y**3 - 4 * 0.1875 * y)
    assert RedlichKister(3.0, (1000.0, 500.0, 250.0)).U(chi) == pytest.approx(3.0 + TH * ln + rk / F, rel=1e-14)


@pytest.mark.parametrize("m", MODELS, ids=lambda m: f"{m.name}")
def test_derivative_matches_central_differences(m):
    chi = np.linspace(0.02, 0.98, 49)
    h = 1e-6
    fd = (m.U(chi + h) - m.U(chi - h)) / (2 * h)
    d = m.dU_dchi(chi)
    assert np.allclose(d, fd, rtol=1e-6, atol=1e-9 * np.max(np.abs(d)))


@pytest.mark.parametrize("m", MODELS, ids=lambda m: f"{m.name}")
def test_vectorised_and_scalar(m):
    u = m.U(CHI)
    assert u.shape == CHI.shape
    assert isinstance(m.U(0.3), float) and isinstance(m.dU_dchi(0.3), float)
    assert m.U(0.3) == pytest.approx(u[2], rel=1e-15)
    grid = CHI.reshape(7, 1) * np.ones((1, 3))
    assert m.U(grid).shape == (7, 3)


def test_clipping_at_the_ends():
    m = nvp_default_ocp()
    assert np.isfinite(m.U(0.0)) and np.isfinite(m.U(1.0)) and np.isfinite(m.dU_dchi(0.0))
    assert m.U(0.0) == m.U(CHI_EPS) and m.U(-1.0) == m.U(CHI_EPS) and m.U(1.0) == m.U(1 - CHI_EPS)
    assert m.U(0.0) > 3.9 and m.U(1.0) < 2.9  # ln(1e12) theta = 0.71 V


def test_cross_model_identities():
    chi = np.linspace(0.01, 0.99, 50)
    # van Laar with B = 1 is the 1P Margules
    assert np.allclose(VanLaar(3.3, 1.7, 1.0).U(chi), Margules1P(3.3, 1.7).U(chi), rtol=0, atol=1e-13)
    # 1P Margules = 1-term Redlich-Kister, A_0 = RT A
    assert np.allclose(RedlichKister(3.3, (R * T * 1.7,)).U(chi), Margules1P(3.3, 1.7).U(chi), atol=1e-13)
    # 2P Margules = 2-term Redlich-Kister, A_0 = RT (A + 3B/4), A_1 = -RT B/4
    A, B = 1.5837, 0.2306
    rk = RedlichKister(3.3782, (R * T * (A + 0.75 * B), -R * T * B / 4))
    assert np.allclose(rk.U(chi), Margules2P(3.3782, A, B).U(chi), atol=1e-13)
    assert np.allclose(rk.dU_dchi(chi), Margules2P(3.3782, A, B).dU_dchi(chi), rtol=1e-12)


def test_nvp_default_decreasing_and_u05():
    m = nvp_default_ocp()
    assert (m.U0, m.A, m.B, m.T) == (3.3782, 1.5837, 0.2306, 298.15)
    mono, smax = check_monotonic(m)
    assert mono and smax < 0
    # U(0.5) = U0 + theta B/8 = 3.3789 V, within 5 mV of 3.378 V
    assert abs(m.U(0.5) - 3.378) < 5e-3
    assert m.U(0.5) == pytest.approx(3.37894, abs=1e-5)
    u = m.U(np.linspace(1e-4, 1 - 1e-4, 10_000))
    assert np.all(np.diff(u) < 0)


def test_table_iv_monotonicity_as_the_paper_says():
    p = TABLE_IV
    one = Margules1P(p["margules1"]["U0"], p["margules1"]["A"])
    assert not check_monotonic(one)[0]  # paper: the 1P fit is non-monotonic (A = 2.17 > 2)
    two = Margules2P(p["margules2"]["U0"], p["margules2"]["A"], p["margules2"]["B"])
    assert check_monotonic(two)[0]  # paper: 2P keeps monotonicity
    for name in ("margules1", "margules2", "van_laar"):
        q = {k: v for k, v in p[name].items() if k != "R2"}
        assert 3.37 < OCP_MODELS[name](**q).U(0.5) < 3.38
    assert math.isnan(REDLICH_KISTER_TABLE_AI["A"][4])  # the garbled "302 201"


def test_margules1_monotonic_iff_A_below_2():
    # dU/dchi = theta (2A - 1/(chi(1-chi))) <= theta (2A - 4), equality at chi = 1/2
    assert check_monotonic(Margules1P(3.4, 1.99))[0]
    assert not check_monotonic(Margules1P(3.4, 2.01))[0]
    assert Margules1P(3.4, 2.0).dU_dchi(0.5) == pytest.approx(0.0, abs=1e-15)
    assert check_monotonic(Margules1P(3.4, -5.0))[0]


@pytest.mark.parametrize("m", MODELS, ids=lambda m: f"{m.name}")
def test_dict_round_trip(m):
    d = json.loads(json.dumps(m.to_dict()))
    assert ocp_from_dict(d) == m
    assert d["model"] == m.name


def test_from_dict_errors():
    with pytest.raises(ValueError, match="unknown OCP model"):
        ocp_from_dict({"model": "nernst", "U0": 3.0})
    with pytest.raises(ValueError, match="unknown keys"):
        ocp_from_dict({"model": "margules1", "U0": 3.0, "A": 1.0, "C": 2.0})
    with pytest.raises(ValueError, match="units"):
        ocp_from_dict({"model": "margules1", "U0": 3.0, "A": 1.0, "units": {"U0": "mV"}})
    with pytest.raises(ValueError, match="B must be > 0"):
        VanLaar(3.0, 1.0, -0.5)
    with pytest.raises(ValueError, match="temperature"):
        Margules1P(3.0, 1.0, T=0.0)


# -- fitter -----------------------------------------------------------------------------------

TRUE = {
    "margules1": (Margules1P(3.38, 1.2), {}),
    "margules2": (Margules2P(3.3782, 1.5837, 0.2306), {}),
    "van_laar": (VanLaar(3.3785, 1.81, 1.6), {}),
    "redlich_kister": (RedlichKister(3.40, (3000.0, -500.0, 1500.0, 800.0)), {"n_terms": 4}),
}


@pytest.mark.parametrize("name", sorted(TRUE))
def test_fit_recovers_parameters(name):
    true, opts = TRUE[name]
    rng = np.random.default_rng(1)
    chi = np.linspace(0.02, 0.98, 300)
    noise = 0.5e-3
    U = true.U(chi) + rng.normal(0.0, noise, chi.size)
    fit = fit_ocp(chi, U, model=name, **opts)
    assert fit.success and isinstance(fit.model, type(true))
    assert fit.r_squared > 0.999
    assert fit.rmse == pytest.approx(noise, rel=0.2)
    assert fit.monotonic == check_monotonic(true)[0]
    got, want = fit.model._theta_vec(), true._theta_vec()
    assert abs(got[0] - want[0]) < 2e-3
    if name == "redlich_kister":
        assert np.allclose(got[1:], want[1:], rtol=0, atol=100.0)  # J/mol; 0.5 mV noise ~ 50 J/mol
    else:
        assert np.allclose(got[1:], want[1:], rtol=0.05, atol=0.02)
    assert fit.n_points == 300 and fit.n_params == want.size
    assert name in fit.summary()


def test_fit_exact_data_is_exact():
    true = nvp_default_ocp()
    chi = np.linspace(0.05, 0.95, 40)
    fit = fit_ocp(chi, true.U(chi))
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    assert fit.rmse < 1e-9
    assert fit.model.A == pytest.approx(true.A, abs=1e-6) and fit.model.B == pytest.approx(true.B, abs=1e-6)


def test_fit_flags_non_monotonic():
    true = Margules1P(3.38, 2.6)
    chi = np.linspace(0.03, 0.97, 200)
    U = true.U(chi) + np.random.default_rng(2).normal(0, 1e-3, chi.size)
    fit = fit_ocp(chi, U, model="margules1")
    assert fit.model.A > 2.0
    assert not fit.monotonic and fit.max_dU_dchi > 0
    # the same data fitted with the default 2P Margules is also non-monotonic
    assert not fit_ocp(chi, U).monotonic


def test_fit_with_temperature_and_x0():
    true = Margules2P(3.3, 0.5, 0.8, T=330.0)
    chi = np.linspace(0.05, 0.95, 30)
    fit = fit_ocp(chi, true.U(chi), T=330.0, x0=Margules2P(3.0, 0.0, 0.0, T=330.0))
    assert fit.model.T == 330.0 and fit.model.B == pytest.approx(0.8, abs=1e-6)
    fit = fit_ocp(chi, true.U(chi), model="van_laar", x0=[3.3, 1.0, 1.0], loss="soft_l1")
    assert fit.success


def test_fit_bad_input():
    chi = np.linspace(0.1, 0.9, 10)
    U = np.linspace(3.5, 3.3, 10)
    with pytest.raises(ValueError, match="differ in length"):
        fit_ocp(chi, U[:-1])
    with pytest.raises(ValueError, match=r"inside \(0, 1\)"):
        fit_ocp(np.r_[chi[:-1], 1.0], U)
    with pytest.raises(ValueError, match=r"inside \(0, 1\)"):
        fit_ocp(np.r_[0.0, chi[1:]], U)
    with pytest.raises(ValueError, match="NaN"):
        fit_ocp(chi, np.r_[U[:-1], np.nan])
    with pytest.raises(ValueError, match="NaN"):
        fit_ocp(np.r_[np.nan, chi[1:]], U)
    with pytest.raises(ValueError, match="parameters but only 2"):
        fit_ocp(chi[:2], U[:2], model="margules2")
    with pytest.raises(ValueError, match="parameters but only 4"):
        fit_ocp(chi[:4], U[:4], model="redlich_kister", n_terms=4)
    with pytest.raises(ValueError, match="unknown OCP model"):
        fit_ocp(chi, U, model="margules3")
    with pytest.raises(ValueError, match="1-D"):
        fit_ocp(chi.reshape(2, 5), U.reshape(2, 5))
    with pytest.raises(ValueError, match="x0 has"):
        fit_ocp(chi, U, x0=[3.3, 1.0])
