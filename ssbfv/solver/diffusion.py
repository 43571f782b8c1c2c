"""The scalar diffusion operator on an FvDomain, with boundary conditions, an implicit Euler
time term, cell sources and deferred non-orthogonal correction.

Equation (per unit volume), for a field phi with cell-wise coefficient Gamma:

    m dphi/dt - div(Gamma grad phi) = s

discretised as  m_P V_P (phi_P - phi_P^old)/dt + sum_f F_f = s_P V_P  with outward face
fluxes F_f (see ``kernels``). The matrix holds the orthogonal part and the boundary
conditions; the non-orthogonal part Gamma_f k.grad_f phi is added to the right-hand side and
iterated (deferred correction, like OpenFOAM's ``corrected`` scheme with
nNonOrthogonalCorrectors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels
from .bc import BoundaryCondition


@dataclass
class BoundaryArrays:
    """Per boundary face of a domain: Dirichlet flag, value, Robin h, flux q."""

    is_dirichlet: np.ndarray
    value: np.ndarray
    h: np.ndarray
    q: np.ndarray

    @classmethod
    def from_conditions(cls, domain, bcs: dict[str, BoundaryCondition]):
        n = domain.b_face.size
        out = cls(np.zeros(n, dtype=np.bool_), np.zeros(n), np.zeros(n), np.zeros(n))
        for name, bc in bcs.items():
            sl = domain.group_slice(name)
            if not isinstance(bc, BoundaryCondition):
                raise TypeError(f"condition for {name!r} must be Dirichlet, Neumann or Robin, got {type(bc).__name__}")
            is_dir, value, h, q = bc.face_arrays(domain.b_xf[sl], name)
            out.is_dirichlet[sl] = is_dir
            out.value[sl] = value
            out.h[sl] = h
            out.q[sl] = q
        return out

    def anchored(self) -> np.ndarray:
        """Faces that fix the level of the solution (Dirichlet or Robin with h > 0)."""
        return self.is_dirichlet | (self.h > 0.0)


class DiffusionOperator:
    """Diffusion with a cell-wise coefficient on a domain.

    Parameters
    ----------
    domain : FvDomain
    gamma : (n_cells,) coefficient per domain cell (e.g. conductivity [S/m] or D [m^2/s]),
        finite and >= 0
    """

    def __init__(self, domain, gamma):
        gamma = np.ascontiguousarray(gamma, dtype=np.float64)
        if gamma.shape != (domain.n_cells,):
            raise ValueError(f"coefficient must have one value per domain cell ({domain.n_cells}), got {gamma.shape}")
        if not np.all(np.isfinite(gamma)):
            raise ValueError("coefficient contains NaN or infinite values")
        if np.any(gamma < 0.0):
            raise ValueError(f"coefficient must be >= 0 (found {gamma.min():.3g})")
        self.domain = domain
        self.gamma = gamma
        d = domain
        self.gamma_f = kernels.face_coefficients(d.conn_P, d.conn_N, d.conn_wP, gamma)
        self.a_conn = self.gamma_f * d.conn_delta
        self._data = np.empty(d.nnz)
        self._phi_split = np.zeros(d.conn_P.size)

    # ------------------------------------------------------------------ pieces
    def boundary(self, bc: BoundaryArrays):
        d = self.domain
        return kernels.boundary_coefficients(d.b_cell, d.b_area, d.b_delta, self.gamma, bc.is_dirichlet, bc.value, bc.h, bc.q)

    def matrix(self, b_alpha, diag_extra=None):
        """CSR matrix of the implicit part (values refilled into the fixed pattern).

        The returned matrix shares its value array with this operator: copy it if it
        must survive the next call.
        """
        d = self.domain
        if diag_extra is None:
            diag_extra = np.zeros(0)
        kernels.assemble(d.nnz, d.pos_PN, d.pos_NP, d.pos_diag, d.conn_P, d.conn_N, self.a_conn, d.b_cell, b_alpha, diag_extra, self._data)
        return d.matrix(self._data)

    def gradient(self, phi, phi_b):
        """Least-squares cell gradients, using flux-continuous values on material interfaces."""
        d = self.domain
        kernels.interface_values(d.conn_P, d.conn_N, d.conn_wP, self.gamma, phi, d.conn_split, self._phi_split)
        return kernels.ls_gradient(
            phi, d.conn_P, d.conn_N, d.conn_d, d.conn_face, d.conn_split, d.mesh.face_centre, d.xc,
            self._phi_split, d.b_cell, d.b_d, phi_b, d.ls_inverse,
        )

    def correction(self, g, b_gam, rhs):
        """Add the explicit non-orthogonal parts of the face fluxes to rhs (in place)."""
        d = self.domain
        kernels.correction_rhs(g, d.conn_P, d.conn_N, d.conn_wP, d.conn_face, d.mesh.face_area, d.conn_delta,
                               d.conn_d, self.gamma_f, d.b_cell, d.b_k, b_gam, self.gamma, rhs)

    def connection_flux(self, phi, g):
        """Flux from P to N through every connection (same expression as the matrix)."""
        d = self.domain
        kg = np.empty(d.conn_P.size)
        kernels.connection_k_dot(g, d.conn_P, d.conn_N, d.conn_wP, d.conn_face, d.mesh.face_area, d.conn_delta, d.conn_d, kg)
        return self.a_conn * (phi[d.conn_P] - phi[d.conn_N]) - self.gamma_f * kg


@dataclass
class DiffusionSolution:
    phi: np.ndarray  # per domain cell
    gradient: np.ndarray  # (n, 3) gradient used for the last correction
    boundary_flux: np.ndarray  # outward flux per domain boundary face
    boundary_value: np.ndarray  # face value per domain boundary face
    iterations: list  # linear iterations per corrector solve
    correctors: int  # non-orthogonal corrections done
    rebuilt: int  # AMG hierarchy builds during this solve


def solve_diffusion(op: DiffusionOperator, bc: BoundaryArrays, linear_solver, *, source=None,
                    capacity=None, dt=None, phi_old=None, phi0=None, n_correctors=2,
                    corrector_tol=1e-8, tol=1e-10, pinned=None, anderson_depth=0, gradient0=None):
    """Solve one (steady or implicit Euler) diffusion problem with deferred correction.

    Parameters
    ----------
    source : (n,) source density s [field unit * Gamma unit / m^2 per ...], per cell
    capacity, dt, phi_old : implicit Euler term m V (phi - phi_old)/dt (all three or none)
    n_correctors : number of non-orthogonal corrections after the first solve (0: none)
    corrector_tol : stop correcting once max|phi_k - phi_k-1| <= corrector_tol * max|phi|
    anderson_depth : history length of Anderson acceleration of the corrector iteration
        (0: plain deferred correction)
    pinned : optional boolean mask of cells removed from the system (value set to 0; used
        for floating components)
    gradient0 : optional (n, 3) cell gradient for the non-orthogonal correction of the
        first solve (a lagged gradient, e.g. from the previous outer iteration of a coupled
        solve: with ``n_correctors=0`` each call is then a single linear solve and the
        correction converges together with the outer iterations)
    """
    d = op.domain
    n = d.n_cells
    vol = d.cell_volumes
    alpha, rhs0, gam, cond = op.boundary(bc)
    diag_extra = np.zeros(n)
    rhs_base = np.zeros(n)
    np.add.at(rhs_base, d.b_cell, rhs0)
    if source is not None:
        rhs_base += np.asarray(source, dtype=np.float64) * vol
    if dt is not None:
        m = np.asarray(capacity, dtype=np.float64) * vol / dt
        diag_extra += m
        rhs_base += m * phi_old
    A = op.matrix(alpha, diag_extra)
    if pinned is not None and np.any(pinned):
        A = A.copy()
        _pin_rows(A, pinned)
        rhs_base[pinned] = 0.0
    phi = np.zeros(n) if phi0 is None else np.array(phi0, dtype=np.float64)
    g = np.zeros((n, 3)) if gradient0 is None else np.ascontiguousarray(gradient0, dtype=np.float64)
    iters, rebuilt, k = [], 0, 0
    phib = np.zeros(d.b_face.size)
    accel = _Anderson(anderson_depth) if anderson_depth > 0 else None
    for k in range(n_correctors + 1):
        if k > 0:
            _, phib = kernels.boundary_state(phi, g, d.b_cell, d.b_k, alpha, rhs0, gam, cond, op.gamma, bc.is_dirichlet, bc.value)
            g = op.gradient(phi, phib)
            if pinned is not None:
                g[pinned] = 0.0
        rhs = rhs_base.copy()
        if k > 0 or gradient0 is not None:
            op.correction(g, gam, rhs)
            if pinned is not None:
                rhs[pinned] = 0.0
        phi_prev = phi
        phi, info = linear_solver.solve(A, rhs, x0=phi, tol=tol)
        iters.append(info.iterations)
        rebuilt += int(info.rebuilt)
        if k > 0:
            change = np.max(np.abs(phi - phi_prev))
            scale = max(np.max(np.abs(phi)), 1e-300)
            if change <= corrector_tol * scale:
                break
            if accel is not None and k < n_correctors:
                phi = accel.update(phi_prev, phi)
    flux, phib = kernels.boundary_state(phi, g, d.b_cell, d.b_k, alpha, rhs0, gam, cond, op.gamma, bc.is_dirichlet, bc.value)
    return DiffusionSolution(phi, g, flux, phib, iters, k, rebuilt)


def _pin_rows(A, mask):
    """Replace the rows and columns of masked cells by the identity (keeps symmetry; the
    masked cells must only couple to each other)."""
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    sel = mask[rows] | mask[A.indices]
    A.data[sel] = 0.0
    A.data[sel & (rows == A.indices)] = 1.0


class _Anderson:
    """Anderson mixing for the fixed-point iteration x <- G(x) of the deferred correction."""

    def __init__(self, depth):
        self.depth = depth
        self.dx, self.df = [], []
        self.x_last = self.f_last = None

    def update(self, x, gx):
        f = gx - x
        if self.f_last is not None:
            self.dx.append(x - self.x_last)
            self.df.append(f - self.f_last)
            if len(self.dx) > self.depth:
                self.dx.pop(0)
                self.df.pop(0)
        self.x_last, self.f_last = x, f
        if not self.df:
            return gx
        F = np.column_stack(self.df)
        gam, *_ = np.linalg.lstsq(F, f, rcond=None)
        return gx - (np.column_stack(self.dx) + F) @ gam
