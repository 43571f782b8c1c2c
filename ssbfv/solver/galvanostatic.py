"""Galvanostatic discharge and charge: the time loop around the segregated step.

    run = Galvanostatic(model, Protocol(mode="discharge", c_rate=0.2))
    result = run.run(on_step=print_row)

Time stepping (DESIGN.md §7): implicit Euler steps; after an accepted step the next dt grows
by ``grow`` (up to ``dt_max``) when the step needed at most ``easy_outer`` outer
iterations; a step that fails (no convergence, a linear solver failure, a negative or
out-of-range concentration, NaN) is retried with dt halved, at most ``max_retries`` times in
a row and not below ``dt_min`` (default dt0 / 2^max_retries); then the run stops with
reason ``"step_failed"`` and every completed step kept.

End of a run (``RunResult.reason``):

- ``"voltage_cutoff"``: the voltage crossed the cut-off (DESIGN.md §4: 2.5 V discharge,
  4.0 V charge); the crossing step is repeated with a dt from the secant of V(t) until V
  lies within ``v_cut_tol`` of the cut-off (at most 20 tries, secant alternating with
  bisection), so the run ends on the cut-off; when even a vanishing step lands past the
  cut-off the run ends as ``"voltage_collapse"`` at the last regular point;
- ``"soc_limit"``: mean chi reached the end value (0.99 discharge, 0.01 charge); mean chi is
  linear in t by conservation, so the last step is shortened to land on it;
- ``"t_end"``: the requested end time;
- ``"voltage_collapse"``: the steps failed while the voltage was moving towards the cut-off
  (falling on discharge, rising on charge) so fast that a linear extrapolation of the last
  two points reaches it within
  ``collapse_fraction`` (1e-4) of the nominal duration 3600 s / C-rate: the applied current
  exceeds what transport can deliver (a depleted electrolyte or saturated particle
  surface), the voltage diverges there, and the capacity left out is below that fraction;
- ``"depletion"``: the steps failed, the last one because a concentration reached its bound
  (an electrolyte depleted next to the anode during charge, a particle surface that is
  full or empty) while the voltage was not yet moving fast: the applied current cannot be
  carried; the message says where;
- ``"step_failed"``: retries exhausted otherwise (the message says why);
- ``"max_steps"``.

C-rate: 1C = F (c_s,max - c_s,min) V_active / 3600 s with V_active measured on the mesh.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .coupling import HalfCellModel, HalfCellState, StepFailed
from .kinetics import F

MODES = ("discharge", "charge")


@dataclass
class Protocol:
    """Galvanostatic protocol.

    mode : "discharge" or "charge"; c_rate : multiple of 1C (> 0)
    chi0 : initial c_s / c_s,max (default from the parameter set: initial.chi0_<mode>)
    v_cut : cut-off voltage [V] (default cutoff.V_min_discharge / V_max_charge)
    chi_end : mean chi that ends the run (default cutoff.chi_end_<mode>)
    t_end : optional end time [s]
    """

    mode: str = "discharge"
    c_rate: float = 0.2
    chi0: float | None = None
    v_cut: float | None = None
    chi_end: float | None = None
    t_end: float | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not (isinstance(self.c_rate, (int, float)) and self.c_rate > 0 and math.isfinite(self.c_rate)):
            raise ValueError(f"c_rate must be a positive number, got {self.c_rate!r}")
        for name in ("chi0", "chi_end"):
            v = getattr(self, name)
            if v is not None and not (0.0 < v < 1.0):
                raise ValueError(f"{name} must lie in (0, 1), got {v}")
        if self.t_end is not None and not self.t_end > 0:
            raise ValueError(f"t_end must be > 0 s, got {self.t_end}")

    def resolved(self, params) -> "Protocol":
        """A copy with the defaults of the parameter set filled in."""
        dis = self.mode == "discharge"
        get = lambda k: float(params.get(k))  # noqa: E731
        return Protocol(
            self.mode, self.c_rate,
            self.chi0 if self.chi0 is not None else get("initial.chi0_discharge" if dis else "initial.chi0_charge"),
            self.v_cut if self.v_cut is not None else get("cutoff.V_min_discharge" if dis else "cutoff.V_max_charge"),
            self.chi_end if self.chi_end is not None else get("cutoff.chi_end_discharge" if dis else "cutoff.chi_end_charge"),
            self.t_end,
        )


@dataclass
class Stepping:
    """Time-step control [s]. dt0, dt_max: None takes 1/2000 and 1/100 of the nominal duration
    3600 s / C-rate; dt_min, the smallest dt a failed step is retried with: None takes
    dt0 / 2^max_retries."""

    dt0: float | None = None
    dt_max: float | None = None
    dt_min: float | None = None
    grow: float = 1.5
    easy_outer: int = 10
    max_retries: int = 8
    max_steps: int = 100_000
    v_cut_tol: float = 1e-3
    collapse_fraction: float = 1e-4

    def __post_init__(self):
        for name in ("dt0", "dt_max", "dt_min"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be > 0 s, got {v}")
        if not self.grow >= 1.0:
            raise ValueError("grow must be >= 1")
        if self.max_retries < 0 or self.max_steps < 1:
            raise ValueError("max_retries must be >= 0 and max_steps >= 1")


def collapse_description(records, t_cut: float) -> str:
    """'the voltage collapses towards the cut-off (last V = .. V, falling|rising at .. V/s,
    cut-off in ~.. s by extrapolation)' from the last two records and the extrapolated time
    to the cut-off [s] (falling on discharge, rising on charge: the sign of the last slope)."""
    a, b = records[-2], records[-1]
    rate = (b.voltage_V - a.voltage_V) / b.dt_s
    return (f"the voltage collapses towards the cut-off (last V = {b.voltage_V:.4f} V, "
            f"{'falling' if rate < 0 else 'rising'} at {abs(rate):.3g} V/s, cut-off in ~{t_cut:.2g} s by extrapolation)")


@dataclass
class StepRecord:
    """One accepted point of the time series (t = 0 is the switch-on state)."""

    time_s: float
    voltage_V: float
    current_A: float
    mean_chi: float
    outer_iterations: int
    nrmsd: float
    dt_s: float
    linear_iterations: int
    conservation_error: float
    wall_s: float


@dataclass
class RunResult:
    records: list
    reason: str
    message: str
    state: HalfCellState
    wall_s: float
    failed_steps: int
    times: dict = field(default_factory=dict)
    guards: dict = field(default_factory=dict)  # counts over all solves: clipped concentrations, exponents, floored c_e

    def column(self, name) -> np.ndarray:
        return np.array([getattr(r, name) for r in self.records])


class Galvanostatic:
    """Runs a :class:`Protocol` on a :class:`HalfCellModel`."""

    def __init__(self, model: HalfCellModel, protocol: Protocol, stepping: Stepping | None = None):
        self.model = model
        self.protocol = protocol.resolved(model.params)
        self.stepping = stepping or Stepping()
        p = self.protocol
        sign = 1.0 if p.mode == "discharge" else -1.0
        self.current = sign * p.c_rate * model.one_c_current()  # [A], > 0 discharge
        # mean chi is linear in t: d(mean chi)/dt = I / (F c_s,max V_active)
        rate = self.current / (F * model.c_s_max * model.layout.volume_active)
        self.t_soc = (p.chi_end - p.chi0) / rate
        if self.t_soc <= 0:
            raise ValueError(f"initial chi {p.chi0} is already past the end value {p.chi_end} for a {p.mode}")
        s = self.stepping
        nominal = 3600.0 / p.c_rate
        self.nominal = nominal
        self.dt0 = s.dt0 if s.dt0 is not None else nominal / 2000.0
        self.dt_max = s.dt_max if s.dt_max is not None else nominal / 100.0
        self.dt_min = s.dt_min if s.dt_min is not None else self.dt0 * 2.0 ** (-s.max_retries)

    def _past_cutoff(self, V) -> bool:
        return V < self.protocol.v_cut if self.protocol.mode == "discharge" else V > self.protocol.v_cut

    def initial(self, state: HalfCellState | None = None):
        """The switch-on state (potentials solved at the initial concentrations)."""
        m = self.model
        st = state if state is not None else m.initial_state(self.protocol.chi0, current=self.current)
        st, info = m.step(st, None, self.current)
        return st, info

    def run(self, state: HalfCellState | None = None, on_step=None, records=None, dt=None,
            failed_steps: int = 0, guards: dict | None = None) -> RunResult:
        """Run to the end. ``state``/``records``/``dt``/``failed_steps``/``guards``: continue a
        previous run (restart from a checkpoint: ``dt`` is the step size it would have tried
        next, :attr:`next_dt` at the time of the checkpoint).
        ``on_step(record, state, info)`` is called after every accepted step (and for the
        initial point) so that callers can write output as the run goes; during the call,
        :attr:`next_dt` [s] is the step size the run will try next, :attr:`failed_steps` the
        failed attempts so far, :attr:`guards` the guard counters, and :attr:`final` is
        (reason, message) if this record ends the run (the cut-off step), else None."""
        m, p, s = self.model, self.protocol, self.stepping
        t_wall = time.perf_counter()
        times: dict = {}
        self._guards = {"solid_clipped": 0, "electrolyte_clipped": 0, "exponent_clipped": 0, "c_e_floored": 0}
        if guards:
            self._guards.update({k: int(v) for k, v in guards.items() if k in self._guards})
        records = list(records or [])
        failed = int(failed_steps)
        self.failed_steps = failed
        self.next_dt = self.dt0 if dt is None else dt
        self.final = None  # (reason, message) while on_step sees the run's last record
        if state is None or not records:
            state, info = self.initial(state)
            rec = StepRecord(0.0, m.voltage(state), self.current, m.mean_chi(state), info.outer_iterations,
                             info.nrmsd, 0.0, info.linear_iterations, float("nan"), time.perf_counter() - t_wall)
            records.append(rec)
            self._add_info(times, info)
            if on_step:
                on_step(rec, state, info)
            if self._past_cutoff(rec.voltage_V):
                return RunResult(records, "voltage_cutoff", "the switch-on voltage is already past the cut-off",
                                 state, time.perf_counter() - t_wall, failed, times, dict(self._guards))
        dt = self.dt0 if dt is None else dt
        t_stop = self.t_soc if p.t_end is None else min(self.t_soc, p.t_end)
        reason, message = "max_steps", f"reached max_steps = {s.max_steps}"
        for _ in range(s.max_steps):
            t = state.t
            if t >= t_stop * (1 - 1e-12):
                reason = "soc_limit" if t_stop == self.t_soc else "t_end"
                message = f"mean chi reached {p.chi_end}" if reason == "soc_limit" else f"t = {p.t_end} s"
                break
            dt_try = min(dt, self.dt_max, t_stop - t)
            new, info, retries = self._try_step(state, dt_try, times)
            failed += retries
            self.failed_steps = failed
            if new is None:
                reason, message = "step_failed", info
                t_cut = self._time_to_cutoff(records)
                if t_cut is not None and t_cut <= s.collapse_fraction * self.nominal:
                    reason = "voltage_collapse"
                    message = f"{collapse_description(records, t_cut)}; the steps towards it failed: {info}"
                elif self._last_failure_depletion:
                    reason = "depletion"
                    message = (f"a concentration reached its bound and the applied current cannot be carried any "
                               f"more (last V = {records[-1].voltage_V:.4f} V): {info}")
                break
            dt_used = new.t - state.t
            V = m.voltage(new)
            if self._past_cutoff(V):
                dt_cross = dt_used
                new, info, V, dt_used, ok = self._land_on_cutoff(state, records[-1].voltage_V, new, info, V, dt_used, times)
                if not ok and dt_used < 1e-6 * dt_cross:
                    # even a vanishing step lands past the cut-off: V jumps there (a collapse);
                    # keep the last regular point rather than a step of ~0 s
                    reason = "voltage_collapse"
                    message = (f"the voltage jumps past the cut-off {p.v_cut} V within a vanishing step after "
                               f"V = {records[-1].voltage_V:.4f} V (a step of {dt_used:.2g} s gives {V:.4f} V)")
                    break
                rec = self._record(new, V, info, dt_used, t_wall)
                records.append(rec)
                reason = "voltage_cutoff"
                message = f"V = {V:.4f} V reached the cut-off {p.v_cut} V" + ("" if ok else " (landing tolerance not met)")
                self.final, self.failed_steps = (reason, message), failed
                if on_step:
                    on_step(rec, new, info)
                state = new
                break
            rec = self._record(new, V, info, dt_used, t_wall)
            records.append(rec)
            dt = dt_used * s.grow if (retries == 0 and info.outer_iterations <= s.easy_outer) else dt_used
            self.next_dt, self.failed_steps = dt, failed
            if on_step:
                on_step(rec, new, info)
            state = new
        return RunResult(records, reason, message, state, time.perf_counter() - t_wall, failed, times, dict(self._guards))

    @property
    def guards(self) -> dict:
        """Guard counters of the current run (clipped concentrations and exponents, floored c_e)."""
        return dict(self._guards)

    def _add_info(self, times, info):
        _add_times(times, info.times)
        g = self._guards
        g["solid_clipped"] += info.guards.solid_clipped
        g["electrolyte_clipped"] += info.guards.electrolyte_clipped
        g["exponent_clipped"] += info.guards.exponent_clipped
        g["c_e_floored"] += info.n_floored

    def _time_to_cutoff(self, records):
        """Linear extrapolation of the last two points: time until the cut-off [s], or None
        when the voltage does not move towards it."""
        if len(records) < 3:
            return None
        a, b = records[-2], records[-1]
        slope = (b.voltage_V - a.voltage_V) / max(b.time_s - a.time_s, 1e-300)
        gap = self.protocol.v_cut - b.voltage_V
        if slope == 0.0 or gap / slope <= 0.0:
            return None
        return gap / slope

    def _record(self, st, V, info, dt, t_wall):
        m = self.model
        return StepRecord(st.t, V, self.current, m.mean_chi(st), info.outer_iterations, info.nrmsd, dt,
                          info.linear_iterations, info.conservation_error, time.perf_counter() - t_wall)

    def _try_step(self, state, dt, times):
        """(new state, info, failed tries) or (None, message, failed tries): dt is halved after
        each failure, at most max_retries times and not below dt_min (the first try takes dt as
        asked, which can be shorter: the last step to the end time)."""
        last = ""
        self._last_failure_depletion = False
        failed, dt_failed = 0, dt
        for _ in range(self.stepping.max_retries + 1):
            if failed and dt < self.dt_min:
                break
            try:
                new, info = self.model.step(state, dt, self.current)
                self._add_info(times, info)
                return new, info, failed
            except StepFailed as exc:
                last = str(exc)
                self._last_failure_depletion = exc.depletion
                failed, dt_failed = failed + 1, dt
                dt *= 0.5
        floor = (f"; half of it is below dt_min = {self.dt_min:.3g} s"
                 if dt < self.dt_min and failed < self.stepping.max_retries + 1 else "")
        return None, (f"a step at t = {state.t:.6g} s failed {failed} time{'s' if failed > 1 else ''} "
                      f"(last dt {dt_failed:.3g} s{floor}): {last}"), failed

    def _land_on_cutoff(self, state, V0, new, info1, V1, dt1, times):
        """Repeat the step that crossed the cut-off with secant-chosen dt until V is within
        v_cut_tol of the cut-off on the safe side."""
        vc, tol = self.protocol.v_cut, self.stepping.v_cut_tol
        lo_dt, lo_V = 0.0, V0  # safe side
        hi_dt, hi_V = dt1, V1  # past the cut-off
        best = (new, info1, V1, dt1)
        for k in range(20):
            if abs(hi_V - vc) <= tol:
                return best[0], best[1], best[2], best[3], True
            # secant, alternating with bisection (regula falsi alone stalls on one side of a
            # steep, curved V(t))
            frac = (vc - lo_V) / (hi_V - lo_V) if (hi_V != lo_V and k % 2 == 0) else 0.5
            dt = lo_dt + min(max(frac, 0.05), 0.95) * (hi_dt - lo_dt)
            try:
                cand, info = self.model.step(state, dt, self.current)
                self._add_info(times, info)
            except StepFailed:
                hi_dt = dt  # treat as unusable; shrink the bracket
                continue
            V = self.model.voltage(cand)
            if self._past_cutoff(V):
                hi_dt, hi_V = dt, V
                best = (cand, info, V, dt)
            else:
                lo_dt, lo_V = dt, V
                best = (cand, info, V, dt)
                if abs(V - vc) <= tol:
                    return cand, info, V, dt, True
        return best[0], best[1], best[2], best[3], False


def _add_times(acc, t):
    for k, v in t.items():
        acc[k] = acc.get(k, 0.0) + v

