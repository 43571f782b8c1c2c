"""Galvanostatic time stepping of the P2D model: adaptive implicit Euler, cut-off landing."""

from __future__ import annotations

import math
import time as _time

import numpy as np

from ..kinetics import F
from .model import P2DModel, P2DSystem
from .result import P2DResult

__all__ = ["solve_p2d"]


def solve_p2d(model: P2DModel, c_rate: float | None = None, mode: str = "discharge", *,
              current_density: float | None = None, n_x_sep: int | None = None, n_x_cat: int = 25,
              n_r: int = 15, r_spacing: str = "uniform", x_grading: float = 1.0,
              dt_max: float | None = None, dt_first: float | None = None, dv_max: float = 0.02,
              n_steps_nominal: int = 60, v_cut: float | None = None, chi0: float | None = None,
              chi_end: float | None = None, t_end: float | None = None, v_cut_tol: float = 5e-4,
              newton_tol: float = 1e-8, max_iter: int = 15, max_halvings: int = 20,
              max_steps: int = 100_000, store_profiles: bool = False, dts: list | None = None,
              collapse_tol: float = 1e-6) -> P2DResult:
    """Galvanostatic discharge or charge of the P2D cell.

    model : :class:`P2DModel`. c_rate : C-rate (1C = F (c_s,max - c_s,min) eps_AM L_cat /
    3600 s per m^2), or give ``current_density`` [A/m^2] (a magnitude; ``mode`` sets the sign:
    "discharge" I > 0, chi grows; "charge" I < 0).
    Grid: n_x_sep separator cells (default: in proportion to the thicknesses, at least 2),
    n_x_cat cathode cells, n_r shells per particle, ``r_spacing`` "uniform" (in r) or "volume"
    (equal shell volumes), ``x_grading`` (>= 1, geometric, finest at both ends of each layer).
    Steps: implicit Euler; dt_max [s] (default: nominal duration / n_steps_nominal), first step
    dt_first (default dt_max / 16), then each step size is scaled by dv_max / |dV| (between 0.5
    and 2, at most dt_max); a Newton failure halves the step (at most ``max_halvings`` times in a
    row below dt_max, then the run stops with reason "newton_failed"). ``dts``: an explicit
    list of step sizes instead of the adaptive control (for convergence studies; the cut-off
    step is still shortened to land on the cut-off).
    Ends: voltage cut-off v_cut (default cutoff.V_min_discharge / V_max_charge; the crossing
    step is shortened by a root search on its length until V is within v_cut_tol of v_cut),
    mean chi reaching chi_end (default cutoff.chi_end_*; the last step is shortened to hit it
    exactly, mean chi being linear in t), t_end [s], a Newton failure ("newton_failed"), or
    max_steps. "voltage_collapse": Newton fails even for the smallest steps while the voltage
    runs towards the cut-off so fast that, extrapolated linearly from the last two points, it
    reaches it within ``collapse_tol`` times the nominal duration (the cut-off lies inside the
    failed step; the capacity is then exact to that fraction). This happens when every reaction
    site is exhausted (particles full where electrolyte is left, electrolyte depleted elsewhere)
    and V falls without bound.
    chi0: initial uniform c_s / c_s,max (default initial.chi0_discharge / chi0_charge).
    The t = 0 point is a potential-only solve with the initial concentrations.
    """
    t_wall = _time.perf_counter()
    if mode not in ("discharge", "charge"):
        raise ValueError(f"mode must be 'discharge' or 'charge', got {mode!r}")
    dis = mode == "discharge"
    params = model.params
    g = model.geometry
    one_c = model.one_c_current_density()
    if (c_rate is None) == (current_density is None):
        raise ValueError("give exactly one of c_rate and current_density")
    if c_rate is not None:
        if not (math.isfinite(c_rate) and c_rate > 0):
            raise ValueError(f"c_rate must be > 0, got {c_rate!r}")
        Imag = float(c_rate) * one_c
    else:
        if not (math.isfinite(current_density) and current_density > 0):
            raise ValueError("current_density is a magnitude and must be > 0 (mode sets the sign)")
        Imag = float(current_density)
    c_rate_eff = Imag / one_c
    I = Imag if dis else -Imag

    def from_params(value, key):
        if value is not None:
            return float(value)
        if key not in params or params.get(key) is None:
            raise ValueError(f"parameter {key!r} is missing (None) in parameter set {params.name!r}; "
                             f"pass it to solve_p2d or set it with with_overrides")
        return float(params.get(key))

    chi0 = from_params(chi0, "initial.chi0_discharge" if dis else "initial.chi0_charge")
    chi_end = from_params(chi_end, "cutoff.chi_end_discharge" if dis else "cutoff.chi_end_charge")
    v_cut = from_params(v_cut, "cutoff.V_min_discharge" if dis else "cutoff.V_max_charge")
    if not 0.0 < chi0 < 1.0:
        raise ValueError(f"chi0 must lie in (0, 1), got {chi0}")
    if n_x_sep is None:
        n_x_sep = max(2, int(round(n_x_cat * g.L_sep / g.L_cat))) if g.L_sep > 0 else 0
    sysm = P2DSystem(model, n_x_sep, n_x_cat, n_r, r_spacing=r_spacing, x_grading=x_grading)
    cmax = model.c_s_max
    # mean chi is linear in t: the solid gains exactly I/F per unit area (electrolyte Na constant)
    t_chi = (chi_end - chi0) * F * cmax * g.eps_AM * g.L_cat / I
    if t_chi <= 0:
        raise ValueError(f"chi0 = {chi0} is already past chi_end = {chi_end} for a {mode}")
    t_stop = t_chi if t_end is None else min(t_chi, float(t_end))
    t_nom = abs(chi_end - chi0) * F * cmax * g.eps_AM * g.L_cat / Imag
    if dt_max is None:
        dt_max = t_nom / n_steps_nominal
    dt_max = float(dt_max)
    if dt_first is None:
        dt_first = dt_max / 16.0
    dt_min = min(dt_first, dt_max) * 2.0 ** (-max_halvings)

    def past(V):
        return V < v_cut if dis else V > v_cut

    # ---- t = 0: potential-only solve ----
    u = sysm.initial_guess(chi0, I)
    u, it0 = sysm.newton(u, u.copy(), 1.0, I, static=True, tol=newton_tol, max_iter=100)
    if u is None:
        raise RuntimeError("P2D: the initial potential solve did not converge")
    n_newton = it0
    rec = {k: [] for k in ("t", "V", "chi", "cemin", "cons", "it", "dt")}
    profiles = []

    def record(u, t, cons, it, h):
        rec["t"].append(t)
        rec["V"].append(sysm.voltage(u, I))
        rec["chi"].append(sysm.chi_mean(u))
        ce = sysm.split(u)[0]
        rec["cemin"].append(float(np.min(ce)))
        rec["cons"].append(cons)
        rec["it"].append(it)
        rec["dt"].append(h)
        if store_profiles:
            profiles.append(_profiles(sysm, u, t))

    record(u, 0.0, math.nan, it0, 0.0)
    t = 0.0
    n_steps = 0
    n_failed = 0
    n_floor = 0
    reason, message = "max_steps", ""
    u_prev, h_prev = None, None
    dt = min(dt_first, dt_max)
    halvings = 0
    explicit = list(dts) if dts is not None else None

    def step(u_start, h, guess):
        nonlocal n_newton
        un, its = sysm.newton(guess, u_start, h, I, tol=newton_tol, max_iter=max_iter)
        n_newton += its
        return un, its

    def predictor(h):
        if u_prev is None:
            return u
        gu = u + (h / h_prev) * (u - u_prev)
        ic = sysm.conc_idx
        gu[ic] = np.clip(gu[ic], 0.05 * u[ic], np.where(np.isfinite(sysm.conc_ub),
                                                          u[ic] + 0.95 * (sysm.conc_ub - u[ic]), np.inf))
        return gu

    if past(rec["V"][0]):
        reason, message = "voltage_cutoff", "the cut-off is crossed at t = 0"
    else:
        while n_steps < max_steps:
            remaining = t_stop - t
            if remaining <= 1e-12 * t_stop:
                reason = "chi_end" if t_stop == t_chi else "t_end"
                break
            if explicit is not None:
                if not explicit:
                    reason = "t_end"
                    break
                dt = explicit[0]
            h = min(dt, remaining)
            if remaining - h < 1e-6 * dt_max:
                h = remaining
            u_new, its = step(u, h, predictor(h))
            if u_new is None:
                n_failed += 1
                halvings += 1
                dt = 0.5 * h
                if explicit is not None:
                    explicit[0] = explicit[0] * 0.5
                    explicit.insert(0, explicit[0])
                if dt < dt_min or halvings > max_halvings:
                    reason = "newton_failed"
                    message = (f"Newton failed at t = {t:.6g} s (mean chi {sysm.chi_mean(u):.4f}) with the step "
                               f"halved {halvings} times to {h:.3g} s")
                    tc = _time_to_cutoff(rec, v_cut)
                    if tc is not None and tc <= collapse_tol * t_nom:
                        reason = "voltage_collapse"
                        message = (f"voltage collapse at t = {t:.6g} s, V = {rec['V'][-1]:.4f} V: Newton fails for "
                                   f"steps down to {h:.3g} s while V runs to the cut-off, which it would reach "
                                   f"within {tc:.3g} s at the last rate (typically every reaction site is "
                                   f"exhausted: particles full or electrolyte depleted); " + message)
                    break
                continue
            halvings = 0
            V_old = sysm.voltage(u, I)
            V_new = sysm.voltage(u_new, I)
            hit = past(V_new)
            if hit:
                u_new, its, h, V_new = _land_on_cutoff(sysm, u, u_new, h, V_old, V_new, v_cut, v_cut_tol, I,
                                                       step, past)
                if u_new is None:
                    reason, message = "voltage_cutoff", "the cut-off is crossed within a negligible time"
                    break
            dNa = sysm.na_total(u_new) - sysm.na_total(u)
            expect = I * h / F
            cons = abs(dNa - expect) / abs(expect)
            u_prev, h_prev = u, h
            u = u_new
            t += h
            n_steps += 1
            n_floor += sysm.n_floored(u)
            record(u, t, cons, its, h)
            if hit:
                reason = "voltage_cutoff"
                break
            if explicit is not None:
                explicit.pop(0)
                continue
            dV = abs(V_new - V_old)
            fac = 2.0 if dV <= 0 else min(2.0, max(0.5, dv_max / dV))
            dt = min(dt_max, h * fac)
    tt = np.array(rec["t"])
    chi = np.array(rec["chi"])
    cap2 = Imag * tt / 36000.0
    ce, pe, ps, cs, sf = sysm.split(u)
    return P2DResult(
        time_s=tt, voltage_V=np.array(rec["V"]), current_density=I,
        capacity_mAh_per_cm2=cap2, capacity_mAh_per_cm3=cap2 / (g.L_cat * 100.0),
        chi_mean=chi, soc=(cmax - chi * cmax) / (cmax - model.c_s_min), c_e_min=np.array(rec["cemin"]),
        conservation_error=np.array(rec["cons"]), newton_iterations=np.array(rec["it"]),
        dt_s=np.array(rec["dt"]), mode=mode, c_rate=c_rate_eff, reason=reason, message=message,
        v_cut=v_cut, n_steps=n_steps, n_newton=n_newton, n_failed=n_failed, n_floor=n_floor,
        wall_time_s=_time.perf_counter() - t_wall,
        x_centres=sysm.xc.copy(), c_e=np.array(ce, copy=True), phi_e=pe.copy(), phi_s=ps.copy(),
        c_s_surface=sf.copy(), c_s=cs.copy(), r_centres=sysm.rc.copy(),
        grid=dict(n_x_sep=sysm.ns, n_x_cat=sysm.nc, n_r=sysm.nr, r_spacing=r_spacing, x_grading=x_grading,
                  x_faces=sysm.xf.copy(), r_faces=sysm.rf.copy()),
        profiles=profiles,
    )


def _time_to_cutoff(rec, v_cut):
    """Time [s] to reach v_cut extrapolating the last two recorded voltages linearly, or None
    when the voltage does not move towards the cut-off."""
    if len(rec["t"]) < 2:
        return None
    (t1, t2), (V1, V2) = rec["t"][-2:], rec["V"][-2:]
    if t2 <= t1:
        return None
    rate = (V2 - V1) / (t2 - t1)
    if rate == 0.0:
        return None
    tc = (v_cut - V2) / rate
    return tc if tc > 0 else None


def _profiles(sysm, u, t):
    ce, pe, ps, cs, sf = sysm.split(u)
    return dict(t=t, c_e=np.array(ce, copy=True), phi_e=pe.copy(), phi_s=ps.copy(), c_s_surface=sf.copy(),
                c_s=cs.copy())


def _land_on_cutoff(sysm, u, u_new, h, V_old, V_new, v_cut, tol, I, step, past):
    """Shorten the step u -> u_new (length h, crossing v_cut) until |V - v_cut| <= tol:
    Illinois (modified regula falsi) on the step length, bisection where Newton fails.
    Returns (u, iterations, h, V) or (None, 0, 0, 0) if only a negligible step stays safe."""
    lo, hi = 0.0, h
    g_lo, g_hi = V_old - v_cut, V_new - v_cut
    best = None
    side = 0
    for _ in range(60):
        if hi - lo <= 1e-12 * h:
            break
        if g_hi != g_lo:
            mid = hi - g_hi * (hi - lo) / (g_hi - g_lo)
        else:
            mid = 0.5 * (lo + hi)
        if not (lo < mid < hi):
            mid = 0.5 * (lo + hi)
        guess = u + (mid / h) * (u_new - u)
        um, its = step(u, mid, guess)
        if um is None:
            hi, g_hi = mid, g_hi
            side = 0
            continue
        Vm = sysm.voltage(um, I)
        gm = Vm - v_cut
        if abs(gm) <= tol:
            return um, its, mid, Vm
        if past(Vm):
            hi, g_hi = mid, gm
            if side == -1:
                g_lo *= 0.5
            side = -1
        else:
            lo, g_lo = mid, gm
            best = (um, its, mid, Vm)
            if side == 1:
                g_hi *= 0.5
            side = 1
    if best is None:
        return None, 0, 0.0, 0.0
    return best
