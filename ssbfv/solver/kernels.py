"""Numba kernels of the finite-volume diffusion operator (no Python loops over faces/cells).

Notation (per connection c between cells P and N, or per boundary face b of cell P):
S the area vector (out of P), d the vector from P's centre to N's (image) centre or to the
boundary face centre, delta = |S| / max(n.d, 0.05 |d|) (the over-relaxed orthogonal
coefficient, [m]), k = S - delta d (the non-orthogonal remainder, tangential to the face).
The outward flux of P through a face is  F = -Gamma_f (delta (phi_N - phi_P) + k.grad_f phi).
Per connection only P, N, the mesh face, d, delta and the interpolation weight wP are
stored; S, k and the face centre are recomputed from the mesh face where needed.
"""

from __future__ import annotations

import numba as nb
import numpy as np

ORTHO_GUARD = 0.05  # as OpenFOAM: n.d is bounded below by 0.05 |d|


def delta_coefficient(S, d):
    """|S| / max(n.d, ORTHO_GUARD |d|) [m]: |S|^2/(d.S) on reasonable meshes."""
    mag = np.linalg.norm(S, axis=1)
    nd = np.einsum("ij,ij->i", S, d) / mag
    return mag / np.maximum(nd, ORTHO_GUARD * np.linalg.norm(d, axis=1))


@nb.njit(cache=True)
def connection_geometry(face, P, N, cells, face_area, face_centre, cell_centre, shift):
    """Per connection: d (P's centre -> N's image centre), delta, and wP, the linear
    interpolation weight of P (= dfN / (dPf + dfN) with the distances of the centres to the
    face plane along its normal, each bounded below by ORTHO_GUARD times the
    centre-to-face distance). ``shift`` (m, 3) is subtracted from N's centre for the last m
    connections (the periodic ones)."""
    n = face.shape[0]
    first_shifted = n - shift.shape[0]
    d = np.empty((n, 3))
    delta = np.empty(n)
    wP = np.empty(n)
    for c in range(n):
        f = face[c]
        p = cells[P[c]]
        q = cells[N[c]]
        mag = np.sqrt(face_area[f, 0] ** 2 + face_area[f, 1] ** 2 + face_area[f, 2] ** 2)
        nd = 0.0
        dd = 0.0
        dPf = 0.0
        dfN = 0.0
        lP = 0.0
        lN = 0.0
        for k in range(3):
            xn = cell_centre[q, k]
            if c >= first_shifted:
                xn -= shift[c - first_shifted, k]
            dk = xn - cell_centre[p, k]
            d[c, k] = dk
            nk = face_area[f, k] / mag
            nd += nk * dk
            dd += dk * dk
            a = face_centre[f, k] - cell_centre[p, k]
            b = xn - face_centre[f, k]
            dPf += nk * a
            dfN += nk * b
            lP += a * a
            lN += b * b
        delta[c] = mag / max(nd, ORTHO_GUARD * np.sqrt(dd))
        dPf = max(dPf, ORTHO_GUARD * np.sqrt(lP))
        dfN = max(dfN, ORTHO_GUARD * np.sqrt(lN))
        wP[c] = dfN / (dPf + dfN)
    return d, delta, wP


@nb.njit(cache=True)
def csr_pattern(n, P, N):
    """CSR pattern (sorted columns, diagonal included) of the cell graph and, per
    connection, the positions of its (P, N) and (N, P) entries and of each diagonal.

    Each row is filled with its diagonal and one entry per connection, tagged with where
    it came from; sorting the short rows carries the tags along, so the positions come out
    of one sequential pass (duplicate couplings, e.g. two periodic faces between the same
    pair of cells, share one entry; a self-coupling P == N lands on the diagonal)."""
    m = P.shape[0]
    deg = np.ones(n, dtype=np.int64)
    for c in range(m):
        deg[P[c]] += 1
        deg[N[c]] += 1
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        indptr[i + 1] = indptr[i] + deg[i]
    fill = indptr[:-1].copy()
    cols = np.empty(indptr[n], dtype=np.int32)
    tag = np.empty(indptr[n], dtype=np.int64)  # -1 diagonal, 2c: (P, N) of c, 2c+1: (N, P)
    for i in range(n):
        cols[fill[i]] = i
        tag[fill[i]] = -1
        fill[i] += 1
    for c in range(m):
        p = P[c]
        q = N[c]
        cols[fill[p]] = q
        tag[fill[p]] = 2 * c
        fill[p] += 1
        cols[fill[q]] = p
        tag[fill[q]] = 2 * c + 1
        fill[q] += 1
    pos_PN = np.empty(m, dtype=np.int64)
    pos_NP = np.empty(m, dtype=np.int64)
    pos_diag = np.empty(n, dtype=np.int64)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for i in range(n):
        lo = indptr[i]
        hi = indptr[i + 1]
        for a in range(lo + 1, hi):  # insertion sort of the short row, tags alongside
            v = cols[a]
            t = tag[a]
            b = a - 1
            while b >= lo and cols[b] > v:
                cols[b + 1] = cols[b]
                tag[b + 1] = tag[b]
                b -= 1
            cols[b + 1] = v
            tag[b + 1] = t
        for k in range(lo, hi):
            if k == lo or cols[k] != cols[k - 1]:
                cols[w] = cols[k]
                w += 1
            t = tag[k]
            if t < 0:
                pos_diag[i] = w - 1
            elif t % 2 == 0:
                pos_PN[t // 2] = w - 1
            else:
                pos_NP[t // 2] = w - 1
        out_ptr[i + 1] = w
    return out_ptr, cols[:w].copy(), pos_PN, pos_NP, pos_diag


@nb.njit(cache=True)
def _add_outer(M, c, r, w):
    """M[c] += w r r^T in symmetric storage (xx, xy, xz, yy, yz, zz)."""
    M[c, 0] += w * r[0] * r[0]
    M[c, 1] += w * r[0] * r[1]
    M[c, 2] += w * r[0] * r[2]
    M[c, 3] += w * r[1] * r[1]
    M[c, 4] += w * r[1] * r[2]
    M[c, 5] += w * r[2] * r[2]


@nb.njit(cache=True)
def ls_inverse(n_cells, P, N, d, face, split, face_centre, xP_all, b_cell, b_d):
    """Inverse least-squares matrices (sum_j w_j r_j r_j^T)^-1, w_j = 1/|r_j|^2, per cell,
    in symmetric storage (n, 6): xx, xy, xz, yy, yz, zz (inverted in place).

    r_j runs over the vectors to the neighbour (image) centres, or to the face centre where
    the connection crosses a material interface (split), and to boundary face centres.
    ``xP_all`` holds the centres of the domain cells.
    """
    M = np.zeros((n_cells, 6))
    r = np.empty(3)
    for c in range(P.shape[0]):
        if split[c]:
            f = face[c]
            for k in range(3):
                r[k] = face_centre[f, k] - xP_all[P[c], k]
            _add_outer(M, P[c], r, 1.0 / (r[0] ** 2 + r[1] ** 2 + r[2] ** 2))
            for k in range(3):
                r[k] = face_centre[f, k] - xP_all[P[c], k] - d[c, k]
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
    for c in range(n_cells):
        eps = 1e-12 * (M[c, 0] + M[c, 3] + M[c, 5])
        a = M[c, 0] + eps
        b_ = M[c, 1]
        cc = M[c, 2]
        d_ = M[c, 3] + eps
        e = M[c, 4]
        f = M[c, 5] + eps
        i00 = d_ * f - e * e
        i01 = cc * e - b_ * f
        i02 = b_ * e - cc * d_
        i11 = a * f - cc * cc
        i12 = b_ * cc - a * e
        i22 = a * d_ - b_ * b_
        det = a * i00 + b_ * i01 + cc * i02
        if det == 0.0:
            det = 1e-300
        M[c, 0] = i00 / det
        M[c, 1] = i01 / det
        M[c, 2] = i02 / det
        M[c, 3] = i11 / det
        M[c, 4] = i12 / det
        M[c, 5] = i22 / det
    return M


@nb.njit(cache=True)
def face_coefficients(P, N, wP, gamma):
    """Harmonic face coefficient Gamma_f = 1 / ((1 - wP)/Gamma_P + wP/Gamma_N), i.e. the
    series of the two half-distances to the face plane."""
    n = P.shape[0]
    out = np.empty(n)
    for c in range(n):
        gp = gamma[P[c]]
        gn = gamma[N[c]]
        if gp <= 0.0 or gn <= 0.0:
            out[c] = 0.0
        else:
            out[c] = 1.0 / ((1.0 - wP[c]) / gp + wP[c] / gn)
    return out


@nb.njit(cache=True)
def interface_values(P, N, wP, gamma, phi, split, out):
    """Flux-continuous face values phi_f on split connections (material interfaces)."""
    for c in range(P.shape[0]):
        if split[c]:
            aP = gamma[P[c]] / (1.0 - wP[c])
            aN = gamma[N[c]] / wP[c]
            s = aP + aN
            if s > 0.0:
                out[c] = (aP * phi[P[c]] + aN * phi[N[c]]) / s
            else:
                out[c] = 0.5 * (phi[P[c]] + phi[N[c]])


@nb.njit(cache=True)
def ls_gradient(phi, P, N, d, face, split, face_centre, xP_all, phi_split, b_cell, b_d, phi_b, ls_inv):
    """Least-squares cell gradients [field unit / m]."""
    n = phi.shape[0]
    rhs = np.zeros((n, 3))
    r = np.empty(3)
    for c in range(P.shape[0]):
        p = P[c]
        q = N[c]
        if split[c]:
            f = face[c]
            for k in range(3):
                r[k] = face_centre[f, k] - xP_all[p, k]
            w = 1.0 / (r[0] ** 2 + r[1] ** 2 + r[2] ** 2)
            dv = phi_split[c] - phi[p]
            for k in range(3):
                rhs[p, k] += w * r[k] * dv
            for k in range(3):
                r[k] = face_centre[f, k] - xP_all[p, k] - d[c, k]
            w = 1.0 / (r[0] ** 2 + r[1] ** 2 + r[2] ** 2)
            dv = phi_split[c] - phi[q]
            for k in range(3):
                rhs[q, k] += w * r[k] * dv
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
        g[i, 0] = ls_inv[i, 0] * rhs[i, 0] + ls_inv[i, 1] * rhs[i, 1] + ls_inv[i, 2] * rhs[i, 2]
        g[i, 1] = ls_inv[i, 1] * rhs[i, 0] + ls_inv[i, 3] * rhs[i, 1] + ls_inv[i, 4] * rhs[i, 2]
        g[i, 2] = ls_inv[i, 2] * rhs[i, 0] + ls_inv[i, 4] * rhs[i, 1] + ls_inv[i, 5] * rhs[i, 2]
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
def _k_dot_grad(c, g, P, N, wP, face, face_area, delta, d):
    """k . grad_f phi on connection c, k = S - delta d, grad_f linearly interpolated."""
    p = P[c]
    q = N[c]
    w = wP[c]
    f = face[c]
    kg = 0.0
    for j in range(3):
        kj = face_area[f, j] - delta[c] * d[c, j]
        kg += kj * (w * g[p, j] + (1.0 - w) * g[q, j])
    return kg


@nb.njit(cache=True)
def connection_k_dot(g, P, N, wP, face, face_area, delta, d, out):
    """k . grad_f phi per connection into out."""
    for c in range(P.shape[0]):
        out[c] = _k_dot_grad(c, g, P, N, wP, face, face_area, delta, d)


@nb.njit(cache=True)
def correction_rhs(g, P, N, wP, face, face_area, delta, d, gamma_f, b_cell, b_k, b_gam, gamma, rhs):
    """Add the explicit non-orthogonal flux parts Gamma_f k.grad_f phi to rhs (in place)."""
    for c in range(P.shape[0]):
        corr = gamma_f[c] * _k_dot_grad(c, g, P, N, wP, face, face_area, delta, d)
        rhs[P[c]] += corr
        rhs[N[c]] -= corr
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
