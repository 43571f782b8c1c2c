r"""The segregated Butler–Volmer coupling of one implicit Euler step (DESIGN.md §2–3, §7).

Unknowns per cell: c_s, phi_s in the solid (active) domain; c_e and psi_e (below) in the
electrolyte domain. One step from t to t + dt repeats *outer iterations* until the two domains agree:

1. solid potential: div(sigma grad phi_s) = 0 with the applied current on the active
   collector faces (outward flux density I_total / A_collector,active) and, on every
   interface face, the Butler–Volmer current linearised in phi_s (a Robin condition,
   :func:`ssbfv.solver.kinetics.robin_solid`) around the last iterate, phi_e fixed. The
   solid-side current i_s per face follows from the solution; sum_f i_s A_f equals the
   applied current exactly (to the linear tolerance).
2. solid concentration: dc_s/dt = div(D_s grad c_s), outward flux i_s / F.
3. electrolyte potential: with t+ uniform and the thermodynamic factor 1, kappa_D / kappa
   = k_D = 2 R T (1 - t+) / F is a constant, so the current i_e = -kappa grad phi_e +
   (kappa_D / c) grad c_e = -kappa grad psi_e with psi_e = phi_e - k_D ln c_e. The solver
   solves div(kappa(c_e) grad psi_e) = 0 with psi_e = -k_D ln c_e on the anode (phi_e = 0)
   and the Butler–Volmer current linearised in psi_e on the interface (robin_electrolyte,
   phi_s fixed at step 1's values, Aitken-relaxed), kappa at the latest c_e; the
   overpotential uses phi_e = psi_e + k_D ln c_e at the face. No diffusion-potential source
   appears, so nothing couples c_e and the potential explicitly in the bulk (an explicit
   diffusion-potential term amplified lateral perturbations near anion-blocking faces by
   the ratio of diffusion-potential to total current, 6 in NaSICON and 20 in PEO, and made
   the outer iterations diverge). The electrolyte-side current i_e per face follows.
4. electrolyte concentration: dc_e/dt = div(D_e grad c_e) (t+ uniform, so the migration
   term has no bulk source) with the anion-blocking fluxes (Eq. 16 of the 3D paper):
   outward -D_e dc_e/dn = -(1 - t+) i_s / F on the interface and (1 - t+) i_anode / F on
   the anode (i_anode: outward current density there, from step 3, scaled so that its
   total equals the applied current).

Convergence (DESIGN.md §7): the area-weighted NRMSD of i_s against i_e below ``nrmsd_tol``
and the largest change of c_s (relative to c_s,max) and c_e (relative to c_e0) between two
outer iterations below ``conc_tol``.

Conservation by construction: c_s and c_e see the *same* interface current array i_s, the
anode flux is scaled to the applied current, so the total sodium content changes by
I dt / F up to the linear solver tolerance, whatever the coupling tolerance; the step
records the relative error.

Non-orthogonal correction: each outer iteration does one linear solve per field with the
correction built from the previous iterate's gradient (deferred correction folded into the
outer loop, as in segregated OpenFOAM solvers); the concentration and potential changes
between iterations, which the convergence test bounds, also bound the lag.

Linear solves are written in increment form, A dx = b - A x_k, so that the CG tolerance is
relative to the remaining change and the residual that could spoil conservation shrinks
with the outer iterations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import kernels
from .diffusion import BoundaryArrays, DiffusionOperator
from .electrolyte import ElectrolyteMaterials
from .parameters.conductivity import C_FLOOR_DEFAULT as C_FLOOR
from .kinetics import F, ButlerVolmer, KineticsGuards, robin_electrolyte, robin_solid
from .linear import AmgCgSolver, DirectSolver, LinearSolveError


class StepFailed(RuntimeError):
    """An implicit step did not converge (or produced an invalid state); retry smaller.

    ``depletion`` is True when the step failed because a concentration reached its bound
    (c_e -> 0, c_s -> 0 or c_s,max, a surface with i0 = 0): the applied current cannot be
    carried there, a physical limit rather than a numerical one."""

    def __init__(self, message, depletion: bool = False):
        super().__init__(message)
        self.depletion = depletion


@dataclass
class CouplingOptions:
    """Numerical settings of the segregated coupling.

    nrmsd_tol : interface-current NRMSD tolerance (DESIGN.md §7: 1e-3)
    conc_tol : max relative change of c_s (/c_s,max) and c_e (/c_e0) between outer iterations
    min_outer, max_outer : outer iterations per step (a step that needs more fails)
    relaxation : under-relaxation factor of the electrolyte interface potential handed to the
        solid (1 = none); with ``aitken`` the starting value of a dynamic factor
    aitken : update the relaxation factor every outer iteration by Aitken's delta-squared
        rule (Küttler & Wall, Comput. Mech. 43 (2008) 61), clipped to [omega_min,
        omega_max]: where the electrolyte conducts far worse than the interface reacts
        (a depleted polymer), the plain iteration contracts by G/(G + kappa/L) -> 1 and
        stalls; the dynamic factor restores fast convergence
    max_potential_change : largest change [V] of an interface potential between two outer
        iterations (a trust region: the exponential Butler–Volmer law linearised far from
        the solution overshoots; near convergence the limit never acts)
    implicit_surface : linearise the Butler–Volmer current with the surface concentrations
        responding to it (:meth:`HalfCellModel.local_current`); off: explicit face values
    linear_tol : relative residual of each (increment) linear solve
    stall_window : fail a step early when the best of the last stall_window iterations is
        not at least 2x better (in units of the tolerances) than all before (0: never)
    direct_below : domains up to this many cells use a sparse LU instead of CG + AMG
    amg_solid, amg_electrolyte : AMG hierarchy of the CG preconditioner for the solid fields
        (phi_s, c_s) and the electrolyte fields (psi_e, c_e): "csr" (smoothed aggregation,
        :class:`ssbfv.solver.amg.SmoothedAggregationHierarchy`) or "rs" (classical
        Ruge–Stüben, :class:`ssbfv.solver.amg.ClassicalHierarchy`). The solid coefficients
        are uniform, where smoothed aggregation is the cheaper of the two; the electrolyte
        ones jump between polymer and NaSICON and, late in a discharge, by a factor of 1e6
        where the polymer is depleted (kappa at its floor), where smoothed aggregation needed
        ~400 CG iterations per solve and classical AMG ~20 (benchmarks/RESULTS.md)
    correctors : extra non-orthogonal corrector solves per field and outer iteration (the
        first solve uses the previous iterate's gradient; 0 leaves the whole correction to
        the outer loop, which converges more slowly on skewed tetrahedra)
    collector : how the applied current enters the active clusters that touch the collector.
        "uniform" (DESIGN.md §4): spread uniformly over the active collector faces, so each
        cluster takes its share of the collector contact area; "equipotential": the
        collector is one conductor, the clusters share one collector potential and the
        current splits between them as their interfaces take it (per outer iteration a
        Newton update of the cluster currents with the clusters' interface conductances;
        within a cluster the current density on the collector faces stays uniform). With
        one cluster on the collector the two are the same.
    collector_tol : with "equipotential", the largest difference [V] between the clusters'
        mean collector potentials at convergence
    conductance_floor : smallest interface conductance G = di/d(phi_s - phi_e) used in the
        Robin linearisations, as a fraction of the area-weighted mean G of the interface. Where a
        surface concentration reaches its bound the current stops depending on the
        potential (G -> 0 while the diffusion-limited current stays finite); an active
        cluster that does not reach the collector and has only such faces then has a
        singular solid-potential matrix with an inconsistent right-hand side, and CG breaks
        down. The floor changes only the linearisation: at convergence of the outer
        iterations the currents are the Butler–Volmer law at the actual potentials,
        whatever G was used (0 switches it off).
    """

    nrmsd_tol: float = 1e-3
    conc_tol: float = 1e-5
    min_outer: int = 2
    max_outer: int = 40
    relaxation: float = 1.0
    aitken: bool = True
    omega_min: float = 0.02
    omega_max: float = 2.0
    max_potential_change: float = 0.05
    implicit_surface: bool = True
    linear_tol: float = 1e-10
    correctors: int = 1
    stall_window: int = 8
    direct_below: int = 3000
    conductance_floor: float = 1e-4
    amg_solid: str = "csr"
    amg_electrolyte: str = "rs"
    collector: str = "uniform"
    collector_tol: float = 1e-6

    def __post_init__(self):
        if self.collector not in ("uniform", "equipotential"):
            raise ValueError(f"collector must be 'uniform' or 'equipotential', got {self.collector!r}")
        if not self.collector_tol > 0:
            raise ValueError(f"collector_tol must be > 0 V, got {self.collector_tol}")
        for name in ("amg_solid", "amg_electrolyte"):
            if getattr(self, name) not in ("csr", "rs", "pyamg"):
                raise ValueError(f"{name} must be 'csr', 'rs' or 'pyamg', got {getattr(self, name)!r}")
        if not (0 < self.relaxation <= 1):
            raise ValueError(f"relaxation must be in (0, 1], got {self.relaxation}")
        if not (self.nrmsd_tol > 0 and self.conc_tol > 0 and self.linear_tol > 0):
            raise ValueError("tolerances must be > 0")
        if not (1 <= self.min_outer <= self.max_outer):
            raise ValueError("need 1 <= min_outer <= max_outer")
        if not (0 <= self.conductance_floor < 1):
            raise ValueError(f"conductance_floor must be in [0, 1), got {self.conductance_floor}")


@dataclass
class HalfCellState:
    """Fields at one time (per domain cell) and the interface data of the last iterate.

    c_s [mol/m^3] per solid cell; the solid potential is phi_s_level + phi_s [V] (a scalar
    level and per-cell deviations: phi_s varies by nanovolts to millivolts around ~3 V, and
    storing the deviation keeps the face currents accurate to round-off, which the exact
    sodium balance needs); c_e [mol/m^3] and psi_e = phi_e - k_D ln c_e [V] per electrolyte
    cell (:meth:`HalfCellModel.phi_e` gives phi_e);
    g_* their gradients (n, 3) used for the non-orthogonal correction; b_* boundary-face
    values of each domain (solid: c_s, phi_s deviation; electrolyte: c_e, psi_e); q_ce the outward
    diffusive flux density of c_e on the electrolyte boundary [mol/m^2/s]; i_if the
    interface current density i_BV [A/m^2] (> 0 anodic) per interface face.
    """

    c_s: np.ndarray
    phi_s: np.ndarray
    c_e: np.ndarray
    psi_e: np.ndarray
    g_cs: np.ndarray
    g_phis: np.ndarray
    g_ce: np.ndarray
    g_psie: np.ndarray
    b_cs: np.ndarray
    b_phis: np.ndarray
    b_ce: np.ndarray
    b_psie: np.ndarray
    q_ce: np.ndarray
    i_if: np.ndarray
    phi_s_level: float = 0.0
    t: float = 0.0

    def phi_s_absolute(self) -> np.ndarray:
        """phi_s per solid cell [V]."""
        return self.phi_s_level + self.phi_s

    def recentre(self) -> None:
        """Move the mean of the solid potential deviation into the level."""
        shift = float(np.mean(self.phi_s))
        self.phi_s_level += shift
        self.phi_s = self.phi_s - shift
        self.b_phis = self.b_phis - shift

    def copy(self) -> "HalfCellState":
        return replace(self, **{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()})


@dataclass
class StepInfo:
    """What one step (or the initial potential solve) took."""

    outer_iterations: int
    nrmsd: float
    conc_change: float
    linear_iterations: int
    conservation_error: float  # |dN - I dt/F| / max(|I dt/F|, 1e-12 N) (NaN for a static solve)
    guards: KineticsGuards
    n_floored: int
    times: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # (nrmsd, conc_change) per outer iteration


# solid surface concentrations within this fraction of 0 or c_s,max get the responding law in the
# convergence check (HalfCellModel._law_at_new_values)
SURFACE_BOUND_BAND = 1e-4


def nrmsd(i_a, i_b, area, range_floor: float = 1.0) -> float:
    """sqrt(sum A (i_a - i_b)^2 / sum A) / (max - min of i_a) (DESIGN.md §7).

    The range is floored at ``range_floor`` times the area-weighted mean |i_a|: a laterally
    uniform current has a range of round-off size, and DESIGN.md asks for the mean |i| as the
    denominator where the range is 0.
    """
    rms = np.sqrt(np.sum(area * (i_a - i_b) ** 2) / np.sum(area))
    rng = float(np.max(i_a) - np.min(i_a))
    mean = float(np.sum(area * np.abs(i_a)) / np.sum(area))
    rng = max(rng, range_floor * mean)
    return float(rms / rng) if rng > 0 else float(rms)


class _Timer:
    def __init__(self, times):
        self.times = times

    def __call__(self, key):
        timer = self

        class _C:
            def __enter__(self_):
                self_.t0 = time.perf_counter()

            def __exit__(self_, *exc):
                timer.times[key] = timer.times.get(key, 0.0) + time.perf_counter() - self_.t0

        return _C()


def _lagged_solve(op, bc, lin, x, g, tol, rhs_extra=None, mass=None, x_old=None, correctors=0,
                  corrector_tol=1e-6, shift=None):
    """Linear solve(s) of the diffusion system in increment form, the non-orthogonal
    correction starting from the lagged gradient g, then up to ``correctors`` more solves
    with the gradient updated (stopping once a correction changes x by less than
    corrector_tol of its range). Returns (x_new,
    updated gradient, outward boundary fluxes [field flux * m^2] and face values consistent
    with the last solve, CG iterations, gradient used by the last solve).

    ``shift``: a one-element list; when given (a problem without Dirichlet faces and without
    a time term, x a deviation from a level), the uniform part of the correction is taken
    out analytically first: c = sum(r) / sum(alpha) (1^T A = alpha per row), the Robin values
    move by -c and c is returned in shift[0] for the caller's level. Solving for a uniform
    millivolt shift through a matrix whose entries are 1e9 times the Robin coefficients
    would otherwise cost ~1e-7 of the current balance in round-off."""
    d = op.domain
    n = d.n_cells
    alpha, rhs0, gam, cond = op.boundary(bc)
    b0 = np.bincount(d.b_cell, weights=rhs0, minlength=n)
    diag = np.zeros(n) if mass is None else mass
    if mass is not None:
        b0 += mass * x_old
    if rhs_extra is not None:
        b0 += rhs_extra
    A = op.matrix(alpha, diag)
    iters = 0
    for j in range(correctors + 1):
        b = b0.copy()
        op.correction(g, gam, b)
        r = b - A @ x
        if shift is not None and j == 0:
            rows = np.bincount(d.b_cell, weights=alpha, minlength=n)
            c = float(r.sum() / rows.sum())
            shift[0] = c
            robin = ~bc.is_dirichlet & (bc.h > 0)
            bc.value[robin] -= c
            rhs0 = rhs0 - np.where(robin, alpha * c, 0.0)
            b0 -= c * rows
            r -= c * rows
        change = 0.0
        if np.any(r != 0.0):
            dx, info = lin.solve(A, r, tol=tol)
            x = x + dx
            iters += info.iterations
            change = float(np.max(np.abs(dx)))
        flux, xb = kernels.boundary_state(x, g, d.b_cell, d.b_k, alpha, rhs0, gam, cond, op.gamma,
                                          bc.is_dirichlet, bc.value)
        g_used = g
        g = op.gradient(x, xb)
        scale = float(np.max(x) - np.min(x))
        if j > 0 and change <= corrector_tol * max(scale, 1e-300):
            break
    return x, g, flux, xb, iters, g_used


class HalfCellModel:
    """Operators, materials and kinetics of a half-cell on a :class:`HalfCellLayout`.

    Parameters
    ----------
    layout : HalfCellLayout
    params : ParameterSet (``nvp_peo_nasicon`` layout: solid.*, electrolyte.<material>.*,
        kinetics.*, thermal.T, initial.c_e0, ocp.model)
    options : CouplingOptions
    material_of_region : optional {electrolyte region: material of the parameter set}
    linear_solver : callable returning a fresh LinearSolver (one per field is made); default
        sparse LU for small domains (``options.direct_below``), CG + AMG otherwise (the
        hierarchy per domain: ``options.amg_solid``, ``options.amg_electrolyte``)
    """

    def __init__(self, layout, params, options: CouplingOptions | None = None, material_of_region=None,
                 linear_solver=None):
        self.layout = layout
        self.params = params
        self.options = options or CouplingOptions()
        need = ["solid.sigma", "solid.D_s", "solid.c_s_max", "kinetics.k", "kinetics.alpha_a",
                "kinetics.alpha_c", "thermal.T", "initial.c_e0", "ocp.model"]
        absent = [p for p in need if p not in params or params.get(p) is None]
        if absent:
            raise ValueError(f"parameter set {params.name!r} lacks values for {absent}")
        self.sigma = float(params.get("solid.sigma"))
        self.D_s = float(params.get("solid.D_s"))
        self.c_s_max = float(params.get("solid.c_s_max"))
        self.c_s_min = float(params.get("solid.c_s_min") or 0.0) if "solid.c_s_min" in params else 0.0
        self.c_e0 = float(params.get("initial.c_e0"))
        self.ocp = params.get("ocp.model")
        self.bv = ButlerVolmer(float(params.get("kinetics.k")), self.c_s_max, float(params.get("kinetics.alpha_a")),
                               float(params.get("kinetics.alpha_c")), float(params.get("thermal.T")))
        s, e = layout.solid, layout.electrolyte
        mesh = layout.mesh
        self.materials = ElectrolyteMaterials(params, mesh.cell_region[e.cells], mesh.region_names, material_of_region)
        self.t_plus = self.materials.t_plus
        self.k_D = self.materials.kappa_d_factor  # 2 R T (1 - t+) / F [V]
        self.op_sigma = DiffusionOperator(s, np.full(s.n_cells, self.sigma))
        self.op_Ds = DiffusionOperator(s, np.full(s.n_cells, self.D_s))
        self.op_De = DiffusionOperator(e, self.materials.D_e)
        if linear_solver is None:
            opt = self.options
            small = max(s.n_cells, e.n_cells) <= opt.direct_below
            amg = {"phi_s": opt.amg_solid, "c_s": opt.amg_solid, "psi_e": opt.amg_electrolyte, "c_e": opt.amg_electrolyte}
            self.lin = {k: DirectSolver() if small else AmgCgSolver(tol=opt.linear_tol, amg=a) for k, a in amg.items()}
        else:
            self.lin = {k: linear_solver() for k in ("phi_s", "c_s", "psi_e", "c_e")}
        # orthogonal meshes (voxel hexahedra) need no non-orthogonal correction solves
        self.correctors = {id(d): (self.options.correctors if _nonorthogonality(d) > 1e-10 else 0) for d in (s, e)}
        self.vol_s = s.cell_volumes
        self.vol_e = e.cell_volumes
        self.area_if = layout.interface_area
        self.area_coll = s.b_area[layout.collector_b]
        self.area_anode = e.b_area[layout.anode_b]
        self.collector_groups = self._collector_groups()

    def _collector_groups(self):
        """None when fewer than two active clusters touch the collector; else (cluster of
        each collector face, cluster of each interface face or -1 for clusters off the
        collector, number of clusters K, collector area per cluster [m^2])."""
        k_coll, k_if, _, n = self.layout.collector_cluster_index()
        if n < 2:
            return None
        return k_coll, k_if, n, np.bincount(k_coll, weights=self.area_coll, minlength=n)

    def collector_potentials(self, st: HalfCellState) -> np.ndarray:
        """Area-weighted mean solid potential [V] on the collector faces of each active cluster
        that touches the collector (one value when a single cluster does)."""
        phi = st.phi_s_level + st.b_phis[self.layout.collector_b]
        if self.collector_groups is None:
            return np.array([float(phi @ self.area_coll) / float(self.area_coll.sum())])
        k_coll, _, K, area_k = self.collector_groups
        return np.bincount(k_coll, weights=self.area_coll * phi, minlength=K) / area_k

    # ------------------------------------------------------------------ states
    def initial_state(self, chi0: float, c_e0: float | None = None, current: float = 0.0) -> HalfCellState:
        """Uniform c_s = chi0 c_s,max, c_e = c_e0, phi_e = 0 and phi_s = U(chi0) + eta with
        eta the overpotential of a uniform interface current carrying ``current`` [A]
        (> 0 discharge): the starting guess of the first potential solve."""
        if not (0.0 < chi0 < 1.0):
            raise ValueError(f"initial chi must lie in (0, 1), got {chi0}")
        s, e = self.layout.solid, self.layout.electrolyte
        c_e0 = self.c_e0 if c_e0 is None else float(c_e0)
        U0 = float(self.ocp.U(chi0))
        if current:
            i_mean = -current / float(self.area_if.sum())  # i_BV < 0 on discharge
            i0 = float(self.bv.exchange_current(chi0 * self.c_s_max, c_e0))
            a = self.bv.alpha_a  # exact for alpha_a = alpha_c, a guess otherwise
            U0 += float(np.arcsinh(i_mean / (2.0 * i0)) / (a * self.bv.f))
        return HalfCellState(
            c_s=np.full(s.n_cells, chi0 * self.c_s_max), phi_s=np.zeros(s.n_cells),
            c_e=np.full(e.n_cells, c_e0), psi_e=np.full(e.n_cells, -self.k_D * np.log(c_e0)),
            g_cs=np.zeros((s.n_cells, 3)), g_phis=np.zeros((s.n_cells, 3)),
            g_ce=np.zeros((e.n_cells, 3)), g_psie=np.zeros((e.n_cells, 3)),
            b_cs=np.full(s.b_face.size, chi0 * self.c_s_max), b_phis=np.zeros(s.b_face.size),
            b_ce=np.full(e.b_face.size, c_e0), b_psie=np.full(e.b_face.size, -self.k_D * np.log(c_e0)),
            q_ce=np.zeros(e.b_face.size), i_if=np.zeros(self.area_if.size), phi_s_level=U0,
        )

    def sodium_content(self, st: HalfCellState) -> tuple[float, float]:
        """(mol of Na in the solid, mol of Na+ in the electrolyte)."""
        return float(self.vol_s @ st.c_s), float(self.vol_e @ st.c_e)

    def phi_e(self, st: HalfCellState) -> np.ndarray:
        """Electrolyte potential per electrolyte cell [V]: psi_e + k_D ln c_e."""
        return st.psi_e + self.k_D * np.log(np.maximum(st.c_e, C_FLOOR))

    def mean_chi(self, st: HalfCellState) -> float:
        return float(self.vol_s @ st.c_s) / (float(self.vol_s.sum()) * self.c_s_max)

    def voltage(self, st: HalfCellState) -> float:
        """Area-weighted mean phi_s on the active collector faces [V] (phi_e(anode) = 0)."""
        return st.phi_s_level + float(self.area_coll @ st.b_phis[self.layout.collector_b] / self.area_coll.sum())

    def one_c_current(self) -> float:
        """1C current [A]: F (c_s,max - c_s,min) V_active / 3600 s (DESIGN.md §4)."""
        return F * (self.c_s_max - self.c_s_min) * self.layout.volume_active / 3600.0

    # ------------------------------------------------------------------ kinetics
    def interface_current(self, b_phis, b_psie, b_cs, b_ce, guards=None):
        """(i_BV, G, eta) per interface face from the domains' boundary-face values (solid
        potential absolute; electrolyte: psi_e, so phi_e = psi_e + k_D ln c_e)."""
        L = self.layout
        cs = b_cs[L.solid_b]
        ce = b_ce[L.electrolyte_b]
        phie = b_psie[L.electrolyte_b] + self.k_D * np.log(np.maximum(ce, C_FLOOR))
        eta = b_phis[L.solid_b] - phie - self.ocp.U(np.clip(cs / self.c_s_max, 1e-12, 1 - 1e-12))
        i, G = self.bv.current(eta, cs, ce, guards)
        return i, G, eta

    def _surface_response(self, dt: float):
        """d c_s,face / d i and d c_e,face / d i per interface face [mol/m^3 per A/m^2]:
        how the face values of the concentration solves move with the interface current:
        through the flux condition of the face (c_b = c_P - (q |S| + k-part) / (D delta),
        q = i / F in the solid and -(1 - t+) i / F in the electrolyte) and through the
        cell value, which changes by dt q A_if / V within a step (A_if: the interface area
        of the cell; exchange with neighbouring cells neglected, which overestimates the
        response and only lowers G). The cell part dominates for small pockets of
        electrolyte enclosed by active material (several interface faces on one cell);
        without it their c_e oscillated with growing amplitude between outer iterations."""
        L = self.layout
        s, e = L.solid, L.electrolyte
        dn_s = s.b_area[L.solid_b] / s.b_delta[L.solid_b]  # normal distance cell -> face [m]
        dn_e = e.b_area[L.electrolyte_b] / e.b_delta[L.electrolyte_b]
        cs_cell, ce_cell = s.b_cell[L.solid_b], e.b_cell[L.electrolyte_b]
        a_s = np.bincount(cs_cell, weights=self.area_if, minlength=s.n_cells)[cs_cell]
        a_e = np.bincount(ce_cell, weights=self.area_if, minlength=e.n_cells)[ce_cell]
        gamma = dn_s / (F * self.D_s) + dt * a_s / (F * self.vol_s[cs_cell])
        beta = (1.0 - self.t_plus) * (dn_e / (F * self.materials.D_e[ce_cell]) + dt * a_e / (F * self.vol_e[ce_cell]))
        return gamma, beta

    def local_current(self, dphi, cs_L, ce_L, i_L, gamma, beta, guards=None, iters: int = 40):
        """Interface current with the surface concentrations responding to it.

        Solves, per face, i = BV(dphi - k_D ln c_e(i) - U(c_s(i)/c_s,max), c_s(i), c_e(i)) with
        dphi = phi_s - psi_e at the face and
        c_s(i) = cs_L - gamma (i - i_L), c_e(i) = ce_L + beta (i - i_L) (the face values of
        the last concentration solves, which carried i_L, and their response to the current;
        ``_surface_response``). Returns (i, G_eff = di/d(dphi)). Near a depleted surface
        (c_e -> 0, or c_s -> 0 or c_s,max) the explicit current would jump by orders of
        magnitude between outer iterations; the local solve keeps the linearisation
        consistent with the diffusion limit. At convergence of the outer iterations
        i = i_L and the result is the plain Butler–Volmer law at the actual face values.

        Safeguarded Newton inside the bracket between 0 and the current at which a
        surface concentration reaches its bound (where i0 = 0); vectorised over faces.
        """
        cmax = self.c_s_max
        ocp, bv, k_D = self.ocp, self.bv, self.k_D

        def evaluate(i, k=slice(None)):
            """B, dB/deta, dB/di at currents i of the faces k."""
            cs = np.clip(cs_L[k] - gamma[k] * (i - i_L[k]), 0.0, cmax)
            ce = np.maximum(ce_L[k] + beta[k] * (i - i_L[k]), 0.0)
            chi = np.clip(cs / cmax, 1e-12, 1 - 1e-12)
            eta = dphi[k] - k_D * np.log(np.maximum(ce, C_FLOOR)) - ocp.U(chi)
            B, B_eta = bv.current(eta, cs, ce)
            # dB/dc_s and dB/dc_e through i0 (0 where a concentration is clipped: i0 = 0 there)
            live = (cs > 0) & (cs < cmax) & (ce > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                d_cs = np.where(live, B * (cmax - 2 * cs) / (2 * cs * (cmax - cs)), 0.0)
                d_ce = np.where(live, B / (2 * ce), 0.0)
            dU = ocp.dU_dchi(chi) / cmax
            dlnc = np.where(ce > C_FLOOR, k_D / np.maximum(ce, C_FLOOR), 0.0)  # d(k_D ln c_e)/dc_e
            dB_di = B_eta * dU * gamma[k] - d_cs * gamma[k] + d_ce * beta[k] - B_eta * dlnc * beta[k]
            return B, B_eta, dB_di

        B0, G0, _ = evaluate(i_L)
        h0 = i_L - B0
        # bracket around the root of h(i) = i - B(i): from i_L towards the bound where a
        # surface concentration reaches its limit (i0 = 0 there, so h = i)
        with np.errstate(divide="ignore"):
            to_ce0 = np.where(beta > 0, ce_L / np.maximum(beta, 1e-300), np.inf)
            to_cs_max = np.where(gamma > 0, (cmax - cs_L) / np.maximum(gamma, 1e-300), np.inf)
            to_cs0 = np.where(gamma > 0, cs_L / np.maximum(gamma, 1e-300), np.inf)
        i_min = i_L - np.minimum(to_ce0, to_cs_max)
        i_max = i_L + to_cs0
        down = h0 > 0  # root below i_L
        lo = np.where(down, i_min, i_L)
        hi = np.where(down, i_L, i_max)
        # an infinite bound (no response) falls back to the explicit current's side
        lo = np.where(np.isfinite(lo), lo, np.minimum(B0, i_L))
        hi = np.where(np.isfinite(hi), hi, np.maximum(B0, i_L))
        ok = np.where(down, lo < 0.0, hi > 0.0) & (hi >= lo) & (h0 != 0.0)
        i = np.clip(B0, lo, hi)
        act = np.flatnonzero(ok)  # faces still iterating (only those are evaluated)
        for _ in range(iters):
            if act.size == 0:
                break
            ia, la, ha = i[act], lo[act], hi[act]
            B, B_eta, dB = evaluate(ia, act)
            h = ia - B
            # shrink the bracket (h increases through the root)
            la = np.where(h < 0, ia, la)
            ha = np.where(h > 0, ia, ha)
            dh = 1.0 - dB
            step = np.where(dh > 0, h / np.where(dh > 0, dh, 1.0), 0.0)
            i_new = ia - step
            bad = (dh <= 0) | (i_new <= la) | (i_new >= ha) | ~np.isfinite(i_new)
            i_new = np.where(bad, 0.5 * (la + ha), i_new)
            i[act], lo[act], hi[act] = i_new, la, ha
            act = act[np.abs(i_new - ia) > 1e-11 * np.maximum(np.abs(ia), 1e-12)]
        B, B_eta, dB = evaluate(i)
        dh = np.maximum(1.0 - dB, 1.0)  # the concentration response only lowers G
        G = B_eta / dh
        # faces where no bracket was found (or already consistent) keep the plain evaluation
        i = np.where(ok, i, B0)
        G = np.where(ok, G, G0)
        dead = ~(G > 0.0)
        if np.any(dead):
            raise StepFailed(f"{int(dead.sum())} interface face(s) with a depleted surface (i0 = 0): the "
                             "current cannot be carried at this step size", depletion=True)
        if guards is not None:
            guards.solid_clipped += int(np.count_nonzero((cs_L - gamma * (i - i_L) < 0) | (cs_L - gamma * (i - i_L) > cmax)))
            guards.electrolyte_clipped += int(np.count_nonzero(ce_L + beta * (i - i_L) < 0))
        return i, G

    def _anode_condition(self, bc, st, dt):
        """phi_e = 0 on the anode, i.e. psi_e = -k_D ln c_b with c_b the anode face value of
        c_e. c_b itself moves with the anode current q (outward current density) through the
        anion-blocking flux condition (c_b = c_P - (1 - t+) q dn / (F D_e), plus the cell's
        own change dt q A / V): linearised, psi_b = psi_b* + R (q - q*), R = (k_D / c_b)
        (1 - t+) / F (dn / D_e + dt A / V), a Robin condition q = (psi_b - psi_b* + R q*) / R.
        Taken explicitly (a Dirichlet value from the last c_b), lateral differences of the
        anode current grew by the factor kappa R / dn ~ 6 per outer iteration. At t = 0+
        (dt None) the face has not responded yet: Dirichlet."""
        L, e = self.layout, self.layout.electrolyte
        ab = L.anode_b
        c_b = np.maximum(st.b_ce[ab], C_FLOOR)
        psi_star = -self.k_D * np.log(c_b)
        if dt is None or self.t_plus >= 1.0:
            bc.is_dirichlet[ab] = True
            bc.value[ab] = psi_star
            return
        cell = e.b_cell[ab]
        dn = e.b_area[ab] / e.b_delta[ab]
        a_cell = np.bincount(cell, weights=self.area_anode, minlength=e.n_cells)[cell]
        R = (self.k_D / c_b) * (1.0 - self.t_plus) / F * (dn / self.materials.D_e[cell] + dt * a_cell / self.vol_e[cell])
        q_star = st.q_ce[ab] * F / (1.0 - self.t_plus)  # outward current density of the last c_e solve
        bc.h[ab] = 1.0 / R
        bc.value[ab] = psi_star - R * q_star

    def _where(self, dom, cell: int) -> str:
        """'in <region> at x = .. um (next to <boundary groups>)' for messages."""
        mesh = self.layout.mesh
        g = dom.cells[cell]
        groups = sorted({dom.group_names[k] for k in dom.b_group[dom.b_cell == cell]})
        near = f", next to {', '.join(groups)}" if groups else ""
        return f"in {mesh.region_names[mesh.cell_region[g]]} at x = {mesh.cell_centres[g, 0] * 1e6:.2f} um{near}"

    def _linearisation(self, phis_x, psie_x, st, resp, guards):
        """(i*, G) of the Butler–Volmer current at the potentials phis_x, psie_x (absolute,
        per boundary face of each domain), with the surface concentrations responding to the
        current (``local_current``) unless ``resp`` is None (static solve, or the option
        is off)."""
        L = self.layout
        if resp is None or not self.options.implicit_surface:
            i, G, _ = self.interface_current(phis_x, psie_x, st.b_cs, st.b_ce, guards)
            return i, self._floored(G)
        dphi = phis_x[L.solid_b] - psie_x[L.electrolyte_b]
        i, G = self.local_current(dphi, st.b_cs[L.solid_b], st.b_ce[L.electrolyte_b], st.i_if, resp[0], resp[1],
                                  guards)
        return i, self._floored(G)

    def _law_at_new_values(self, st, i_s, resp):
        """The Butler–Volmer current at the new face values, for the convergence check.

        The explicit law at the face values, except on faces whose solid surface
        concentration is within ``SURFACE_BOUND_BAND`` of 0 or c_s,max during a time step:
        there i0 ~ sqrt(c_s (c_s,max - c_s)) makes the law infinitely steep in c_s, and it
        drops to 0 inside the concentration solve's own round-off (nvp39 stalled at NRMSD
        3e-2 on a face carrying 25x the mean current whose face value sat 5e-6 above
        c_s,max). On those faces the law is solved with the surface concentrations
        responding to the current around (face values, i_s), as in the linearisation: it
        returns i_s where i_s is consistent with the face values and otherwise lies between
        i_s and the explicit law. Elsewhere (a depleting electrolyte included) the check is
        the explicit law: relaxing it there cost 1.5 mV against the 1D reference."""
        L = self.layout
        i_bv, _, _ = self.interface_current(st.phi_s_level + st.b_phis, st.b_psie, st.b_cs, st.b_ce)
        if resp is None or not self.options.implicit_surface:
            return i_bv
        chi = st.b_cs[L.solid_b] / self.c_s_max
        near = (chi < SURFACE_BOUND_BAND) | (chi > 1.0 - SURFACE_BOUND_BAND)
        if not np.any(near):
            return i_bv
        dphi = st.phi_s_level + st.b_phis[L.solid_b] - st.b_psie[L.electrolyte_b]
        i_loc, _ = self.local_current(dphi, st.b_cs[L.solid_b], st.b_ce[L.electrolyte_b], i_s, resp[0], resp[1])
        return np.where(near, i_loc, i_bv)

    def _floored(self, G):
        """G raised to ``CouplingOptions.conductance_floor`` times its area-weighted mean."""
        if G.size == 0:
            return G
        floor = self.options.conductance_floor * float(G @ self.area_if) / float(self.area_if.sum())
        return np.maximum(G, floor)

    # ------------------------------------------------------------------ one step
    def step(self, old: HalfCellState, dt: float | None, current: float) -> tuple[HalfCellState, StepInfo]:
        """Advance ``old`` by dt [s] at the applied current [A] (> 0: discharge, leaving
        through the collector); ``dt=None`` solves the potentials only (concentrations
        fixed: the state right after the current is switched on). Raises StepFailed."""
        opt = self.options
        L = self.layout
        s, e = L.solid, L.electrolyte
        static = dt is None
        st = old.copy()
        times: dict = {}
        timer = _Timer(times)
        guards = KineticsGuards()
        history = []
        lin_iters = 0
        q_coll = current / self.area_coll.sum()
        mass_s = None if static else self.vol_s / dt
        mass_e = None if static else self.vol_e / dt
        tp = self.t_plus
        conv = False
        res, dc = np.inf, np.inf
        n_floored = 0
        # potentials handed across the interface (relaxed)
        st.recentre()
        phis_x = st.phi_s_level + st.b_phis  # absolute
        psie_x = st.b_psie.copy()
        dmax = opt.max_potential_change
        resp = None if static else self._surface_response(dt)
        omega, r_prev = opt.relaxation, None
        groups = self.collector_groups if opt.collector == "equipotential" else None
        spread = 0.0
        if groups is not None:
            # cluster currents [A] from the last state's interface currents (charge balance of
            # each cluster), the remainder of the applied current spread by collector area
            k_coll, k_if, K, area_k = groups
            on = k_if >= 0
            I_k = -np.bincount(k_if[on], weights=(self.area_if * st.i_if)[on], minlength=K)
            I_k += (current - I_k.sum()) * area_k / area_k.sum()
            V_k = self.collector_potentials(st)
        try:
            for k in range(opt.max_outer):
                # ---------------- solid potential
                with timer("bv"):
                    i_star, G = self._linearisation(phis_x, psie_x, st, resp, guards)
                    h, val = robin_solid(i_star, G, phis_x[L.solid_b])
                with timer("assembly"):
                    st.recentre()  # a uniform level in the solve would cost ~1e-8 in the current balance
                    bc = _bc(s.b_face.size)
                    if groups is None:
                        bc.q[L.collector_b] = q_coll
                    else:
                        # Newton step on the clusters' currents towards one collector potential V:
                        # I_k(V) = I_k - S_k (V - V_k), S_k = sum of A G over the cluster's
                        # interface (raising a cluster's potential by dV lowers the current it
                        # delivers by S_k dV), with sum I_k(V) = the applied current
                        S_k = np.bincount(k_if[on], weights=(self.area_if * G)[on], minlength=K)
                        V = (I_k.sum() + float(S_k @ V_k) - current) / float(S_k.sum())
                        I_k = I_k - S_k * (V - V_k)
                        bc.q[L.collector_b] = (I_k / area_k)[k_coll]
                    bc.h[L.solid_b] = h
                    bc.value[L.solid_b] = val - st.phi_s_level
                with timer("solve_phi_s"):
                    shift = [0.0]
                    st.phi_s, st.g_phis, flux, st.b_phis, it, _ = _lagged_solve(
                        self.op_sigma, bc, self.lin["phi_s"], st.phi_s, st.g_phis, opt.linear_tol,
                        correctors=self.correctors[id(s)], shift=shift)
                    st.phi_s_level += shift[0]
                    lin_iters += it
                i_s = flux[L.solid_b] / self.area_if
                if groups is not None:
                    V_k = self.collector_potentials(st)
                    spread = float(V_k.max() - V_k.min())
                phis_x = phis_x + np.clip(opt.relaxation * (st.phi_s_level + st.b_phis - phis_x), -dmax, dmax)
                # ---------------- solid concentration
                cs_prev = st.c_s
                if not static:
                    with timer("solve_c_s"):
                        bc = _bc(s.b_face.size)
                        bc.q[L.solid_b] = i_s / F
                        st.c_s, st.g_cs, _, st.b_cs, it, _ = _lagged_solve(
                            self.op_Ds, bc, self.lin["c_s"], st.c_s, st.g_cs, opt.linear_tol, mass=mass_s,
                            x_old=old.c_s, correctors=self.correctors[id(s)])
                        lin_iters += it
                # ---------------- electrolyte potential psi_e = phi_e - k_D ln c_e
                with timer("assembly"):
                    op_kappa = DiffusionOperator(e, self.materials.kappa(st.c_e))
                with timer("bv"):
                    i_star, G = self._linearisation(phis_x, psie_x, st, resp, guards)
                    h, val = robin_electrolyte(i_star, G, psie_x[L.electrolyte_b])
                with timer("assembly"):
                    bc = _bc(e.b_face.size)
                    self._anode_condition(bc, st, dt)
                    bc.h[L.electrolyte_b] = h
                    bc.value[L.electrolyte_b] = val
                with timer("solve_psi_e"):
                    st.psi_e, st.g_psie, flux, st.b_psie, it, _ = _lagged_solve(
                        op_kappa, bc, self.lin["psi_e"], st.psi_e, st.g_psie, opt.linear_tol,
                        correctors=self.correctors[id(e)])
                    lin_iters += it
                i_e = -flux[L.electrolyte_b] / self.area_if  # i_e = -kappa grad psi_e: the total current
                i_anode = flux[L.anode_b] / self.area_anode
                # dynamic (Aitken) under-relaxation of the electrolyte interface potential
                r = st.b_psie[L.electrolyte_b] - psie_x[L.electrolyte_b]
                if opt.aitken and r_prev is not None:
                    dr = r - r_prev
                    den = float(dr @ dr)
                    if den > 0.0:
                        omega = float(np.clip(-omega * float(r_prev @ dr) / den, opt.omega_min, opt.omega_max))
                r_prev = r
                psie_x = psie_x + np.clip(omega * (st.b_psie - psie_x), -dmax, dmax)
                # ---------------- electrolyte concentration
                total_if = float(i_s @ self.area_if)
                total_an = float(i_anode @ self.area_anode)
                if abs(total_an) > 1e-12 * max(abs(total_if), 1e-300):
                    i_anode = i_anode * (total_if / total_an)
                else:
                    i_anode = np.full(i_anode.size, total_if / self.area_anode.sum())
                q = np.zeros(e.b_face.size)
                q[L.electrolyte_b] = -(1.0 - tp) * i_s / F
                q[L.anode_b] = (1.0 - tp) * i_anode / F
                st.q_ce = q
                ce_prev = st.c_e
                if not static:
                    with timer("solve_c_e"):
                        bc = _bc(e.b_face.size)
                        bc.q[:] = q
                        st.c_e, st.g_ce, _, st.b_ce, it, _ = _lagged_solve(
                            self.op_De, bc, self.lin["c_e"], st.c_e, st.g_ce, opt.linear_tol, mass=mass_e,
                            x_old=old.c_e, correctors=self.correctors[id(e)])
                        lin_iters += it
                st.i_if = i_s
                if not (np.all(np.isfinite(st.phi_s)) and np.all(np.isfinite(st.psi_e))
                        and np.all(np.isfinite(st.c_s)) and np.all(np.isfinite(st.c_e))):
                    raise StepFailed("non-finite values in the fields")
                # both sides' currents must agree, and agree with the Butler-Volmer law at the
                # new face values (the linearisations are exact only at convergence)
                with timer("bv"):
                    i_bv = self._law_at_new_values(st, i_s, resp)
                res = max(nrmsd(i_s, i_e, self.area_if), nrmsd(i_s, i_bv, self.area_if))
                dc = 0.0 if static else max(float(np.max(np.abs(st.c_s - cs_prev))) / self.c_s_max,
                                            float(np.max(np.abs(st.c_e - ce_prev))) / self.c_e0)
                history.append((res, dc))
                if k + 1 >= opt.min_outer and res <= opt.nrmsd_tol and dc <= opt.conc_tol \
                        and spread <= opt.collector_tol:
                    conv = True
                    break
                # give up early on a stalled iteration (a smaller step is cheaper than 40 sweeps)
                w = opt.stall_window
                if w and len(history) >= 2 * w:
                    err = [max(r / opt.nrmsd_tol, c / opt.conc_tol) for r, c in history]
                    if min(err[-w:]) > 0.5 * min(err[:-w]):
                        raise StepFailed(f"outer iterations stalled after {len(history)} (NRMSD {res:.2e}, "
                                         f"concentration change {dc:.2e})")
        except LinearSolveError as exc:
            raise StepFailed(f"linear solver failed: {exc}") from exc
        if not conv:
            raise StepFailed(f"no convergence in {opt.max_outer} outer iterations (NRMSD {res:.2e}, "
                             f"concentration change {dc:.2e}"
                             + (f", collector potentials {spread:.2e} V apart)" if groups is not None else ")"))
        if not static:
            if st.c_e.min() < 0.0:
                raise StepFailed(f"negative electrolyte concentration ({st.c_e.min():.3e} mol/m^3 "
                                 f"{self._where(L.electrolyte, int(np.argmin(st.c_e)))})", depletion=True)
            if st.c_s.min() < 0.0 or st.c_s.max() > self.c_s_max:
                raise StepFailed(f"solid concentration outside [0, c_s,max] ({st.c_s.min():.4g} .. {st.c_s.max():.6g})",
                                 depletion=True)
        n_floored = self.materials.n_floored(st.c_e)
        cons = np.nan
        if not static:
            n_old = sum(self.sodium_content(old))
            n_new = sum(self.sodium_content(st))
            expected = current * dt / F
            # relative to the expected change (or to 1e-12 of the content for vanishing steps)
            cons = abs((n_new - n_old) - expected) / max(abs(expected), 1e-12 * abs(n_old))
            st.t = old.t + dt
        return st, StepInfo(len(history), res, dc, lin_iters, cons, guards, n_floored, times, history)


def _nonorthogonality(d) -> float:
    """max |k| / |S| over the connections and boundary faces of a domain (k = S - delta d:
    the part of the face area vector not along the cell-centre line; 0 on orthogonal meshes)."""
    S = d.mesh.face_area[d.conn_face]
    k = S - d.conn_delta[:, None] * d.conn_d
    r = np.sqrt((k * k).sum(1) / (S * S).sum(1)) if S.size else np.zeros(0)
    rb = np.sqrt((d.b_k * d.b_k).sum(1)) / d.b_area if d.b_area.size else np.zeros(0)
    return float(max(r.max(initial=0.0), rb.max(initial=0.0)))


def _bc(n: int) -> BoundaryArrays:
    return BoundaryArrays(np.zeros(n, dtype=np.bool_), np.zeros(n), np.zeros(n), np.zeros(n))
