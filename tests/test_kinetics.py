"""Butler-Volmer kinetics: formula, sign convention, derivative, guards, linearisation."""

import numpy as np
import pytest

from ssbfv.solver.kinetics import F, ButlerVolmer, KineticsGuards, robin_electrolyte, robin_solid

BV = ButlerVolmer(k=3e-12, c_s_max=14200.0)


def test_symmetric_current_is_sinh_and_anodic_positive():
    eta = np.linspace(-0.2, 0.2, 41)
    i, G = BV.current(eta, 7100.0, 1300.0)
    i0 = F * 3e-12 * np.sqrt(7100.0 * 7100.0) * np.sqrt(1300.0)
    np.testing.assert_allclose(i, 2 * i0 * np.sinh(0.5 * BV.f * eta), rtol=1e-12, atol=1e-300)
    assert np.all(i[eta > 0] > 0) and np.all(i[eta < 0] < 0) and i[20] == 0.0
    assert np.all(G > 0)
    # i0 at these values: ~0.1 A/m^2 (order of magnitude check of the parameter set)
    assert 0.05 < i0 < 0.2


def test_derivative_against_finite_differences():
    eta = np.array([-0.3, -0.05, 0.0, 0.02, 0.25])
    cs = np.array([100.0, 5000.0, 7100.0, 12000.0, 14000.0])
    ce = np.array([1300.0, 200.0, 1300.0, 50.0, 2000.0])
    bv = ButlerVolmer(k=3e-12, c_s_max=14200.0, alpha_a=0.3, alpha_c=0.7)
    _, G = bv.current(eta, cs, ce)
    h = 1e-6
    fd = (bv.current(eta + h, cs, ce)[0] - bv.current(eta - h, cs, ce)[0]) / (2 * h)
    np.testing.assert_allclose(G, fd, rtol=1e-6)


def test_guards_clip_and_count():
    g = KineticsGuards()
    i, G = BV.current([0.1, 0.1, 0.1, 50.0], [-5.0, 15000.0, 7000.0, 7000.0], [1300.0, 1300.0, -1.0, 1300.0], g)
    assert np.all(np.isfinite(i)) and np.all(np.isfinite(G))
    assert i[0] == 0.0 and i[1] == 0.0 and i[2] == 0.0  # empty / full solid, no electrolyte
    assert g.solid_clipped == 2 and g.electrolyte_clipped == 1 and g.exponent_clipped == 1


def test_robin_linearisations_reproduce_the_current():
    eta0, cs, ce = 0.05, 3000.0, 800.0
    phi_s0, phi_e0, U = 3.45, 0.02, 3.38
    i0, G = BV.current(phi_s0 - phi_e0 - U, cs, ce)
    h, v = robin_solid(i0, G, phi_s0)
    for dphi in (0.0, 1e-4):  # outward solid flux h (phi - v) equals the linearised current
        assert h * (phi_s0 + dphi - v) == pytest.approx(i0 + G * dphi, rel=1e-12)
    h, v = robin_electrolyte(i0, G, phi_e0)
    for dphi in (0.0, 1e-4):  # outward electrolyte current is -i_BV
        assert h * (phi_e0 + dphi - v) == pytest.approx(-(i0 - G * dphi), rel=1e-12)
    with pytest.raises(ValueError, match="k must be finite and > 0"):
        ButlerVolmer(k=-1.0, c_s_max=1.0)
