r"""Independent fine 1D finite-volume reference solution of the half-cell equations.

A laterally uniform layered cell: sodium-metal anode at x = 0, electrolyte layers (e.g. a dense
NaSICON separator, then polymer) on [0, L_e], a planar active/electrolyte interface at x = L_e,
an active (NVP) slab on [L_e, L_e + L_s], the current collector at x = L_e + L_s. It solves the
equations of DESIGN.md §2–4 in 1D, written here from scratch (numpy/scipy only; from ssbfv it
uses just the parameter set, the OCP and the Butler–Volmer kinetics), so that the 3D solver can
be checked against it on a tet mesh of the same layered cell.

Equations (SI units; x the thickness direction; I > 0 the discharge current density)
------------------------------------------------------------------------------------
Electrolyte, c = c_e [mol/m^3], phi = phi_e [V], per-cell material (D_e, kappa(c), t+):

    i_e = -kappa(c) dphi/dx + (kappa_D(c)/c) dc/dx,   kappa_D = 2 R T kappa (1 - t+) / F
    d i_e/dx = 0
    dc/dt = -dN/dx,   N = -D_e dc/dx + t+ i_e / F   (Na+ flux; with t+ constant and
                                                      d i_e/dx = 0 this is dc/dt = d/dx(D_e dc/dx))

Solid, c_s, phi_s:  dc_s/dt = d/dx(D_s dc_s/dx),  d/dx(sigma dphi_s/dx) = 0.

Sign conventions and boundary/interface conditions
--------------------------------------------------
Na+ and anion fluxes of the binary electrolyte: N+ = -D dc/dx + t+ i/F, and since
i = F (N+ - N-), the anion flux is N- = N+ - i/F = -D dc/dx - (1 - t+) i/F.
"Anion blocked" (N- . n = 0, Eq. 16 of the 3D paper) therefore means, on any boundary with
outward normal n:  -D n.grad c = (1 - t+) n.i / F,  and then N+ . n = n.i / F (all the current is
carried by Na+).

* Anode, x = 0 (outward normal -x): phi_e = 0. On discharge the electrolyte current flows in +x,
  i_e(0) = I > 0 (Na -> Na+ + e- at the anode; Na+ enters the electrolyte at the rate I/F).
  Anion blocked gives

      -D_e dc_e/dx |_0 = +(1 - t+) i_e(0) / F      (= +(1 - t+) I / F on discharge)

  i.e. the diffusive flux points *into* the cell and c_e is highest at the anode on discharge
  (dc_e/dx < 0 there). (The brief wrote "-(1 - t+) I / F"; with I > 0 in +x and the anion
  blocked the sign is +, as derived above; it is Eq. 16's "sep" line with n.i_e = -I.) The total
  Na+ flux into the electrolyte at the anode is i_e(0)/F (diffusion (1 - t+) i/F + migration
  t+ i/F).
* Interface, x = L_e (electrolyte outward normal +x, solid outward normal -x):
  eta = phi_s - phi_e - U(c_s/c_s,max), i_BV = i0 [exp(a_a f eta) - exp(-a_c f eta)] from
  :class:`ssbfv.solver.kinetics.ButlerVolmer`, i_BV > 0 anodic (Na leaves the solid); on
  discharge i_BV < 0 (= -I in 1D). Current continuity: the electrolyte current at the
  interface (in +x) is i_e(L_e) = -i_BV. Na+ enters the electrolyte at the rate i_BV/F with the
  anion blocked, so

      -D_e dc_e/dx |_{L_e} = -(1 - t+) i_BV / F     (Eq. 16, "etc" line: n.grad c_e = (1-t+) i_BV/(D_e F))

  (on discharge -(1 - t+) i_BV / F = +(1 - t+) I / F: the same diffusive flux as at the anode,
  c_e lowest at the interface). Solid side: sigma dphi_s/dx = i_BV (-sigma n.grad phi_s = i_BV)
  and D_s dc_s/dx = i_BV / F (Na flux -i_BV/F into the solid, in +x).
* Collector, x = L_e + L_s: -sigma dphi_s/dx = I (the current leaves through the collector on
  discharge), no Na flux. Cell voltage V = phi_s(collector) - phi_e(anode) = phi_s(collector).

Bookkeeping: per unit area, d/dt (Na in electrolyte) = i_e(0)/F + i_BV/F, d/dt (Na in solid) =
-i_BV/F, so the total changes by i_e(0)/F = I/F (the discrete potential equations telescope to
i_e(0) = -i_BV = I). ``check_conservation=True`` asserts |dNa - I dt/F| <= rtol |I dt/F| every
step; the relative error of every step is always stored in the result.

Discretisation
--------------
Cell-centred finite volumes, uniform cells within each layer (the number of cells per layer is
proportional to its thickness unless given), cell faces on the layer boundaries; optionally
graded (``grading`` > 1: geometric cell sizes, finest at both ends of every layer and of the
solid slab, for the depletion layers at the interface).
Interior faces: two-point fluxes with harmonic face means of the cell values of kappa(c),
kappa_D(c)/c and D_e (exact for piecewise-constant coefficients on a material boundary);
t+ on a face is the arithmetic mean (all materials of the parameter set share t+ = 0.39).
Boundary faces carry their own unknowns (face values), determined by the flux conditions over
the half cell next to the face: anode c_e; interface c_e, phi_e (electrolyte side) and c_s,
phi_s (solid side). The coefficients of a boundary half-link are evaluated at the face value.
Because the flux condition fixes the gradient *at* the face, this face value is a second-order
accurate extrapolation of the cell value (c_face = c_cell -/+ (h/2) grad_face + O(h^2)); the
Butler–Volmer current is evaluated with these face values (so: second-order surface values,
built from the boundary conditions rather than a polynomial through two interior cells). The
collector potential is the face value phi_s,N - I (h/2)/sigma (exact, phi_s linear there).

Time: implicit Euler, potentials quasi-static. Per step a damped Newton solve of the fully
coupled system (all cell and face unknowns of both domains) with the analytic Jacobian, rows
and columns equilibrated, solved by ``scipy.sparse.linalg.spsolve``. Newton stops when the
update is below ``newton_tol`` (concentrations relative to c_e0 / c_s,max, potentials relative
to RT/F). Damping keeps concentrations positive (and c_s below c_s,max): no step removes more
than 90 % of the distance to a bound; one update changes eta by at most 0.1 V. The t = 0
point is a potential-only solve with all concentrations, the face values included, at their
initial values (t = 0+, the instantaneous "switch-on" voltage). On Newton failure the step is halved
(and regrown by 2x per success up to the nominal dt); below ``dt_min`` the run stops with
reason "newton_failed", results up to the last good step kept.

End of a run (``Result.reason``): "voltage_cutoff" (the step that crosses V_cut is bisected in
dt until V lies within ``v_cut_tol`` of V_cut on the safe side, so the run ends on the cut-off),
"chi_end" (mean chi reaches 0.99 / 0.01; the last step is shortened to hit it exactly, mean chi
being linear in t by conservation), "t_end", "newton_failed", or "max_steps".

Capacity: |I| t in mAh/cm^2 (= |I| t / 36000 with I in A/m^2, t in s).
"""

from __future__ import annotations

import math
import time as _time
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import MatrixRankWarning, spsolve

from ssbfv.solver.kinetics import F, ButlerVolmer, KineticsGuards
from ssbfv.solver.ocp import R

__all__ = ["Result", "solve_layered_1d", "one_c_current_density", "uniform_limit_voltage",
           "Reference1D"]

_TINY = 1e-300


def one_c_current_density(params, L_s: float) -> float:
    """1C current density of the 1D cell [A/m^2]: F (c_s,max - c_s,min) L_s / 3600 s."""
    c_max = float(params.get("solid.c_s_max"))
    c_min = float(params.get("solid.c_s_min") or 0.0)
    return F * (c_max - c_min) * float(L_s) / 3600.0


def uniform_limit_voltage(params, chi, current_density: float, c_e=None) -> np.ndarray:
    """V = U(chi) + eta for a uniform interface current -I (fast transport limit):
    eta = -(1/(alpha f)) asinh(I / (2 i0)) for alpha_a = alpha_c = alpha, I the signed current
    density (> 0 discharge), i0 at c_s = chi c_s,max and c_e (default c_e0)."""
    ocp = params.get("ocp.model")
    T = float(params.get("thermal.T"))
    c_max = float(params.get("solid.c_s_max"))
    a_a = float(params.get("kinetics.alpha_a"))
    a_c = float(params.get("kinetics.alpha_c"))
    if abs(a_a - a_c) > 1e-14:
        raise ValueError("the asinh formula needs alpha_a == alpha_c")
    bv = ButlerVolmer(float(params.get("kinetics.k")), c_max, a_a, a_c, T)
    c_e = float(params.get("initial.c_e0")) if c_e is None else c_e
    chi = np.asarray(chi, dtype=float)
    i0 = bv.exchange_current(chi * c_max, c_e)
    eta = -np.arcsinh(current_density / (2.0 * i0)) / (a_a * bv.f)
    return ocp.U(chi) + eta


@dataclass
class Result:
    """Output of :func:`solve_layered_1d`. Arrays over the recorded points (t = 0 first).

    time_s, voltage_V, capacity_mAh_cm2 (|I| t), chi_mean (solid mean c_s/c_s,max);
    interface history: i_bv [A/m^2], eta [V], c_e_surf, c_s_surf [mol/m^3] (face values);
    conservation_error: relative |dNa - I dt/F| / |I dt/F| per step (NaN at t = 0);
    newton_iterations, dt_s per point (0 at t = 0).
    Final profiles: x_e, c_e, phi_e (electrolyte cell centres), x_s, c_s, phi_s (solid),
    face arrays x_faces_e, x_faces_s, material per electrolyte cell.
    current_density: signed (> 0 discharge) [A/m^2]; reason: why the run ended; v_cut [V];
    n_steps (accepted), n_failed_steps (Newton failures, each followed by a halved step);
    n_floor: electrolyte cell/face values below the conductivity floor, summed over the
    accepted steps; kinetics_guards: clip counts of ButlerVolmer at the recorded states.
    """

    time_s: np.ndarray
    voltage_V: np.ndarray
    capacity_mAh_cm2: np.ndarray
    chi_mean: np.ndarray
    i_bv: np.ndarray
    eta: np.ndarray
    c_e_surf: np.ndarray
    c_s_surf: np.ndarray
    conservation_error: np.ndarray
    newton_iterations: np.ndarray
    dt_s: np.ndarray
    x_e: np.ndarray
    c_e: np.ndarray
    phi_e: np.ndarray
    x_s: np.ndarray
    c_s: np.ndarray
    phi_s: np.ndarray
    x_faces_e: np.ndarray
    x_faces_s: np.ndarray
    material_e: list
    current_density: float
    mode: str
    reason: str
    v_cut: float
    n_steps: int
    n_failed_steps: int
    n_floor: int
    kinetics_guards: dict = field(default_factory=dict)
    wall_time_s: float = 0.0

    @property
    def capacity(self) -> np.ndarray:
        """Alias of capacity_mAh_cm2."""
        return self.capacity_mAh_cm2

    def voltage_at(self, capacity_mAh_cm2) -> np.ndarray:
        """Voltage linearly interpolated at the given capacities [mAh/cm^2]."""
        return np.interp(capacity_mAh_cm2, self.capacity_mAh_cm2, self.voltage_V)


def _graded_faces(n: int, grading: float) -> np.ndarray:
    """Faces on [0, 1] of n cells: uniform for grading 1, else geometric sizes growing from
    both ends to the middle with largest/smallest = grading."""
    if grading < 1.0:
        raise ValueError(f"grading must be >= 1, got {grading}")
    k = np.arange(n)
    m = np.minimum(k, n - 1 - k)
    mmax = int(m.max())
    w = np.ones(n) if (grading == 1.0 or mmax == 0) else grading ** (m / mmax)
    f = np.concatenate([[0.0], np.cumsum(w)])
    return f / f[-1]


class _Layer:
    def __init__(self, params, thickness, material, n):
        if thickness <= 0 or n < 1:
            raise ValueError(f"layer {material!r}: thickness {thickness} m and {n} cells are not valid")
        base = f"electrolyte.{material}"
        try:
            self.D = float(params.get(f"{base}.D_e"))
            self.kappa = params.get(f"{base}.kappa")
            self.t_plus = float(params.get(f"{base}.t_plus"))
        except KeyError as e:
            raise KeyError(f"unknown electrolyte material {material!r}: {e}") from None
        self.thickness = float(thickness)
        self.material = material
        self.n = int(n)


class Reference1D:
    """The discrete 1D problem: grid, unknown layout, residual and analytic Jacobian.

    Unknowns u = [c_e (n_e), phi_e (n_e), c_s (n_s), phi_s (n_s), c_e,anode, c_e,I, phi_e,I,
    c_s,I, phi_s,I] (the last five are face values). Rows have the same order: electrolyte Na
    balance, electrolyte charge balance, solid Na balance, solid charge balance, anode anion
    condition, interface anion condition, interface electrolyte current = -i_BV, solid Na flux
    = i_BV/F, solid current = i_BV. Na rows are multiplied by F (all rows in A/m^2).
    """

    def __init__(self, layers, L_s, params, n_e=200, n_s=200, grading=1.0):
        layers = [(float(t), str(m)) for t, m in layers]
        if not layers:
            raise ValueError("at least one electrolyte layer is needed")
        L_e = sum(t for t, _ in layers)
        if np.ndim(n_e) == 0:
            counts = [max(2, int(round(n_e * t / L_e))) for t, _ in layers]
        else:
            counts = [int(n) for n in n_e]
            if len(counts) != len(layers):
                raise ValueError("n_e given per layer must have one entry per layer")
        self.layers = [_Layer(params, t, m, n) for (t, m), n in zip(layers, counts)]
        self.params = params
        self.L_e, self.L_s = L_e, float(L_s)
        # electrolyte grid
        faces = [np.zeros(1)]
        x0 = 0.0
        for lay in self.layers:
            faces.append(x0 + lay.thickness * _graded_faces(lay.n, grading)[1:])
            x0 += lay.thickness
        self.xf_e = np.concatenate(faces)
        self.xf_e[-1] = L_e
        self.h_e = np.diff(self.xf_e)
        self.x_e = 0.5 * (self.xf_e[1:] + self.xf_e[:-1])
        self.ne = self.x_e.size
        self.slices = []
        k = 0
        for lay in self.layers:
            self.slices.append(slice(k, k + lay.n))
            k += lay.n
        self.mat_e = [lay.material for lay in self.layers for _ in range(lay.n)]
        self.D_e = np.concatenate([np.full(ly.n, ly.D) for ly in self.layers])
        self.t_e = np.concatenate([np.full(ly.n, ly.t_plus) for ly in self.layers])
        # solid grid
        self.ns = int(n_s)
        self.xf_s = L_e + self.L_s * _graded_faces(self.ns, grading)
        self.xf_s[-1] = L_e + self.L_s
        self.h_s = np.diff(self.xf_s)
        self.x_s = 0.5 * (self.xf_s[1:] + self.xf_s[:-1])
        # constants
        self.T = float(params.get("thermal.T"))
        self.theta = R * self.T / F
        self.c_max = float(params.get("solid.c_s_max"))
        self.D_s = float(params.get("solid.D_s"))
        self.sigma = float(params.get("solid.sigma"))
        self.c_e0 = float(params.get("initial.c_e0"))
        self.ocp = params.get("ocp.model")
        self.bv = ButlerVolmer(float(params.get("kinetics.k")), self.c_max,
                               float(params.get("kinetics.alpha_a")), float(params.get("kinetics.alpha_c")),
                               self.T)
        self.guards = KineticsGuards()
        self.max_deta = 0.1  # V, largest overpotential change of one Newton update
        # layout
        ne, ns = self.ne, self.ns
        self.i_ce = np.arange(ne)
        self.i_pe = ne + np.arange(ne)
        self.i_cs = 2 * ne + np.arange(ns)
        self.i_ps = 2 * ne + ns + np.arange(ns)
        b = 2 * ne + 2 * ns
        self.i_A, self.i_ceI, self.i_peI, self.i_csI, self.i_psI = b, b + 1, b + 2, b + 3, b + 4
        self.N = b + 5
        # variable scales for the Newton stopping test
        sc = np.empty(self.N)
        sc[self.i_ce] = self.c_e0
        sc[self.i_pe] = self.theta
        sc[self.i_cs] = self.c_max
        sc[self.i_ps] = self.theta
        sc[[self.i_A, self.i_ceI]] = self.c_e0
        sc[self.i_csI] = self.c_max
        sc[[self.i_peI, self.i_psI]] = self.theta
        self.scale = sc
        # concentration unknowns and their bounds (for damping)
        self.conc_idx = np.concatenate([self.i_ce, [self.i_A, self.i_ceI], self.i_cs, [self.i_csI]])
        ub = np.full(self.conc_idx.size, np.inf)
        ub[ne + 2:] = self.c_max
        self.conc_ub = ub
        # accumulation rows (Na balances of cells) for the static (potential-only) solve
        self.acc_rows = np.concatenate([self.i_ce, self.i_cs])
        self.acc_h = np.concatenate([self.h_e, self.h_s])
        # face concentrations and their neighbour cells (held equal in the static solve)
        self.face_c = np.array([self.i_A, self.i_ceI, self.i_csI])
        self.face_c_cell = np.array([self.i_ce[0], self.i_ce[-1], self.i_cs[0]])
        self.face_w = F * np.array([self.layers[0].D / (0.5 * self.h_e[0]),
                                    self.layers[-1].D / (0.5 * self.h_e[-1]), self.D_s / (0.5 * self.h_s[0])])

    # -- material functions -----------------------------------------------------------------
    def _cond(self, model, c):
        """kappa, dkappa/dc, kappa/c, d(kappa/c)/dc of one conductivity model (floored)."""
        c = np.asarray(c, dtype=float)
        cf = model.floor(c)
        k = model.kappa(cf)
        dk = np.where(c < model.c_floor, 0.0, model.dkappa_dc(cf))
        koc = model.kappa_over_c(cf)
        dkoc = np.where(c < model.c_floor, 0.0, (dk * cf - k) / (cf * cf))
        return k, dk, koc, dkoc

    def _cells_cond(self, c):
        k = np.empty(self.ne)
        dk = np.empty(self.ne)
        g = np.empty(self.ne)
        dg = np.empty(self.ne)
        for lay, s in zip(self.layers, self.slices):
            a, b, koc, dkoc = self._cond(lay.kappa, c[s])
            fac = 2.0 * self.theta * (1.0 - lay.t_plus)  # kappa_D / c = 2 R T (1-t+)/F * kappa/c
            k[s], dk[s], g[s], dg[s] = a, b, fac * koc, fac * dkoc
        return k, dk, g, dg

    def _face_cond(self, lay, c):
        a, b, koc, dkoc = self._cond(lay.kappa, np.array([c]))
        fac = 2.0 * self.theta * (1.0 - lay.t_plus)
        return float(a[0]), float(b[0]), float(fac * koc[0]), float(fac * dkoc[0])

    # -- initial state --------------------------------------------------------------------------
    def initial_guess(self, chi0, I=0.0):
        """Uniform concentrations; potentials of the uniform-current solution (ohmic drops and
        the asinh overpotential at the initial surface values) as the Newton start."""
        u = np.zeros(self.N)
        cs0 = chi0 * self.c_max
        U0 = float(self.ocp.U(chi0))
        u[self.i_ce] = self.c_e0
        u[self.i_cs] = cs0
        u[[self.i_A, self.i_ceI]] = self.c_e0
        u[self.i_csI] = cs0
        k0 = np.concatenate([np.full(ly.n, float(ly.kappa.kappa(np.array([self.c_e0]))[0])) for ly in self.layers])
        phi_f = -I * np.concatenate([[0.0], np.cumsum(self.h_e / k0)])  # ohmic drop at the faces
        u[self.i_pe] = 0.5 * (phi_f[1:] + phi_f[:-1])
        u[self.i_peI] = phi_f[-1]
        i0 = float(self.bv.exchange_current(cs0, self.c_e0))
        alpha = 0.5 * (self.bv.alpha_a + self.bv.alpha_c)
        eta0 = -math.asinh(I / (2.0 * max(i0, _TINY))) / (alpha * self.bv.f)
        u[self.i_psI] = phi_f[-1] + U0 + eta0
        u[self.i_ps] = u[self.i_psI] - I * (self.x_s - self.L_e) / self.sigma
        return u

    def unpack(self, u):
        return u[self.i_ce], u[self.i_pe], u[self.i_cs], u[self.i_ps]

    # -- residual and Jacobian ------------------------------------------------------------------
    def assemble(self, u, c_e_old, c_s_old, dt, I, static=False, jac=True):
        """Residual (and CSR Jacobian) of one implicit Euler step of length dt [s] at the
        signed current density I [A/m^2]. ``static``: the concentrations are held at the old
        values (potential-only solve)."""
        ne, ns = self.ne, self.ns
        c, phi, cs, ps = self.unpack(u)
        zA, zc, zp, zcs, zps = u[self.i_A], u[self.i_ceI], u[self.i_peI], u[self.i_csI], u[self.i_psI]
        Rv = np.zeros(self.N)
        rows, cols, vals = [], [], []

        def add(r, cl, v):
            rows.append(np.atleast_1d(r))
            cols.append(np.atleast_1d(cl))
            vals.append(np.atleast_1d(np.asarray(v, dtype=float)))

        ice, ipe, ics, ips = self.i_ce, self.i_pe, self.i_cs, self.i_ps
        # ---- electrolyte interior faces ----
        k, dk, g, dg = self._cells_cond(c)
        if ne > 1:
            L = np.arange(ne - 1)
            Rr = L + 1
            d = self.x_e[Rr] - self.x_e[L]
            a = 0.5 * self.h_e[L]
            b = 0.5 * self.h_e[Rr]

            def harm(vL, vR):
                den = a / vL + b / vR
                vf = d / den
                return vf, vf * vf * a / (d * vL * vL), vf * vf * b / (d * vR * vR)

            Kf, dKL, dKR = harm(k[L], k[Rr])
            Gf, dGL, dGR = harm(g[L], g[Rr])
            Df, _, _ = harm(self.D_e[L], self.D_e[Rr])
            tf = 0.5 * (self.t_e[L] + self.t_e[Rr])
            dphi = phi[Rr] - phi[L]
            dc = c[Rr] - c[L]
            i_f = (-Kf * dphi + Gf * dc) / d
            FN_f = -F * Df * dc / d + tf * i_f  # F * Na+ flux
            # residual: out of L, into R
            np.add.at(Rv, ipe[L], i_f)
            np.add.at(Rv, ipe[Rr], -i_f)
            np.add.at(Rv, ice[L], FN_f)
            np.add.at(Rv, ice[Rr], -FN_f)
            if jac:
                di_dpL = Kf / d
                di_dpR = -Kf / d
                di_dcL = (-dKL * dk[L] * dphi + dGL * dg[L] * dc - Gf) / d
                di_dcR = (-dKR * dk[Rr] * dphi + dGR * dg[Rr] * dc + Gf) / d
                dN_dcL = F * Df / d + tf * di_dcL
                dN_dcR = -F * Df / d + tf * di_dcR
                for rr, sgn in ((L, 1.0), (Rr, -1.0)):
                    add(ipe[rr], ipe[L], sgn * di_dpL)
                    add(ipe[rr], ipe[Rr], sgn * di_dpR)
                    add(ipe[rr], ice[L], sgn * di_dcL)
                    add(ipe[rr], ice[Rr], sgn * di_dcR)
                    add(ice[rr], ipe[L], sgn * tf * di_dpL)
                    add(ice[rr], ipe[Rr], sgn * tf * di_dpR)
                    add(ice[rr], ice[L], sgn * dN_dcL)
                    add(ice[rr], ice[Rr], sgn * dN_dcR)
        # ---- anode face (x = 0): phi_e = 0, anion blocked ----
        lay0 = self.layers[0]
        hA = 0.5 * self.h_e[0]
        kA, dkA, gA, dgA = self._face_cond(lay0, zA)
        iA = (-kA * phi[0] + gA * (c[0] - zA)) / hA
        diA_dp0 = -kA / hA
        diA_dc0 = gA / hA
        diA_dzA = (-dkA * phi[0] + dgA * (c[0] - zA) - gA) / hA
        # cell 0 receives current iA and Na+ flux iA/F
        Rv[ipe[0]] -= iA
        Rv[ice[0]] -= iA
        # anion condition: -D (c0 - zA)/hA = (1 - t+) iA / F   (times F)
        Rv[self.i_A] = -F * lay0.D * (c[0] - zA) / hA - (1.0 - lay0.t_plus) * iA
        if jac:
            for r in (ipe[0], ice[0]):
                add(r, ipe[0], -diA_dp0)
                add(r, ice[0], -diA_dc0)
                add(r, self.i_A, -diA_dzA)
            om = 1.0 - lay0.t_plus
            add(self.i_A, ice[0], -F * lay0.D / hA - om * diA_dc0)
            add(self.i_A, self.i_A, F * lay0.D / hA - om * diA_dzA)
            add(self.i_A, ipe[0], -om * diA_dp0)
        # ---- interface (x = L_e) ----
        layN = self.layers[-1]
        hI = 0.5 * self.h_e[-1]
        hS = 0.5 * self.h_s[0]
        kI, dkI, gI, dgI = self._face_cond(layN, zc)
        ieI = (-kI * (zp - phi[-1]) + gI * (zc - c[-1])) / hI
        dieI_dzp = -kI / hI
        dieI_dpN = kI / hI
        dieI_dcN = -gI / hI
        dieI_dzc = (-dkI * (zp - phi[-1]) + dgI * (zc - c[-1]) + gI) / hI
        chi = zcs / self.c_max
        eta = zps - zp - float(self.ocp.U(chi))
        ibv_a, G_a = self.bv.current(eta, zcs, zc, self.guards if not jac else None)
        ibv, G = float(ibv_a), float(G_a)
        # derivatives of i_BV w.r.t. the surface concentrations
        csc = min(max(zcs, _TINY), self.c_max)
        dlni0_dcs = 0.5 / csc - 0.5 / max(self.c_max - zcs, _TINY)
        dibv_dzcs = ibv * dlni0_dcs - G * float(self.ocp.dU_dchi(chi)) / self.c_max
        dibv_dzc = ibv * 0.5 / max(zc, _TINY)
        dibv_dzps = G
        dibv_dzp = -G
        om = 1.0 - layN.t_plus
        # last electrolyte cell: current -i_BV and Na+ flux -i_BV/F leave through the interface
        Rv[ipe[-1]] += -ibv
        Rv[ice[-1]] += -ibv
        # first solid cell: current -i_BV and Na flux -i_BV/F enter (in +x)
        Rv[ips[0]] += ibv
        Rv[ics[0]] += ibv
        # face equations
        Rv[self.i_peI] = ieI + ibv
        Rv[self.i_ceI] = -F * layN.D * (zc - c[-1]) / hI + om * ibv
        Rv[self.i_psI] = self.sigma * (ps[0] - zps) / hS - ibv
        Rv[self.i_csI] = F * self.D_s * (cs[0] - zcs) / hS - ibv
        if jac:
            dib = ((self.i_csI, dibv_dzcs), (self.i_ceI, dibv_dzc), (self.i_psI, dibv_dzps),
                   (self.i_peI, dibv_dzp))
            for r, s in ((ipe[-1], -1.0), (ice[-1], -1.0), (ips[0], 1.0), (ics[0], 1.0),
                         (self.i_peI, 1.0), (self.i_ceI, om), (self.i_psI, -1.0), (self.i_csI, -1.0)):
                for cl, v in dib:
                    add(r, cl, s * v)
            add(self.i_peI, self.i_peI, dieI_dzp)
            add(self.i_peI, ipe[-1], dieI_dpN)
            add(self.i_peI, ice[-1], dieI_dcN)
            add(self.i_peI, self.i_ceI, dieI_dzc)
            add(self.i_ceI, self.i_ceI, -F * layN.D / hI)
            add(self.i_ceI, ice[-1], F * layN.D / hI)
            add(self.i_psI, ips[0], self.sigma / hS)
            add(self.i_psI, self.i_psI, -self.sigma / hS)
            add(self.i_csI, ics[0], F * self.D_s / hS)
            add(self.i_csI, self.i_csI, -F * self.D_s / hS)
        # ---- solid interior faces ----
        if ns > 1:
            L = np.arange(ns - 1)
            Rr = L + 1
            d = self.x_s[Rr] - self.x_s[L]
            is_f = -self.sigma * (ps[Rr] - ps[L]) / d
            FN_f = -F * self.D_s * (cs[Rr] - cs[L]) / d
            np.add.at(Rv, ips[L], is_f)
            np.add.at(Rv, ips[Rr], -is_f)
            np.add.at(Rv, ics[L], FN_f)
            np.add.at(Rv, ics[Rr], -FN_f)
            if jac:
                ks = self.sigma / d
                kd = F * self.D_s / d
                for rr, sgn in ((L, 1.0), (Rr, -1.0)):
                    add(ips[rr], ips[L], sgn * ks)
                    add(ips[rr], ips[Rr], -sgn * ks)
                    add(ics[rr], ics[L], sgn * kd)
                    add(ics[rr], ics[Rr], -sgn * kd)
        # collector: current I leaves the last solid cell, no Na flux
        Rv[ips[-1]] += I
        # ---- accumulation ----
        if static:
            # t = 0+: cell and face concentrations are the initial (uniform) ones
            keep = np.ones(self.N)
            keep[self.acc_rows] = 0.0
            keep[self.face_c] = 0.0
            Rv = keep * Rv
            old = np.concatenate([c_e_old, c_s_old])
            Rv[self.acc_rows] = F * self.acc_h * (u[self.acc_rows] - old)
            Rv[self.face_c] = self.face_w * (u[self.face_c] - u[self.face_c_cell])
        else:
            Rv[ice] += F * self.h_e * (c - c_e_old) / dt
            Rv[ics] += F * self.h_s * (cs - c_s_old) / dt
        if not jac:
            return Rv, None, dict(i_bv=ibv, eta=eta, i_A=iA)
        if static:
            add(self.acc_rows, self.acc_rows, F * self.acc_h)
        else:
            add(ice, ice, F * self.h_e / dt)
            add(ics, ics, F * self.h_s / dt)
        J = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(self.N, self.N))
        if static:
            J = sp.diags(keep) @ J
            J = J + sp.csr_matrix((F * self.acc_h, (self.acc_rows, self.acc_rows)), shape=(self.N, self.N))
            J = J + sp.csr_matrix((np.concatenate([self.face_w, -self.face_w]),
                                   (np.concatenate([self.face_c, self.face_c]),
                                    np.concatenate([self.face_c, self.face_c_cell]))), shape=(self.N, self.N))
        return Rv, J, dict(i_bv=ibv, eta=eta, i_A=iA)

    # -- Newton ---------------------------------------------------------------------------------
    @staticmethod
    def _solve(J, rhs):
        J = J.tocsr()
        r = 1.0 / np.maximum(abs(J).max(axis=1).toarray().ravel(), _TINY)
        Jr = sp.diags(r) @ J
        s = 1.0 / np.maximum(abs(Jr).max(axis=0).toarray().ravel(), _TINY)
        Js = (Jr @ sp.diags(s)).tocsc()
        with warnings.catch_warnings():
            warnings.simplefilter("error", MatrixRankWarning)
            y = spsolve(Js, r * rhs)
        return s * y

    def _damping(self, u, du):
        with np.errstate(over="ignore", divide="ignore"):  # a tiny update gives inf: no limit
            return self._damping_factor(u, du)

    def _damping_factor(self, u, du):
        uc = u[self.conc_idx]
        d = du[self.conc_idx]
        lam = 1.0
        m = (d < 0) & (uc > 0)
        if np.any(m):
            lam = min(lam, float(np.min(0.9 * uc[m] / -d[m])))
        ub = self.conc_ub
        m = (d > 0) & (uc < ub) & np.isfinite(ub)
        if np.any(m):
            lam = min(lam, float(np.min(0.9 * (ub[m] - uc[m]) / d[m])))
        # limit the change of the overpotential (the exponential of Butler-Volmer)
        chi = u[self.i_csI] / self.c_max
        deta = du[self.i_psI] - du[self.i_peI] - float(self.ocp.dU_dchi(chi)) * du[self.i_csI] / self.c_max
        if abs(deta) * lam > self.max_deta:
            lam = self.max_deta / abs(deta)
        return lam

    def newton(self, u0, c_e_old, c_s_old, dt, I, static=False, tol=1e-10, max_iter=40):
        """Damped Newton; returns (u, iterations) or (None, iterations) on failure."""
        u = u0.copy()
        for it in range(1, max_iter + 1):
            Rv, J, _ = self.assemble(u, c_e_old, c_s_old, dt, I, static=static)
            if not np.all(np.isfinite(Rv)):
                return None, it
            with np.errstate(all="ignore"):
                try:
                    du = self._solve(J, -Rv)
                except (RuntimeError, MatrixRankWarning):
                    return None, it
            if not np.all(np.isfinite(du)):
                return None, it
            lam = self._damping(u, du)
            u = u + lam * du
            if lam == 1.0 and float(np.max(np.abs(du) / self.scale)) < tol:
                return u, it
        return None, max_iter

    # -- derived quantities ----------------------------------------------------------------------
    def voltage(self, u, I):
        """phi_s at the collector face (phi_s linear over the last half cell)."""
        return float(u[self.i_ps[-1]] - I * 0.5 * self.h_s[-1] / self.sigma)

    def na_total(self, u):
        return float(np.dot(self.h_e, u[self.i_ce]) + np.dot(self.h_s, u[self.i_cs]))

    def chi_mean(self, u):
        return float(np.dot(self.h_s, u[self.i_cs]) / (self.L_s * self.c_max))

    def n_floor(self, u):
        n = 0
        c = u[self.i_ce]
        for lay, s in zip(self.layers, self.slices):
            n += lay.kappa.n_floored(c[s])
        n += self.layers[0].kappa.n_floored([u[self.i_A]]) + self.layers[-1].kappa.n_floored([u[self.i_ceI]])
        return n


def solve_layered_1d(layers: Sequence[tuple[float, str]], L_s: float, params, current_density: float,
                     mode: str = "discharge", n_e=200, n_s: int = 200, dt: float | None = None,
                     t_end: float | None = None, v_cut: float | None = None, *, chi0: float | None = None,
                     chi_end: float | None = None, check_conservation: bool = False,
                     conservation_rtol: float = 1e-8, newton_tol: float = 1e-10, v_cut_tol: float = 1e-4,
                     n_steps_default: int = 400, max_steps: int = 200_000, max_halvings: int = 30,
                     grading: float = 1.0) -> Result:
    """Galvanostatic discharge/charge of the layered 1D cell (see the module docstring).

    layers: [(thickness [m], material), ...] from the anode to the interface, material a key of
    ``params`` under "electrolyte." ("separator", "filler", "polymer"). L_s: active slab
    thickness [m]. params: a ssbfv ParameterSet (use ``with_overrides`` to change D_s, sigma,
    kappa, ...). current_density: magnitude [A/m^2] (> 0); ``mode`` ("discharge"/"charge")
    sets the sign (discharge: current leaves through the collector, chi grows). n_e: total
    electrolyte cells (split over the layers by thickness, at least 2 each) or a list per layer;
    n_s: solid cells. grading: ratio of the largest to the smallest cell within each layer and
    the solid slab (1 = uniform; > 1: geometric sizes, finest at both ends of every layer, i.e.
    at the anode, the material boundaries, the interface and the collector; 5 resolves the
    polymer depletion layer well). dt: nominal time step [s] (default: the nominal duration
    from chi0 to chi_end over ``n_steps_default``). t_end: optional end time [s]. v_cut: cut-off [V]
    (default cutoff.V_min_discharge / V_max_charge). chi0, chi_end: default from the parameter
    set (initial.chi0_*, cutoff.chi_end_*). check_conservation: raise AssertionError when a
    step violates Na conservation by more than ``conservation_rtol`` (relative to I dt/F).
    """
    t_wall = _time.perf_counter()
    if mode not in ("discharge", "charge"):
        raise ValueError(f"mode must be 'discharge' or 'charge', got {mode!r}")
    if not current_density > 0:
        raise ValueError("current_density is a magnitude and must be > 0 (mode sets the sign)")
    dis = mode == "discharge"
    I = float(current_density) if dis else -float(current_density)
    if chi0 is None:
        chi0 = float(params.get("initial.chi0_discharge" if dis else "initial.chi0_charge"))
    if chi_end is None:
        chi_end = float(params.get("cutoff.chi_end_discharge" if dis else "cutoff.chi_end_charge"))
    if v_cut is None:
        v_cut = float(params.get("cutoff.V_min_discharge" if dis else "cutoff.V_max_charge"))
    prob = Reference1D(layers, L_s, params, n_e=n_e, n_s=n_s, grading=grading)
    t_chi = (chi_end - chi0) * F * prob.c_max * prob.L_s / I  # mean chi is linear in t
    if t_chi <= 0:
        raise ValueError(f"chi0 = {chi0} is already past chi_end = {chi_end} for a {mode}")
    if dt is None:
        dt = t_chi / n_steps_default
    dt_nom = float(dt)
    dt_min = dt_nom * 2.0 ** (-max_halvings)
    t_stop = t_chi if t_end is None else min(t_chi, float(t_end))

    def below(V):  # past the cut-off
        return V < v_cut if dis else V > v_cut

    # initial potential-only solve
    u = prob.initial_guess(chi0, I)
    c_e_old, c_s_old = u[prob.i_ce].copy(), u[prob.i_cs].copy()
    u, it0 = prob.newton(u, c_e_old, c_s_old, 1.0, I, static=True, tol=newton_tol, max_iter=100)
    if u is None:
        raise RuntimeError("the initial potential solve did not converge")
    rec = {k: [] for k in ("t", "V", "chi", "ibv", "eta", "ce", "cs", "cons", "it", "dt")}

    def record(u, t, cons, it, dts):
        _, _, info = prob.assemble(u, u[prob.i_ce], u[prob.i_cs], 1.0, I, jac=False)
        rec["t"].append(t)
        rec["V"].append(prob.voltage(u, I))
        rec["chi"].append(prob.chi_mean(u))
        rec["ibv"].append(info["i_bv"])
        rec["eta"].append(info["eta"])
        rec["ce"].append(float(u[prob.i_ceI]))
        rec["cs"].append(float(u[prob.i_csI]))
        rec["cons"].append(cons)
        rec["it"].append(it)
        rec["dt"].append(dts)

    record(u, 0.0, math.nan, it0, 0.0)
    t = 0.0
    reason = "max_steps"
    n_failed = 0
    n_floor = 0
    dt_cur = dt_nom
    n_steps = 0

    def step(u_prev, h):
        return prob.newton(u_prev, u_prev[prob.i_ce], u_prev[prob.i_cs], h, I, tol=newton_tol)

    if below(rec["V"][0]):
        reason = "voltage_cutoff"
    else:
        while n_steps < max_steps:
            remaining = t_stop - t
            if remaining <= 1e-12 * t_stop:
                reason = "chi_end" if t_stop == t_chi else "t_end"
                break
            h = min(dt_cur, remaining)
            if remaining - h < 1e-6 * dt_nom:  # avoid a sliver of a last step
                h = remaining
            u_new, its = step(u, h)
            if u_new is None:
                n_failed += 1
                dt_cur = 0.5 * h
                if dt_cur < dt_min:
                    reason = "newton_failed"
                    break
                continue
            V_new = prob.voltage(u_new, I)
            hit_cut = below(V_new)
            if hit_cut:
                # bisect the step length so that the run ends on the cut-off (safe side)
                lo, hi = 0.0, h
                u_lo, its_lo = None, 0
                for _ in range(200):
                    mid = 0.5 * (lo + hi)
                    u_mid, its_mid = step(u, mid)
                    if u_mid is None or below(prob.voltage(u_mid, I)):
                        hi = mid
                    else:
                        lo, u_lo, its_lo = mid, u_mid, its_mid
                        if abs(prob.voltage(u_mid, I) - v_cut) <= v_cut_tol:
                            break
                    if hi - lo <= 1e-13 * max(t, h):
                        break
                if u_lo is None:  # the cut-off is crossed within a negligible time
                    reason = "voltage_cutoff"
                    break
                u_new, its, h = u_lo, its_lo, lo
            dNa = prob.na_total(u_new) - prob.na_total(u)
            expect = I * h / F
            cons = abs(dNa - expect) / abs(expect)
            if check_conservation and not cons <= conservation_rtol:
                raise AssertionError(f"Na conservation violated at t = {t + h:.6g} s: relative error "
                                     f"{cons:.3e} > {conservation_rtol:.1e}")
            u = u_new
            t += h
            n_steps += 1
            n_floor += prob.n_floor(u)
            record(u, t, cons, its, h)
            if hit_cut:
                reason = "voltage_cutoff"
                break
            if dt_cur < dt_nom:
                dt_cur = min(dt_nom, 2.0 * dt_cur)
        else:
            reason = "max_steps"
    tt = np.array(rec["t"])
    return Result(
        time_s=tt,
        voltage_V=np.array(rec["V"]),
        capacity_mAh_cm2=abs(I) * tt / 36000.0,
        chi_mean=np.array(rec["chi"]),
        i_bv=np.array(rec["ibv"]),
        eta=np.array(rec["eta"]),
        c_e_surf=np.array(rec["ce"]),
        c_s_surf=np.array(rec["cs"]),
        conservation_error=np.array(rec["cons"]),
        newton_iterations=np.array(rec["it"]),
        dt_s=np.array(rec["dt"]),
        x_e=prob.x_e.copy(), c_e=u[prob.i_ce].copy(), phi_e=u[prob.i_pe].copy(),
        x_s=prob.x_s.copy(), c_s=u[prob.i_cs].copy(), phi_s=u[prob.i_ps].copy(),
        x_faces_e=prob.xf_e.copy(), x_faces_s=prob.xf_s.copy(), material_e=list(prob.mat_e),
        current_density=I, mode=mode, reason=reason, v_cut=float(v_cut), n_steps=n_steps,
        n_failed_steps=n_failed, n_floor=int(n_floor),
        kinetics_guards=dict(vars(prob.guards)),
        wall_time_s=_time.perf_counter() - t_wall,
    )
