r"""The P2D model (DESIGN.md §8) and its finite-volume discretisation.

Model (SI units; x across the cell, 0 at the sodium-metal anode; per unit cell area)
------------------------------------------------------------------------------------
Regions: separator x in (0, L_sep) (electrolyte only, eps_e,sep / tau_e,sep) and composite
cathode x in (L_sep, L_sep + L_cat) (electrolyte eps_e,cat / tau_e,cat, active material
eps_AM / tau_AM in spheres of radius R = D/2). Effective properties per region:

    kappa_eff(c) = kappa(c) eps_e/tau_e,  kappa_D,eff = 2 R T kappa_eff (1 - t+)/F,
    D_e,eff = D_e eps_e/tau_e,            sigma_eff = sigma eps_AM/tau_AM,
    a = 6 eps_AM / D   [m^2 of interface per m^3 of cathode]

Unknowns: c_e(x) [mol/m^3], phi_e(x) [V] (whole cell); phi_s(x) [V] (cathode); c_s(x, r)
[mol/m^3] in 0 <= r <= R (cathode). Interface current density i_BV [A/m^2 of interface],
> 0 anodic (Na leaves the solid, charging), Butler–Volmer of DESIGN.md §3 with the particle
surface concentration c_s(x, R) and the local c_e(x):

    eta  = phi_s - phi_e - U(c_s(R)/c_s,max)
    i0   = F k sqrt(c_s,max - c_s(R)) sqrt(c_s(R)) sqrt(c_e)
    i_BV = i0 [exp(alpha_a f eta) - exp(-alpha_c f eta)],   f = F/(R T)

Electrolyte (quasi-static charge balance, Na+ balance; flux form, t+ per region):

    i_e = -kappa_eff dphi_e/dx + (kappa_D,eff / c_e) dc_e/dx            [A/m^2]
    d i_e/dx = a i_BV                           (a = 0 in the separator)
    eps_e dc_e/dt = -dN/dx + a i_BV / F,   N = -D_e,eff dc_e/dx + t+ i_e / F

Solid: i_s = -sigma_eff dphi_s/dx,  d i_s/dx = -a i_BV  (so i_e + i_s = I everywhere).
Particles (one per x, spherical diffusion, D_s constant or a function of c_s):

    dc_s/dt = (1/r^2) d/dr (r^2 D_s(c_s) dc_s/dr),  dc_s/dr(0) = 0,  -D_s dc_s/dr(R) = i_BV / F

Boundary conditions (sign conventions of tests/reference_1d.py; I > 0 is discharge):
- anode x = 0: phi_e = 0; anion blocked (Eq. 16 of the 3D paper): -D_e,eff dc_e/dx =
  (1 - t+) i_e / F, so the Na+ flux entering is i_e(0)/F;
- separator/cathode face: i_s = 0 (no solid in the separator); electrolyte continuous;
- collector x = L: i_s = I (the applied current), i_e = 0, N = 0.
Cell voltage V = phi_s(L) - phi_e(0) = phi_s(L).

Single-ion conductors (t+ = 1, e.g. LPS): kappa_D = 0, the anion is absent and c_e stays at
c_e0 (the Na+ balance is the charge balance); then c_e is not an unknown. Separator and
cathode must then both be single-ion (mixed cases raise ValueError).

Discretisation
--------------
x: cell-centred finite volumes, separator and cathode cells uniform (or geometrically graded,
finest at both ends of each layer), the layer boundary on a face. Interior faces: two-point
fluxes with harmonic means of the cell values of kappa_eff(c), kappa_D,eff/c and D_e,eff
(exact for piecewise-constant coefficients across the separator/cathode face); t+ on a face is
the arithmetic mean. Anode face: the anion condition is eliminated in closed form over the half
cell next to the face, giving i_e(0) = -K_A phi_e,0 with
K_A = kappa F D / (F D + (1 - t+) kappa_D/c) / (h_0/2) (coefficients of cell 0).
Collector: V = phi_s,N - I (h_N/2)/sigma_eff.
r: finite volumes in each cathode cell, n_r shells with faces uniform in r (``"uniform"``)
or enclosing equal volumes (``"volume"``); nodes at the shell mid-radii; face fluxes
4 pi r_f^2 D_s(c_mean) (c_{k+1} - c_k)/(r_{k+1} - r_k). The particle surface concentration
c_s(R) is an unknown per x cell, tied to the outer shell by the flux condition over the last
half shell, F D_s (c_{N_r} - c_s(R)) / (R - r_{N_r}) = i_BV (second-order surface value).
Butler–Volmer uses c_s(R) and the cell value of c_e.
Time: implicit Euler, potentials quasi-static; one fully coupled nonlinear system per step,
solved by a damped Newton method with the analytic Jacobian (a fixed sparsity pattern filled by
``numpy.bincount``) and ``scipy.sparse.linalg.splu``. The t = 0 point is a potential-only
solve with every concentration (the anode face value included) at its initial value.
Concentrations are kept inside (0, inf) / (0, c_s,max) by a per-component exponential map of
large Newton decrements (see :meth:`P2DSystem._update_conc`), not by a global damping.

All rows are balances per unit cell area in A/m^2 (Na rows multiplied by F), so the sum of the
Na rows telescopes: total Na changes by exactly I dt / F per step up to the Newton residual.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee
from scipy.sparse.linalg import splu

from ..kinetics import EXP_LIMIT, F
from ..ocp import R as R_GAS
from .electrolyte import P2DElectrolyte, electrolyte_from_params
from .geometry import P2DGeometry

__all__ = ["P2DModel", "P2DSystem", "graded_faces"]

_TINY = 1e-300


def graded_faces(n: int, grading: float = 1.0) -> np.ndarray:
    """Faces on [0, 1] of n cells: uniform for grading 1, else geometric sizes growing from
    both ends towards the middle with largest/smallest = grading."""
    if n < 1:
        raise ValueError(f"need at least one cell, got {n}")
    if not grading >= 1.0:
        raise ValueError(f"grading must be >= 1, got {grading}")
    k = np.arange(n)
    m = np.minimum(k, n - 1 - k)
    mmax = int(m.max())
    w = np.ones(n) if (grading == 1.0 or mmax == 0) else grading ** (m / mmax)
    f = np.concatenate([[0.0], np.cumsum(w)])
    return f / f[-1]


def _require(params, path: str):
    if path not in params:
        raise ValueError(f"parameter {path!r} is not in parameter set {params.name!r}")
    v = params.get(path)
    if v is None:
        raise ValueError(f"parameter {path!r} is missing (None) in parameter set {params.name!r}; "
                         f"give it with params.with_overrides({{{path!r}: value}})")
    return v


def _positive(path: str, v) -> float:
    v = float(v)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"parameter {path!r} must be finite and > 0, got {v!r}")
    return v


class P2DModel:
    """Physics of the P2D half-cell: parameter set + geometry + electrolyte choices.

    params : a :class:`~ssbfv.solver.parameters.ParameterSet` (solid.c_s_max, solid.c_s_min,
        solid.sigma, solid.D_s, kinetics.k, kinetics.alpha_a, kinetics.alpha_c, thermal.T,
        initial.c_e0, ocp.model must be set; a None raises ValueError naming it)
    geometry : :class:`P2DGeometry`
    cathode_electrolyte : material name under ``electrolyte.`` of the set (default "polymer" if
        the set has it, else its only material) or a :class:`P2DElectrolyte` (e.g. from
        :func:`electrolyte_from_params` with a ``kappa`` override, or with ``effective=True``
        to give effective kappa and D_e directly)
    separator_electrolyte : likewise (default "separator" if the set has it, else the cathode's)
    D_s : solid diffusion coefficient: None (``solid.D_s`` of the set), a number [m^2/s] or a
        callable D_s(c_s) [c_s in mol/m^3, vectorised]; ``dD_s_dc`` its derivative (central
        differences if omitted)
    """

    def __init__(self, params, geometry: P2DGeometry, cathode_electrolyte: str | P2DElectrolyte | None = None,
                 separator_electrolyte: str | P2DElectrolyte | None = None, *,
                 D_s: float | Callable | None = None, dD_s_dc: Callable | None = None):
        if not isinstance(geometry, P2DGeometry):
            raise TypeError(f"geometry must be a P2DGeometry, got {type(geometry).__name__}")
        self.params = params
        self.geometry = geometry
        mats = sorted({p.split(".")[1] for p in params.paths() if p.startswith("electrolyte.")})
        if cathode_electrolyte is None:
            if "polymer" in mats:
                cathode_electrolyte = "polymer"
            elif len(mats) == 1:
                cathode_electrolyte = mats[0]
            else:
                raise ValueError(f"choose cathode_electrolyte among {mats}")
        if separator_electrolyte is None:
            separator_electrolyte = "separator" if "separator" in mats else cathode_electrolyte
        self.cathode_electrolyte = self._electrolyte(params, cathode_electrolyte)
        self.separator_electrolyte = self._electrolyte(params, separator_electrolyte)
        if self.cathode_electrolyte.single_ion != self.separator_electrolyte.single_ion:
            raise ValueError("separator and cathode electrolytes must both be binary (t+ < 1) or both "
                             "single-ion (t+ = 1)")
        self.single_ion = self.cathode_electrolyte.single_ion

        self.c_s_max = _positive("solid.c_s_max", _require(params, "solid.c_s_max"))
        self.c_s_min = float(_require(params, "solid.c_s_min"))
        if not 0.0 <= self.c_s_min < self.c_s_max:
            raise ValueError(f"parameter 'solid.c_s_min' must lie in [0, c_s_max), got {self.c_s_min!r}")
        self.sigma = _positive("solid.sigma", _require(params, "solid.sigma"))
        self.k = _positive("kinetics.k", _require(params, "kinetics.k"))
        self.alpha_a = _positive("kinetics.alpha_a", _require(params, "kinetics.alpha_a"))
        self.alpha_c = _positive("kinetics.alpha_c", _require(params, "kinetics.alpha_c"))
        self.T = _positive("thermal.T", _require(params, "thermal.T"))
        self.c_e0 = _positive("initial.c_e0", _require(params, "initial.c_e0"))
        self.ocp = _require(params, "ocp.model")
        if not (hasattr(self.ocp, "U") and hasattr(self.ocp, "dU_dchi")):
            raise ValueError("parameter 'ocp.model' must be an OCP model with U(chi) and dU_dchi(chi)")
        if D_s is None:
            D_s = _positive("solid.D_s", _require(params, "solid.D_s"))
        if callable(D_s):
            self.D_s_const = None
            self.D_s_fun = D_s
            self.dD_s_fun = dD_s_dc
        else:
            if isinstance(D_s, bool) or not isinstance(D_s, numbers.Real):
                raise ValueError(f"D_s must be a number or a callable, got {D_s!r}")
            self.D_s_const = _positive("D_s", D_s)
            self.D_s_fun = None
            self.dD_s_fun = None
        self.theta = R_GAS * self.T / F
        self.f = 1.0 / self.theta

    @staticmethod
    def _electrolyte(params, e) -> P2DElectrolyte:
        if isinstance(e, P2DElectrolyte):
            return e
        if isinstance(e, str):
            return electrolyte_from_params(params, e)
        raise TypeError(f"an electrolyte must be a material name or a P2DElectrolyte, got {type(e).__name__}")

    # -- derived --------------------------------------------------------------------------
    @property
    def sigma_eff(self) -> float:
        g = self.geometry
        return self.sigma * g.eps_AM / g.tau_AM

    def one_c_current_density(self) -> float:
        """1C [A/m^2]: F (c_s,max - c_s,min) eps_AM L_cat / 3600 s."""
        g = self.geometry
        return F * (self.c_s_max - self.c_s_min) * g.eps_AM * g.L_cat / 3600.0

    def theoretical_capacity_mAh_per_cm3(self) -> float:
        """F (c_s,max - c_s,min) eps_AM in mAh per cm^3 of cathode."""
        return F * (self.c_s_max - self.c_s_min) * self.geometry.eps_AM / 3.6 / 1e6

    def D_s(self, c):
        """(D_s(c), dD_s/dc) at c [mol/m^3] (arrays; scalars 0-d for a constant D_s)."""
        if self.D_s_fun is None:
            return self.D_s_const, 0.0
        c = np.asarray(c, dtype=np.float64)
        D = np.broadcast_to(np.asarray(self.D_s_fun(c), dtype=np.float64), c.shape)
        if self.dD_s_fun is not None:
            dD = np.broadcast_to(np.asarray(self.dD_s_fun(c), dtype=np.float64), c.shape)
        else:
            h = 1e-6 * self.c_s_max
            dD = (np.asarray(self.D_s_fun(c + h), dtype=np.float64)
                  - np.asarray(self.D_s_fun(c - h), dtype=np.float64)) / (2.0 * h)
        return D, dD

    def __repr__(self) -> str:
        return (f"P2DModel({self.params.name!r}, cathode electrolyte {self.cathode_electrolyte.name!r}, "
                f"separator electrolyte {self.separator_electrolyte.name!r}, {self.geometry})")


class P2DSystem:
    """The discrete P2D problem on a grid: unknown layout, residual, analytic Jacobian, Newton.

    Unknown vector u = [c_e (n_x; absent for single-ion), phi_e (n_x), phi_s (n_c),
    c_s (n_c x n_r, shell index fastest), c_s(R) (n_c)], n_x = n_sep + n_c cells, n_c cathode
    cells. Residual rows in the same order (A/m^2; the c_s(R) rows multiplied by a h).
    """

    def __init__(self, model: P2DModel, n_x_sep: int, n_x_cat: int, n_r: int, *,
                 r_spacing: str = "uniform", x_grading: float = 1.0):
        g = model.geometry
        self.model = model
        n_x_sep, n_x_cat, n_r = int(n_x_sep), int(n_x_cat), int(n_r)
        if g.L_sep > 0 and n_x_sep < 1:
            raise ValueError(f"n_x_sep must be >= 1 for a separator of {g.L_sep} m, got {n_x_sep}")
        if g.L_sep == 0:
            n_x_sep = 0
        if n_x_cat < 1 or n_r < 1:
            raise ValueError(f"n_x_cat and n_r must be >= 1, got {n_x_cat}, {n_r}")
        if r_spacing not in ("uniform", "volume"):
            raise ValueError(f"r_spacing must be 'uniform' or 'volume', got {r_spacing!r}")
        self.ns, self.nc, self.nr = n_x_sep, n_x_cat, n_r
        self.nx = nx = n_x_sep + n_x_cat
        self.r_spacing = r_spacing
        # ---- x grid ----
        parts = []
        if n_x_sep:
            parts.append(g.L_sep * graded_faces(n_x_sep, x_grading)[:-1])
        parts.append(g.L_sep + g.L_cat * graded_faces(n_x_cat, x_grading))
        self.xf = np.concatenate(parts)
        self.h = np.diff(self.xf)
        self.xc = 0.5 * (self.xf[1:] + self.xf[:-1])
        ns, nc, nr = self.ns, self.nc, self.nr
        sep, cat = model.separator_electrolyte, model.cathode_electrolyte
        self.eps_e = np.concatenate([np.full(ns, g.eps_e_sep), np.full(nc, g.eps_e_cat)])
        f_sep = 1.0 if sep.effective else g.eps_e_sep / g.tau_e_sep
        f_cat = 1.0 if cat.effective else g.eps_e_cat / g.tau_e_cat
        self.fe = np.concatenate([np.full(ns, f_sep), np.full(nc, f_cat)])  # k_eff / k_bulk
        self.t_plus = np.concatenate([np.full(ns, sep.t_plus), np.full(nc, cat.t_plus)])
        self.om = 1.0 - self.t_plus
        D_bulk = np.concatenate([np.full(ns, sep.D_e or 0.0), np.full(nc, cat.D_e or 0.0)])
        self.D_eff = D_bulk * self.fe
        self.hc = self.h[ns:]
        self.a = g.specific_area
        self.ah = self.a * self.hc
        self.sig = model.sigma_eff
        # interior electrolyte faces
        self.fL = np.arange(nx - 1)
        self.fR = self.fL + 1
        self.fd = self.xc[1:] - self.xc[:-1]
        self.fa = 0.5 * self.h[:-1]
        self.fb = 0.5 * self.h[1:]
        self.ft = 0.5 * (self.t_plus[:-1] + self.t_plus[1:])
        if not model.single_ion:
            self.fD = self.fd / (self.fa / self.D_eff[:-1] + self.fb / self.D_eff[1:])
        # solid faces between cathode cells
        self.sd = self.xc[ns + 1:] - self.xc[ns:-1]
        # ---- r grid ----
        R = g.radius
        k = np.arange(nr + 1) / nr
        self.rf = R * (k if r_spacing == "uniform" else np.cbrt(k))
        self.rc = 0.5 * (self.rf[1:] + self.rf[:-1])
        self.w = (self.rf[1:] ** 3 - self.rf[:-1] ** 3) / R ** 3  # shell volume / particle volume
        # F eps_AM (3 r_f^2 / R^3) / dr: face coefficient per unit cathode volume and unit D_s
        self.Af = F * g.eps_AM * 3.0 * self.rf[1:-1] ** 2 / R ** 3 / (self.rc[1:] - self.rc[:-1])
        self.delta = R - self.rc[-1]
        # ---- unknown layout ----
        off = 0
        if not model.single_ion:
            self.i_ce = np.arange(nx)
            off = nx
        else:
            self.i_ce = None
        self.i_pe = off + np.arange(nx)
        off += nx
        self.i_ps = off + np.arange(nc)
        off += nc
        self.i_cs = off + np.arange(nc * nr).reshape(nc, nr)
        off += nc * nr
        self.i_sf = off + np.arange(nc)
        off += nc
        self.N = off
        self.jc = ns + np.arange(nc)  # x index of the cathode cells
        theta = model.theta
        sc = np.empty(self.N)
        if self.i_ce is not None:
            sc[self.i_ce] = model.c_e0
        sc[self.i_pe] = theta
        sc[self.i_ps] = theta
        sc[self.i_cs] = model.c_s_max
        sc[self.i_sf] = model.c_s_max
        self.scale = sc
        conc = [self.i_cs.ravel(), self.i_sf]
        if self.i_ce is not None:
            conc.insert(0, self.i_ce)
        self.conc_idx = np.concatenate(conc)
        self.conc_ub = np.where(np.isin(self.conc_idx, self.i_ce if self.i_ce is not None else []), np.inf,
                                model.c_s_max)
        self.static_rows = self.conc_idx  # rows replaced by "c = c_old" in the t = 0 potential solve
        self.c_e_fixed = np.full(nx, model.c_e0)
        self.max_deta = 0.1  # V, largest overpotential change of one Newton update
        # ---- sparsity pattern (from a pattern pass of the assembly) ----
        u0 = self.initial_guess(0.5, 0.0)
        rows, cols = self._assemble(u0, u0, 1.0, 0.0, pattern=True)
        # fill-reducing order (reverse Cuthill-McKee of the symmetrised pattern), applied once:
        # the factorisation then runs with SuperLU's NATURAL column order
        N = self.N
        pat = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(N, N))
        self._perm = np.asarray(reverse_cuthill_mckee((pat + pat.T).tocsr(), symmetric_mode=True), dtype=np.int64)
        inv = np.empty(N, dtype=np.int64)
        inv[self._perm] = np.arange(N)
        prow, pcol = inv[rows], inv[cols]
        key = pcol * N + prow
        ukey, slot = np.unique(key, return_inverse=True)
        self._slot = slot
        self._nnz = ukey.size
        self._indices = (ukey % N).astype(np.int32)
        self._indptr = np.searchsorted(ukey // N, np.arange(N + 1)).astype(np.int32)
        self._escale = self.scale[cols]
        # slots of the static rows and their diagonals (permuted numbering)
        is_static = np.zeros(N, bool)
        is_static[inv[self.static_rows]] = True
        self._static_slots = np.flatnonzero(is_static[self._indices])
        ps_ = inv[self.static_rows]
        diag_key = ps_ * N + ps_
        self._static_diag = np.searchsorted(ukey, diag_key)
        if not np.all(ukey[self._static_diag] == diag_key):
            raise RuntimeError("internal: static rows lack diagonal entries")

    # -- state helpers ----------------------------------------------------------------------
    def split(self, u):
        ce = u[self.i_ce] if self.i_ce is not None else self.c_e_fixed
        return ce, u[self.i_pe], u[self.i_ps], u[self.i_cs], u[self.i_sf]

    def initial_guess(self, chi0: float, I: float) -> np.ndarray:
        """Uniform concentrations (c_e0, chi0 c_s,max); potentials of a uniform reaction (the
        ohmic drop in the separator and the asinh overpotential) as the Newton start."""
        m = self.model
        u = np.zeros(self.N)
        cs0 = chi0 * m.c_s_max
        if self.i_ce is not None:
            u[self.i_ce] = m.c_e0
        u[self.i_cs] = cs0
        u[self.i_sf] = cs0
        k0 = self._cond(np.full(self.nx, m.c_e0))[0]
        phi_f = -I * np.concatenate([[0.0], np.cumsum(self.h[: self.ns] / k0[: self.ns])])
        u[self.i_pe[: self.ns]] = 0.5 * (phi_f[1:] + phi_f[:-1])
        u[self.i_pe[self.ns:]] = phi_f[-1]
        i_bv = -I / (self.a * m.geometry.L_cat)
        i0 = F * m.k * math.sqrt(max(m.c_s_max - cs0, 0.0) * cs0 * m.c_e0)
        eta0 = math.asinh(i_bv / (2.0 * max(i0, 1e-30))) / (0.5 * (m.alpha_a + m.alpha_c) * m.f)
        u[self.i_ps] = phi_f[-1] + float(m.ocp.U(chi0)) + eta0
        return u

    def voltage(self, u, I) -> float:
        """phi_s at the collector face: phi_s,N - I (h_N/2)/sigma_eff."""
        return float(u[self.i_ps[-1]] - I * 0.5 * self.hc[-1] / self.sig)

    def na_electrolyte(self, u) -> float:
        ce = u[self.i_ce] if self.i_ce is not None else self.c_e_fixed
        return float(np.dot(self.eps_e * self.h, ce))

    def na_solid(self, u) -> float:
        return float(self.model.geometry.eps_AM * np.dot(self.hc, u[self.i_cs] @ self.w))

    def na_total(self, u) -> float:
        """Sodium per unit cell area [mol/m^2] in the electrolyte and the particles."""
        return self.na_electrolyte(u) + self.na_solid(u)

    def chi_mean(self, u) -> float:
        """Mean c_s / c_s,max over the active material."""
        return float(np.dot(self.hc, u[self.i_cs] @ self.w) / (self.model.geometry.L_cat * self.model.c_s_max))

    def n_floored(self, u) -> int:
        """Electrolyte cells whose c_e lies below the conductivity model's c_floor."""
        if self.i_ce is None:
            return 0
        ce = u[self.i_ce]
        m = self.model
        return int(m.separator_electrolyte.kappa.n_floored(ce[: self.ns])
                   + m.cathode_electrolyte.kappa.n_floored(ce[self.ns:]))

    # -- material functions -------------------------------------------------------------------
    def _cond(self, c):
        """Effective kappa, dkappa/dc, g = kappa_D/c, dg/dc per x cell."""
        m = self.model
        ns = self.ns
        k = np.empty(self.nx)
        dk = np.empty(self.nx)
        cf = np.empty(self.nx)
        for sl, e in ((slice(0, ns), m.separator_electrolyte), (slice(ns, self.nx), m.cathode_electrolyte)):
            if sl.stop > sl.start:
                cc = c[sl]
                cf[sl] = e.kappa.floor(cc)
                k[sl] = e.kappa.kappa(cc)
                dk[sl] = e.kappa.dkappa_dc(cc)
        k *= self.fe
        dk *= self.fe
        if self.i_ce is None:
            return k, dk, None, None
        fac = 2.0 * m.theta * self.om
        g = fac * k / cf
        dg = np.where(c < cf, 0.0, fac * (dk * cf - k) / (cf * cf))
        return k, dk, g, dg

    # -- residual and Jacobian ------------------------------------------------------------------
    def _assemble(self, u, u_old, dt, I, pattern=False, jac=True, static=False):
        """Residual and Jacobian entries of one implicit Euler step (dt [s], signed I [A/m^2]).
        pattern=True: returns (rows, cols) of the Jacobian entries in assembly order.
        static=True (the t = 0 potential solve): the anode face concentration equals the cell's
        (no diffusion layer yet), as all concentrations are held at their initial values."""
        m = self.model
        binary = self.i_ce is not None
        ce, pe, ps, cs, sf = self.split(u)
        ice, ipe, ips, ics, isf = self.i_ce, self.i_pe, self.i_ps, self.i_cs, self.i_sf
        Rv = np.zeros(self.N)
        rows, cols, vals, shp = [], [], [], []

        if pattern:
            def add(r, c, v):
                rr, cc = np.broadcast_arrays(np.asarray(r), np.asarray(c))
                shp.append(rr.shape)
                rows.append(rr.ravel())
                cols.append(cc.ravel())
        elif jac:
            buf = np.empty(self._n_entries)
            views = self._views(buf)
            counter = iter(views)

            def add(r, c, v):
                next(counter)[...] = v
        else:
            def add(r, c, v):
                pass

        # ---- electrolyte interior faces ----
        k, dk, g, dg = self._cond(ce)
        L, Rr, d = self.fL, self.fR, self.fd
        if self.nx > 1:
            a, b = self.fa, self.fb
            kL, kR = k[L], k[Rr]
            Kf = d / (a / kL + b / kR)
            dphi = pe[Rr] - pe[L]
            i_f = -Kf * dphi / d
            if binary:
                gL, gR = g[L], g[Rr]
                Gf = d / (a / gL + b / gR)
                dc = ce[Rr] - ce[L]
                i_f = i_f + Gf * dc / d
                FN = -F * self.fD * dc / d + self.ft * i_f
                Rv[ice[L]] += FN
                Rv[ice[Rr]] -= FN
            Rv[ipe[L]] += i_f
            Rv[ipe[Rr]] -= i_f
            if jac:
                di_dpL = Kf / d
                di_dpR = -di_dpL
                if binary:
                    dKL = Kf * Kf * a / (d * kL * kL)
                    dKR = Kf * Kf * b / (d * kR * kR)
                    dGL = Gf * Gf * a / (d * gL * gL)
                    dGR = Gf * Gf * b / (d * gR * gR)
                    di_dcL = (-dKL * dk[L] * dphi + dGL * dg[L] * dc - Gf) / d
                    di_dcR = (-dKR * dk[Rr] * dphi + dGR * dg[Rr] * dc + Gf) / d
                    dN_dcL = F * self.fD / d + self.ft * di_dcL
                    dN_dcR = -F * self.fD / d + self.ft * di_dcR
                    for r, s in ((ipe[L], 1.0), (ipe[Rr], -1.0)):
                        add(r, ipe[L], s * di_dpL)
                        add(r, ipe[Rr], s * di_dpR)
                        add(r, ice[L], s * di_dcL)
                        add(r, ice[Rr], s * di_dcR)
                    for r, s in ((ice[L], 1.0), (ice[Rr], -1.0)):
                        add(r, ipe[L], s * self.ft * di_dpL)
                        add(r, ipe[Rr], s * self.ft * di_dpR)
                        add(r, ice[L], s * dN_dcL)
                        add(r, ice[Rr], s * dN_dcR)
                else:
                    for r, s in ((ipe[L], 1.0), (ipe[Rr], -1.0)):
                        add(r, ipe[L], s * di_dpL)
                        add(r, ipe[Rr], s * di_dpR)
        # ---- anode face: phi_e = 0, anion blocked (eliminated over the half cell) ----
        hA = 0.5 * self.h[0]
        if binary and not static:
            FD = F * self.D_eff[0]
            om0 = self.om[0]
            den = FD + om0 * g[0]
            KA = k[0] * FD / den / hA
            dKA = FD * (dk[0] * den - k[0] * om0 * dg[0]) / (den * den) / hA
        else:
            KA = k[0] / hA
            dKA = dk[0] / hA
        iA = -KA * pe[0]
        Rv[ipe[0]] -= iA
        if binary:
            Rv[ice[0]] -= iA
        if jac:
            add(ipe[0], ipe[0], KA)
            if binary:
                add(ipe[0], ice[0], dKA * pe[0])
                add(ice[0], ipe[0], KA)
                add(ice[0], ice[0], dKA * pe[0])
        # ---- Butler-Volmer in the cathode cells ----
        jc = self.jc
        cmax = m.c_s_max
        csc = np.clip(sf, 0.0, cmax)
        cec = np.maximum(ce[jc], 0.0)
        chi = sf / cmax
        U = m.ocp.U(chi)
        eta = ps - pe[jc] - U
        i0 = F * m.k * np.sqrt((cmax - csc) * csc * cec)
        ea = np.exp(np.clip(m.alpha_a * m.f * eta, -EXP_LIMIT, EXP_LIMIT))
        ec = np.exp(np.clip(-m.alpha_c * m.f * eta, -EXP_LIMIT, EXP_LIMIT))
        ibv = i0 * (ea - ec)
        ah = self.ah
        src = ah * ibv
        Rv[ipe[jc]] -= src
        if binary:
            Rv[ice[jc]] -= src
        Rv[ips] += src
        Rv[ics[:, -1]] += src
        # surface row: a h [F D_s (c_N - c_s(R)) / delta - i_BV]
        cN = cs[:, -1]
        Dsf, dDsf = m.D_s(0.5 * (cN + sf))
        Rv[isf] += ah * (F * Dsf * (cN - sf) / self.delta - ibv)
        if jac:
            G = i0 * m.f * (m.alpha_a * ea + m.alpha_c * ec)
            dU = m.ocp.dU_dchi(chi)
            dib_dsf = ibv * (0.5 / np.maximum(csc, _TINY) - 0.5 / np.maximum(cmax - csc, _TINY)) - G * dU / cmax
            dcols = [(ips, ah * G), (ipe[jc], -ah * G), (isf, ah * dib_dsf)]
            if binary:
                dcols.append((ice[jc], ah * ibv * 0.5 / np.maximum(cec, _TINY)))
            rsg = [(ipe[jc], -1.0), (ips, 1.0), (ics[:, -1], 1.0), (isf, -1.0)]
            if binary:
                rsg.append((ice[jc], -1.0))
            for r, s in rsg:
                for c, v in dcols:
                    add(r, c, s * v)
            q = ah * F / self.delta
            add(isf, ics[:, -1], q * (Dsf + 0.5 * dDsf * (cN - sf)))
            add(isf, isf, q * (-Dsf + 0.5 * dDsf * (cN - sf)))
        # ---- solid potential ----
        if self.nc > 1:
            sL = np.arange(self.nc - 1)
            sR = sL + 1
            is_f = -self.sig * (ps[sR] - ps[sL]) / self.sd
            Rv[ips[sL]] += is_f
            Rv[ips[sR]] -= is_f
            if jac:
                ks = self.sig / self.sd
                add(ips[sL], ips[sL], ks)
                add(ips[sL], ips[sR], -ks)
                add(ips[sR], ips[sL], -ks)
                add(ips[sR], ips[sR], ks)
        Rv[ips[-1]] += I
        # ---- particles ----
        geo = m.geometry
        if self.nr > 1:
            cL = cs[:, :-1]
            cR = cs[:, 1:]
            Dfc, dDfc = m.D_s(0.5 * (cL + cR))
            coef = self.hc[:, None] * self.Af[None, :]
            FJ = -coef * Dfc * (cR - cL)
            Rv[ics[:, :-1]] += FJ
            Rv[ics[:, 1:]] -= FJ
            if jac:
                extra = -coef * dDfc * 0.5 * (cR - cL)
                dL = coef * Dfc + extra
                dR = -coef * Dfc + extra
                add(ics[:, :-1], ics[:, :-1], dL)
                add(ics[:, :-1], ics[:, 1:], dR)
                add(ics[:, 1:], ics[:, :-1], -dL)
                add(ics[:, 1:], ics[:, 1:], -dR)
        # ---- accumulation ----
        ce_old = u_old[ice] if binary else None
        acc_s = F * geo.eps_AM * self.hc[:, None] * self.w[None, :] / dt
        Rv[ics] += acc_s * (cs - u_old[ics])
        if jac:
            add(ics, ics, acc_s)
        if binary:
            acc_e = F * self.eps_e * self.h / dt
            Rv[ice] += acc_e * (ce - ce_old)
            if jac:
                add(ice, ice, acc_e)
        if pattern:
            self._shapes = shp
            sizes = [int(np.prod(x)) for x in shp]
            self._offsets = [(int(o), int(o) + n, x) for o, n, x in zip(np.cumsum([0] + sizes[:-1]), sizes, shp)]
            self._n_entries = sum(sizes)
            return np.concatenate(rows), np.concatenate(cols)
        info = dict(i_bv=ibv, eta=eta, i_A=iA)
        if not jac:
            return Rv, None, info
        return Rv, buf, info

    def _views(self, buf):
        """Views of buf, one per Jacobian block, shaped like the block (assembly order)."""
        return [buf[a:b].reshape(shp) for a, b, shp in self._offsets]

    def residual_jacobian(self, u, u_old, dt, I, static=False):
        """(residual, scaled CSC Jacobian dR/dy with y = u / scale, info); the Jacobian's rows
        and columns are in the permuted order ``self._perm`` (use :meth:`solve_linear`)."""
        Rv, vals, info = self._assemble(u, u_old, dt, I, static=static)
        data = np.bincount(self._slot, weights=vals * self._escale, minlength=self._nnz)
        if static:
            Rv[self.static_rows] = (u[self.static_rows] - u_old[self.static_rows]) / self.scale[self.static_rows]
            data[self._static_slots] = 0.0
            data[self._static_diag] = 1.0
        J = sp.csc_matrix((data, self._indices, self._indptr), shape=(self.N, self.N))
        return Rv, J, info

    def solve_linear(self, J, rhs):
        """Solve J y = rhs for the (permuted) Jacobian of :meth:`residual_jacobian`; rhs and y
        in the natural unknown order."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lu = splu(J, permc_spec="NATURAL")
        y = np.empty_like(rhs)
        y[self._perm] = lu.solve(rhs[self._perm])
        return y

    def jacobian(self, u, u_old, dt, I, static=False):
        """dR/du (unscaled, natural unknown order) as CSR, e.g. to check against differences."""
        _, J, _ = self.residual_jacobian(u, u_old, dt, I, static=static)
        inv = np.empty(self.N, dtype=np.int64)
        inv[self._perm] = np.arange(self.N)
        Jn = J.tocsr()[inv][:, inv]
        return (Jn @ sp.diags(1.0 / self.scale)).tocsr()

    def residual(self, u, u_old, dt, I):
        Rv, _, info = self._assemble(u, u_old, dt, I, jac=False)
        return Rv, info

    # -- Newton -------------------------------------------------------------------------------
    def _damping(self, u, du):
        """Largest lam <= 1 with |lam d eta| <= max_deta in every cathode cell."""
        m = self.model
        chi = u[self.i_sf] / m.c_s_max
        deta = du[self.i_ps] - du[self.i_pe[self.jc]] - m.ocp.dU_dchi(chi) * du[self.i_sf] / m.c_s_max
        dmax = float(np.max(np.abs(deta)))
        return 1.0 if dmax <= self.max_deta else self.max_deta / dmax

    def _update_conc(self, c, dc, ub):
        """Positivity- (and c_s,max-) preserving update of concentrations: c + dc where that stays
        at least halfway inside the bounds, else c exp(dc/c) (decrease) or
        ub - (ub - c) exp(-dc/(ub - c)) (increase); identical to first order in dc, so Newton
        keeps its quadratic convergence, but no component can leave its interval and no global
        damping is needed for depleted cells."""
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            out = c + dc
            lo = dc < -0.5 * c
            if lo.any():
                out[lo] = c[lo] * np.exp(dc[lo] / c[lo])
            if ub is not None:
                gap = ub - c
                hi = dc > 0.5 * gap
                if hi.any():
                    out[hi] = ub - gap[hi] * np.exp(-dc[hi] / gap[hi])
        return out

    def newton(self, u0, u_old, dt, I, *, static=False, tol=1e-9, max_iter=15, n_stall=3, lam_stall=1e-3):
        """Damped Newton from u0 for the step from u_old of length dt. Returns (u, iterations)
        or (None, iterations) on failure. Converged when a full (undamped) update is below tol
        in the scaled variables (c_s / c_s,max, c_e / c_e0, phi / (RT/F)). Fails after max_iter
        iterations, on a non-finite or singular system, or when the damping factor stays below
        lam_stall for n_stall iterations in a row (the Newton direction is useless: typically no
        solution with the requested current, e.g. all reaction sites exhausted)."""
        u = u0.copy()
        ice = self.i_ce
        ics = self.i_cs.ravel()
        isf = self.i_sf
        cmax = self.model.c_s_max
        stalled = 0
        for it in range(1, max_iter + 1):
            Rv, J, _ = self.residual_jacobian(u, u_old, dt, I, static=static)
            if not np.all(np.isfinite(Rv)):
                return None, it
            try:
                dy = self.solve_linear(J, -Rv)
            except RuntimeError:
                return None, it
            if not np.all(np.isfinite(dy)):
                return None, it
            du = dy * self.scale
            lam = self._damping(u, du)
            stalled = stalled + 1 if lam < lam_stall else 0
            if stalled >= n_stall:
                return None, it
            un = u + lam * du
            if ice is not None:
                un[ice] = self._update_conc(u[ice], lam * du[ice], None)
            un[ics] = self._update_conc(u[ics], lam * du[ics], cmax)
            un[isf] = self._update_conc(u[isf], lam * du[isf], cmax)
            u = un
            if lam == 1.0 and float(np.max(np.abs(dy))) < tol:
                return u, it
        return None, max_iter
