"""A finite-volume domain: a subset of the mesh cells (some regions) with its own numbering.

The domain collects, once, everything that the operators need and that does not change
with coefficients or time:

- *connections*: pairs of domain cells that exchange flux. These are the internal mesh faces
  with both cells in the domain, plus one connection per matched periodic face pair, in
  which the neighbour is seen through the periodic translation (its centre shifted by -t).
  Periodic pairs are thus coupled implicitly in the matrix, like an internal face; the face
  coefficient is the harmonic mean weighted by the normal distances on each side, which is
  the Robin form of DESIGN.md §6 with w = (k_n/D_n) / (k_o/D_o + k_n/D_n).
- *boundary faces*: mesh boundary faces of domain cells (non-periodic patches) and the cut
  faces towards cells outside the domain, grouped by name: the patch name, or
  ``"<inside region>|<outside region>"`` for a cut between regions (see
  :func:`interface_name`).
- geometry per connection (d, delta, interpolation weight; the area vector and face centre
  are those of the mesh face) and per boundary face for the over-relaxed non-orthogonal
  decomposition S = Delta + k, Delta = d |S|^2 / (d.S), and least-squares gradient matrices.
- the CSR pattern of the matrix and, per connection, the positions of its four entries, so
  that assembling a new matrix only refills values.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..mesh.periodic import pair_periodic
from . import kernels


def interface_name(inside: str, outside: str) -> str:
    """Name of the boundary group of a domain at its cut towards another region."""
    return f"{inside}|{outside}"


class FvDomain:
    """Cells of some regions of a mesh, with connections, boundary groups and CSR pattern.

    Parameters
    ----------
    mesh : Mesh
    regions : region names to include (default: all)
    periodic : sequence of (patch_a, patch_b, translation) with translation [m] mapping
        patch_a onto patch_b
    """

    def __init__(self, mesh, regions=None, periodic=()):
        self.mesh = mesh
        if regions is None:
            regions = list(mesh.region_names)
        regions = [regions] if isinstance(regions, str) else list(regions)
        if not regions:
            raise ValueError("a domain needs at least one region")
        ids = [mesh.region_id(r) for r in regions]  # raises KeyError for unknown names
        self.regions = tuple(regions)
        in_dom = np.isin(mesh.cell_region, ids)
        self.cells = np.flatnonzero(in_dom)
        if self.cells.size == 0:
            raise ValueError(f"regions {regions} contain no cells")
        self.global_to_local = np.full(mesh.n_cells, -1, dtype=np.int32)
        self.global_to_local[self.cells] = np.arange(self.cells.size, dtype=np.int32)
        g2l = self.global_to_local
        xc = mesh.cell_centres

        # ---- internal connections
        ni = mesh.n_internal
        own_i = mesh.owner[:ni]
        nbr_i = mesh.neighbour
        f_int = np.flatnonzero(in_dom[own_i] & in_dom[nbr_i])
        P = [g2l[own_i[f_int]]]
        N = [g2l[nbr_i[f_int]]]
        FACE = [f_int]
        SHIFT = []  # translations of the periodic connections (after the internal ones)

        # ---- periodic connections: the neighbour seen through the translation
        periodic_patches = set()
        bnd_extra_faces = []
        self.periodic = []
        for item in periodic:
            if len(item) != 3:
                raise ValueError("periodic entries are (patch_a, patch_b, translation)")
            pa, pb, t = item
            t = np.asarray(t, dtype=np.float64).reshape(3)
            fa, fb = pair_periodic(mesh, pa, pb, t)
            periodic_patches.update((pa, pb))
            self.periodic.append((pa, pb, t))
            ca, cb = mesh.owner[fa], mesh.owner[fb]
            ok = in_dom[ca] & in_dom[cb]
            # a pair with only one side in the domain stays a (no-flux) boundary face
            bnd_extra_faces.append(fa[in_dom[ca] & ~ok])
            bnd_extra_faces.append(fb[in_dom[cb] & ~ok])
            P.append(g2l[ca[ok]])
            N.append(g2l[cb[ok]])
            FACE.append(fa[ok])
            SHIFT.append(np.broadcast_to(t, (int(ok.sum()), 3)))
        index = np.int32 if mesh.n_faces < 2**31 - 1 else np.int64
        self.conn_P = np.concatenate(P).astype(index)
        self.conn_N = np.concatenate(N).astype(index)
        self.conn_face = np.concatenate(FACE).astype(index)
        self.n_internal_conn = f_int.size
        shift = np.ascontiguousarray(np.concatenate(SHIFT)) if SHIFT else np.zeros((0, 3))
        self.conn_d, self.conn_delta, self.conn_wP = kernels.connection_geometry(
            self.conn_face, self.conn_P, self.conn_N, self.cells, mesh.face_area, mesh.face_centre,
            xc, shift,
        )
        reg = mesh.cell_region[self.cells]
        self.conn_split = reg[self.conn_P] != reg[self.conn_N]  # material interface

        # ---- boundary faces and groups
        groups: dict[str, list[np.ndarray]] = {}
        for name in mesh.patch_names:
            if name in periodic_patches:
                continue
            f = mesh.patch_faces(name)
            f = f[in_dom[mesh.owner[f]]]
            if f.size:
                groups.setdefault(name, []).append(f)
        for f in bnd_extra_faces:
            for name in mesh.patch_names:
                sel = np.isin(f, mesh.patch_faces(name))
                if np.any(sel):
                    groups.setdefault(name, []).append(f[sel])
        cut = np.flatnonzero(in_dom[own_i] != in_dom[nbr_i])
        cut_inside = np.where(in_dom[own_i[cut]], own_i[cut], nbr_i[cut])
        cut_outside = np.where(in_dom[own_i[cut]], nbr_i[cut], own_i[cut])
        key = mesh.cell_region[cut_inside] * len(mesh.region_names) + mesh.cell_region[cut_outside]
        for k in np.unique(key):
            a, b = divmod(int(k), len(mesh.region_names))
            groups.setdefault(interface_name(mesh.region_names[a], mesh.region_names[b]), []).append(cut[key == k])
        self.group_names = tuple(groups)
        b_faces, b_group = [], []
        for gi, name in enumerate(self.group_names):
            f = np.concatenate(groups[name])
            b_faces.append(f)
            b_group.append(np.full(f.size, gi, dtype=np.int64))
        self.b_face = np.concatenate(b_faces) if b_faces else np.empty(0, dtype=np.int64)
        self.b_group = np.concatenate(b_group) if b_group else np.empty(0, dtype=np.int64)
        own = mesh.owner[self.b_face]
        is_int = self.b_face < ni
        nbr = mesh.neighbour[np.where(is_int, self.b_face, 0)] if ni > 0 else own
        inside = np.where(in_dom[own], own, nbr)
        sign = np.where(inside == own, 1.0, -1.0)
        self.b_cell = g2l[inside]
        self.b_S = mesh.face_area[self.b_face] * sign[:, None]  # outward of the domain
        self.b_xf = mesh.face_centre[self.b_face]
        self.b_d = self.b_xf - xc[inside]
        self.b_delta = kernels.delta_coefficient(self.b_S, self.b_d)
        self.b_k = self.b_S - self.b_delta[:, None] * self.b_d
        self.b_area = np.sqrt(np.einsum("ij,ij->i", self.b_S, self.b_S))
        self._group_slices = {}
        starts = np.concatenate([[0], np.cumsum(np.bincount(self.b_group, minlength=len(self.group_names)))])
        for gi, name in enumerate(self.group_names):
            self._group_slices[name] = slice(int(starts[gi]), int(starts[gi + 1]))

        # ---- least-squares gradient matrices (inverse), fixed by geometry and region cuts
        self.xc = xc if self.cells.size == mesh.n_cells else np.ascontiguousarray(xc[self.cells])
        self.ls_inverse = kernels.ls_inverse(
            self.n_cells, self.conn_P, self.conn_N, self.conn_d, self.conn_face, self.conn_split,
            mesh.face_centre, self.xc, self.b_cell, self.b_d,
        )

        # ---- CSR pattern, built once; assembly refills values
        self.indptr, self.indices, self.pos_PN, self.pos_NP, self.pos_diag = kernels.csr_pattern(
            self.n_cells, self.conn_P, self.conn_N
        )
        if self.indices.size < 2**31 - 1:
            self.indptr = self.indptr.astype(np.int32)
            self.pos_PN = self.pos_PN.astype(np.int32)
            self.pos_NP = self.pos_NP.astype(np.int32)
            self.pos_diag = self.pos_diag.astype(np.int32)

    # ------------------------------------------------------------------ helpers
    @property
    def n_cells(self) -> int:
        return self.cells.size

    @property
    def nnz(self) -> int:
        return self.indices.size

    @property
    def cell_volumes(self) -> np.ndarray:
        return self.mesh.cell_volumes[self.cells]

    def group_slice(self, name: str) -> slice:
        """Slice of the domain's boundary-face arrays that belongs to a boundary group."""
        try:
            return self._group_slices[name]
        except KeyError:
            raise KeyError(
                f"unknown boundary {name!r}; this domain's boundaries are {list(self.group_names)}"
            ) from None

    def matrix(self, data: np.ndarray) -> sp.csr_matrix:
        """A CSR matrix on this domain's pattern with the given values (no copy)."""
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n_cells, self.n_cells), copy=False)

    def components(self) -> tuple[int, np.ndarray]:
        """Connected components of the connection graph: (count, label per cell)."""
        from scipy.sparse.csgraph import connected_components

        g = sp.csr_matrix((np.ones(self.nnz), self.indices, self.indptr), shape=(self.n_cells,) * 2)
        return connected_components(g, directed=False)
