"""Numba kernels of the finite-volume diffusion operator (no Python loops over faces/cells).

Notation (per connection c between cells P and N, or per boundary face b of cell P):
S the area vector (out of P), d the vector from P's centre to N's (image) centre or to the
boundary face centre, delta = |S| / max(n.d, 0.05 |d|) (the over-relaxed orthogonal
coefficient, [m]), k = S - delta d (the non-orthogonal remainder, tangential to the face).
The outward flux of P through a face is  F = -Gamma_f (delta (phi_N - phi_P) + k.grad_f phi).
"""

from __future__ import annotations

import numba as nb
import numpy as np

ORTHO_GUARD = 0.05  # as OpenFOAM: n.d is bounded below by 0.05 |d|


def normal_distances(S, XP, XF, XN):
    """Distances from P's centre and from N's centre to the face plane along the unit
    normal, each bounded below by ORTHO_GUARD times the centre-to-face distance [m]."""
    n = S / np.linalg.norm(S, axis=1)[:, None]
    dPf = np.einsum("ij,ij->i", n, XF - XP)
    dfN = np.einsum("ij,ij->i", n, XN - XF)
    dPf = np.maximum(dPf, ORTHO_GUARD * np.linalg.norm(XF - XP, axis=1))
    dfN = np.maximum(dfN, ORTHO_GUARD * np.linalg.norm(XN - XF, axis=1))
    return dPf, dfN


def delta_coefficient(S, d):
    """|S| / max(n.d, ORTHO_GUARD |d|) [m]: |S|^2/(d.S) on reasonable meshes."""
    mag = np.linalg.norm(S, axis=1)
    nd = np.einsum("ij,ij->i", S, d) / mag
    return mag / np.maximum(nd, ORTHO_GUARD * np.linalg.norm(d, axis=1))


@nb.njit(cache=True)
def _add_outer(M, c, r, w):
    for i in range(3):
        for j in range(3):
            M[c, i, j] += w * r[i] * r[j]


@nb.njit(cache=True)
def ls_inverse(n_cells, P, N, d, rPf, rNf, split, b_cell, b_d):
    """Inverse least-squares matrices (sum_j w_j r_j r_j^T)^-1, w_j = 1/|r_j|^2, per cell.

    r_j runs over the vectors to the neighbour (image) centres, or to the face centre where
    the connection crosses a material interface (split), and to boundary face centres.
    """
    M = np.zeros((n_cells, 3, 3))
    r = np.empty(3)
    for c in range(P.shape[0]):
        if split[c]:
            for k in range(3):
                r[k] = rPf[c, k]
            _add_outer(M, P[c], r, 1.0 / (r[0] ** 2 + r[1] ** 2 + r[2] ** 2))
            for k in range(3):
                r[k] = rNf[c, k]
            _add_outer(M, N[c], r, 1.0 / (r[0] ** 2 + r[1] ** 2 + r[2] ** 2))
        else:
            for k in range(3):
                r[k] = d[c, k]
            w = 1.0 / (r[0] ** 2 + r[1] ** 2 + r[2] ** 2)
            _add_outer(M, P[c], r, w)
            _add_outer(M, N[c], r, w)
    for b in range(b_cell.shape[0]):
        for k in range(3):
            r[k] = b_d[b, k]
        _add_outer(M, b_cell[b], r, 1.0 / (r[0] ** 2 + r[1] ** 2 + r[2] ** 2))
    inv = np.empty_like(M)
    for c in range(n_cells):
        a = M[c]
        tr = a[0, 0] + a[1, 1] + a[2, 2]
        eps = 1e-12 * tr
        a00 = a[0, 0] + eps
        a11 = a[1, 1] + eps
        a22 = a[2, 2] + eps
        c00 = a11 * a22 - a[1, 2] * a[2, 1]
        c01 = a[0, 2] * a[2, 1] - a[0, 1] * a22
        c02 = a[0, 1] * a[1, 2] - a[0, 2] * a11
        c10 = a[1, 2] * a[2, 0] - a[1, 0] * a22
        c11 = a00 * a22 - a[0, 2] * a[2, 0]
        c12 = a[0, 2] * a[1, 0] - a00 * a[1, 2]
        c20 = a[1, 0] * a[2, 1] - a11 * a[2, 0]
        c21 = a[0, 1] * a[2, 0] - a00 * a[2, 1]
        c22 = a00 * a11 - a[0, 1] * a[1, 0]
        det = a00 * c00 + a[0, 1] * c10 + a[0, 2] * c20
        if det == 0.0:
            det = 1e-300
        inv[c, 0, 0] = c00 / det
        inv[c, 0, 1] = c01 / det
        inv[c, 0, 2] = c02 / det
        inv[c, 1, 0] = c10 / det
        inv[c, 1, 1] = c11 / det
        inv[c, 1, 2] = c12 / det
        inv[c, 2, 0] = c20 / det
        inv[c, 2, 1] = c21 / det
        inv[c, 2, 2] = c22 / det
    return inv


@nb.njit(cache=True)
def face_coefficients(P, N, dPf, dfN, gamma):
    """Harmonic face coefficient Gamma_f = (dPf + dfN) / (dPf/Gamma_P + dfN/Gamma_N)."""
    n = P.shape[0]
    out = np.empty(n)
    for c in range(n):
        gp = gamma[P[c]]
        gn = gamma[N[c]]
        if gp <= 0.0 or gn <= 0.0:
            out[c] = 0.0
        else:
            out[c] = (dPf[c] + dfN[c]) / (dPf[c] / gp + dfN[c] / gn)
    return out


@nb.njit(cache=True)
def interface_values(P, N, dPf, dfN, gamma, phi, split, out):
    """Flux-continuous face values phi_f on split connections (material interfaces)."""
    for c in range(P.shape[0]):
        if split[c]:
            aP = gamma[P[c]] / dPf[c]
            aN = gamma[N[c]] / dfN[c]
            s = aP + aN
            if s > 0.0:
                out[c] = (aP * phi[P[c]] + aN * phi[N[c]]) / s
            else:
                out[c] = 0.5 * (phi[P[c]] + phi[N[c]])


@nb.njit(cache=True)
def ls_gradient(phi, P, N, d, rPf, rNf, split, phi_split, b_cell, b_d, phi_b, ls_inv):
    """Least-squares cell gradients [field unit / m]."""
    n = phi.shape[0]
    rhs = np.zeros((n, 3))
    for c in range(P.shape[0]):
        p = P[c]
        q = N[c]
        if split[c]:
            w = 1.0 / (rPf[c, 0] ** 2 + rPf[c, 1] ** 2 + rPf[c, 2] ** 2)
            dv = phi_split[c] - phi[p]
            for k in range(3):
                rhs[p, k] += w * rPf[c, k] * dv
            w = 1.0 / (rNf[c, 0] ** 2 + rNf[c, 1] ** 2 + rNf[c, 2] ** 2)
            dv = phi_split[c] - phi[q]
            for k in range(3):
                rhs[q, k] += w * rNf[c, k] * dv
        else:
            w = 1.0 / (d[c, 0] ** 2 + d[c, 1] ** 2 + d[c, 2] ** 2)
            dv = w * (phi[q] - phi[p])
            for k in range(3):
                rhs[p, k] += d[c, k] * dv
                rhs[q, k] += d[c, k] * dv
    for b in range(b_cell.shape[0]):
        p = b_cell[b]
        w = 1.0 / (b_d[b, 0] ** 2 + b_d[b, 1] ** 2 + b_d[b, 2] ** 2)
        dv = w * (phi_b[b] - phi[p])
        for k in range(3):
            rhs[p, k] += b_d[b, k] * dv
    g = np.empty((n, 3))
    for i in range(n):
        for k in range(3):
            g[i, k] = ls_inv[i, k, 0] * rhs[i, 0] + ls_inv[i, k, 1] * rhs[i, 1] + ls_inv[i, k, 2] * rhs[i, 2]
    return g


@nb.njit(cache=True)
def assemble(nnz, pos_PN, pos_NP, pos_diag, P, N, a_conn, b_cell, b_alpha, diag_extra, data):
    """Fill CSR values: a_conn couples P and N, b_alpha and diag_extra add to diagonals."""
    for i in range(nnz):
        data[i] = 0.0
    for c in range(P.shape[0]):
        a = a_conn[c]
        data[pos_diag[P[c]]] += a
        data[pos_diag[N[c]]] += a
        data[pos_PN[c]] -= a
        data[pos_NP[c]] -= a
    for b in range(b_cell.shape[0]):
        data[pos_diag[b_cell[b]]] += b_alpha[b]
    for i in range(diag_extra.shape[0]):
        data[pos_diag[i]] += diag_extra[i]


@nb.njit(cache=True)
def boundary_coefficients(b_cell, b_area, b_delta, gamma, is_dir, value, h, q):
    """Per boundary face: implicit coefficient alpha, constant rhs part beta0 and the factor
    gam multiplying Gamma_P k.grad phi in the outward flux
        F = alpha (phi_P - value) + beta |S| q - gam Gamma_P k.grad phi_P
    (Dirichlet: alpha = c, beta = 0, gam = 1; Robin: series conductances c and H = h|S|).
    Returns alpha, rhs0 = alpha*value - beta*|S|*q, gam, and the face conductance c."""
    nb_ = b_cell.shape[0]
    alpha = np.empty(nb_)
    rhs0 = np.empty(nb_)
    gam = np.empty(nb_)
    cond = np.empty(nb_)
    for b in range(nb_):
        c = gamma[b_cell[b]] * b_delta[b]
        cond[b] = c
        if is_dir[b]:
            alpha[b] = c
            rhs0[b] = c * value[b]
            gam[b] = 1.0
        else:
            H = h[b] * b_area[b]
            if H == 0.0:
                alpha[b] = 0.0
                rhs0[b] = -b_area[b] * q[b]
                gam[b] = 0.0
            else:
                s = c + H
                alpha[b] = c * H / s
                rhs0[b] = alpha[b] * value[b] - (c / s) * b_area[b] * q[b]
                gam[b] = H / s
    return alpha, rhs0, gam, cond


@nb.njit(cache=True)
def correction_rhs(g, P, N, wP, gamma_f, k, b_cell, b_k, b_gam, gamma, rhs):
    """Add the explicit non-orthogonal flux parts Gamma_f k.grad_f phi to rhs (in place)."""
    for c in range(P.shape[0]):
        p = P[c]
        q = N[c]
        w = wP[c]
        kg = 0.0
        for j in range(3):
            kg += k[c, j] * (w * g[p, j] + (1.0 - w) * g[q, j])
        corr = gamma_f[c] * kg
        rhs[p] += corr
        rhs[q] -= corr
    for b in range(b_cell.shape[0]):
        p = b_cell[b]
        kg = b_k[b, 0] * g[p, 0] + b_k[b, 1] * g[p, 1] + b_k[b, 2] * g[p, 2]
        rhs[p] += b_gam[b] * gamma[p] * kg


@nb.njit(cache=True)
def boundary_state(phi, g, b_cell, b_k, alpha, rhs0, gam, cond, gamma, is_dir, value):
    """Outward flux F and face value phi_b of every boundary face, for the given phi and
    gradient (the same expressions as in the matrix, so fluxes are conservative)."""
    n = b_cell.shape[0]
    flux = np.empty(n)
    phib = np.empty(n)
    for b in range(n):
        p = b_cell[b]
        kg = gamma[p] * (b_k[b, 0] * g[p, 0] + b_k[b, 1] * g[p, 1] + b_k[b, 2] * g[p, 2])
        F = alpha[b] * phi[p] - rhs0[b] - gam[b] * kg
        flux[b] = F
        if is_dir[b]:
            phib[b] = value[b]
        elif cond[b] > 0.0:
            phib[b] = phi[p] - (F + kg) / cond[b]
        else:
            phib[b] = phi[p]
    return flux, phib
