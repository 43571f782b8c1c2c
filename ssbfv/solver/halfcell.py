"""The half-cell layout on a mesh: the solid and electrolyte domains and their interface.

DESIGN.md §1: the **solid** domain is the ``active`` region; the **electrolyte** domain is
every other region (``polymer``, ``filler``, ``separator``), one field set with cell-wise
materials. The y and z sides are periodic when the mesh has the patches ``ymin``/``ymax``
(``zmin``/``zmax``): the translations come from the mesh's bounding box, and the pairs are
coupled implicitly in both domains (DESIGN.md §6).

The interface is every mesh face between a solid and an electrolyte cell. It appears once in
each domain's boundary list (groups ``"active|polymer"`` in the solid, ``"polymer|active"``
in the electrolyte, ...); :class:`HalfCellLayout` matches the two lists face by face, so
that a per-face array (a Butler–Volmer current, a surface concentration) can be handed from
one domain to the other with ``solid_b`` and ``electrolyte_b``.
"""

from __future__ import annotations

import numpy as np

from .domain import FvDomain

ANODE = "anode"
COLLECTOR = "collector"


class HalfCellError(ValueError):
    """A mesh that cannot be used as a half-cell (missing regions or patches, ...)."""


def periodic_pairs(mesh, axes=("y", "z")):
    """[(patch_a, patch_b, translation)] for the periodic side patches present in the mesh."""
    lo, hi = mesh.bounding_box()
    out = []
    for ax in axes:
        i = "xyz".index(ax)
        a, b = f"{ax}min", f"{ax}max"
        if a in mesh.patch_names and b in mesh.patch_names:
            t = np.zeros(3)
            t[i] = hi[i] - lo[i]
            out.append((a, b, t))
    return out


class FloatingPartsError(HalfCellError):
    """Connected parts of a phase that touch neither the interface nor the anode; ``cells``:
    their global cell indices, ``volume`` [m^3]."""

    def __init__(self, message, cells, volume):
        super().__init__(message)
        self.cells = cells
        self.volume = volume


ISOLATED = "isolated"


def with_cells_isolated(mesh, cells):
    """The mesh with ``cells`` (global indices) moved to the region ``"isolated"``, which
    belongs to neither phase (geometry shared)."""
    names = list(mesh.region_names)
    if ISOLATED not in names:
        names.append(ISOLATED)
    reg = mesh.cell_region.copy()
    reg[cells] = names.index(ISOLATED)
    return mesh.with_regions(reg, names)


def enclosed_electrolyte(layout) -> np.ndarray:
    """Global indices of the electrolyte cells in connected parts (periodic sides
    included) that do not reach the anode: pockets enclosed by active material (and inert
    regions). No net current can leave such a pocket and, the anions being blocked, its
    salt content stays constant; it only shuttles sodium between the particle faces around
    it. On voxel meshes most are single voxels between touching spheres (25 pockets, 29
    cells, in the 39 % NVP member of cases/paper3d) whose existence depends on the
    voxelisation, and their concentration, hypersensitive to the imbalance of their face
    currents (dt A / (F V) ~ 40 mol/m^3 per A/m^2 at dt = 8 s on a 1 um voxel), oscillated
    between outer iterations and tripled the outer iterations late in a discharge."""
    e = layout.electrolyte
    n, lab = e.components()
    at_anode = np.zeros(n, dtype=bool)
    at_anode[lab[e.b_cell[layout.anode_b]]] = True
    return e.cells[~at_anode[lab]]


def layout_without_floating_parts(mesh, solid_regions=("active",), electrolyte_regions=None, max_rounds=4,
                                  **kw):
    """(layout, isolated cell count, isolated volume [m^3]): a :class:`HalfCellLayout` in which
    the parts of either phase that touch neither the interface nor the anode (possible when a
    region is left out as inert, e.g. pores: a solid-electrolyte particle enclosed by pores)
    are moved to a region ``"isolated"`` that belongs to neither phase. They carry no current
    and exchange no sodium, so leaving them out changes nothing physical."""
    if electrolyte_regions is None:
        electrolyte_regions = tuple(r for r in mesh.region_names if r not in solid_regions)
    n_iso, vol = 0, 0.0
    for _ in range(max_rounds):
        try:
            return HalfCellLayout(mesh, solid_regions, electrolyte_regions, **kw), n_iso, vol
        except FloatingPartsError as exc:
            mesh = with_cells_isolated(mesh, exc.cells)
            n_iso += int(exc.cells.size)
            vol += exc.volume
    raise HalfCellError(f"floating parts remain after {max_rounds} rounds of isolating them")


class HalfCellLayout:
    """Solid and electrolyte FvDomains of a half-cell mesh and their matched interface.

    Parameters
    ----------
    mesh : Mesh with regions (``active`` and electrolyte regions) and patches ``anode``
        (x = 0) and ``collector`` (x = x_max); ``xmin``/``xmax`` are accepted in their place
    solid_regions : regions of the solid domain (default ``("active",)``)
    electrolyte_regions : regions of the electrolyte domain (default: all other regions)
    periodic : "auto" (y/z side patches found in the mesh), or an explicit list of
        (patch_a, patch_b, translation [m]), or () for none

    Attributes (beyond the two domains)
    ----------
    solid_b, electrolyte_b : (n_if,) interface faces as indices into each domain's boundary
        arrays (same face, or the two faces of a periodic pair, at the same position)
    interface_area : (n_if,) [m^2]
    collector_b : solid boundary indices of the active faces on the collector
    anode_b : electrolyte boundary indices of the anode faces
    area_yz : cross-section [m^2] (area of the anode patch)
    volume_active, volume_cathode, volume_electrolyte : [m^3] (cathode = all but separator)
    """

    def __init__(self, mesh, solid_regions=("active",), electrolyte_regions=None, periodic="auto",
                 anode=None, collector=None):
        names = list(mesh.region_names)
        solid_regions = tuple(solid_regions)
        missing = [r for r in solid_regions if r not in names]
        if missing:
            raise HalfCellError(f"the mesh has no region {missing[0]!r} (regions: {names})")
        if electrolyte_regions is None:
            electrolyte_regions = tuple(r for r in names if r not in solid_regions)
        electrolyte_regions = tuple(electrolyte_regions)
        if not electrolyte_regions:
            raise HalfCellError(f"the mesh has no electrolyte region (regions: {names})")
        overlap = set(solid_regions) & set(electrolyte_regions)
        if overlap:
            raise HalfCellError(f"regions {sorted(overlap)} cannot be solid and electrolyte at once")
        self.anode = anode or self._pick(mesh, (ANODE, "xmin"), "anode (x = 0)")
        self.collector = collector or self._pick(mesh, (COLLECTOR, "xmax"), "current collector (x = x_max)")
        self.periodic = periodic_pairs(mesh) if periodic == "auto" else list(periodic)
        self.mesh = mesh
        self.solid_regions = solid_regions
        self.electrolyte_regions = electrolyte_regions
        self.solid = FvDomain(mesh, solid_regions, periodic=self.periodic)
        self.electrolyte = FvDomain(mesh, electrolyte_regions, periodic=self.periodic)

        s, e = self.solid, self.electrolyte
        s_if = self._cut_indices(s, solid_regions, electrolyte_regions)
        e_if = self._cut_indices(e, electrolyte_regions, solid_regions)
        if s_if.size == 0:
            raise HalfCellError("the solid and electrolyte regions share no face: there is no interface")
        s_if = s_if[np.argsort(s.b_face[s_if], kind="stable")]
        e_if = e_if[np.argsort(e.b_face[e_if], kind="stable")]
        if s_if.size != e_if.size or not np.array_equal(s.b_face[s_if], e.b_face[e_if]):
            raise HalfCellError("interface faces of the two domains do not match (inconsistent mesh)")
        ps, pe = self._periodic_interface(mesh, s, e)
        self.solid_b = np.concatenate([s_if, ps]).astype(np.int64)
        self.electrolyte_b = np.concatenate([e_if, pe]).astype(np.int64)
        self.n_periodic_interface = int(ps.size)
        self.interface_area = s.b_area[self.solid_b]

        if self.anode in s.group_names:
            raise HalfCellError(
                f"active material touches the anode patch {self.anode!r} (a short circuit): the "
                "half-cell needs an electrolyte (separator) layer between the anode and the cathode"
            )
        if self.anode not in e.group_names:
            raise HalfCellError(f"no electrolyte cell touches the anode patch {self.anode!r}")
        if self.collector not in s.group_names:
            raise HalfCellError(f"no active cell touches the current collector patch {self.collector!r}")
        self.anode_b = np.arange(e.group_slice(self.anode).start, e.group_slice(self.anode).stop)
        self.collector_b = np.arange(s.group_slice(self.collector).start, s.group_slice(self.collector).stop)
        self.area_yz = float(mesh.face_areas[mesh.patch_faces(self.anode)].sum())
        self.volume_active = float(s.cell_volumes.sum())
        self.volume_electrolyte = float(e.cell_volumes.sum())
        vol = mesh.cell_volumes
        sep = mesh.region_id("separator") if "separator" in names else -1
        self.volume_cathode = float(vol[mesh.cell_region != sep].sum())
        self._check_anchored()

    def _periodic_interface(self, mesh, s, e):
        """Interface faces that lie on a periodic plane: a matched pair (fa, fb) with the solid
        on one side and the electrolyte on the other (a material boundary on the image or box
        boundary). Each domain keeps its own face of the pair as a boundary face; they are
        one interface. Returns the solid and electrolyte boundary indices, paired."""
        from ..mesh.periodic import pair_periodic

        pos_s = np.full(mesh.n_faces, -1, dtype=np.int64)
        pos_s[s.b_face] = np.arange(s.b_face.size)
        pos_e = np.full(mesh.n_faces, -1, dtype=np.int64)
        pos_e[e.b_face] = np.arange(e.b_face.size)
        in_s = np.zeros(mesh.n_cells, dtype=bool)
        in_s[s.cells] = True
        in_e = np.zeros(mesh.n_cells, dtype=bool)
        in_e[e.cells] = True
        out_s, out_e = [], []
        for pa, pb, t in self.periodic:
            fa, fb = pair_periodic(mesh, pa, pb, t)
            ca, cb = mesh.owner[fa], mesh.owner[fb]
            for f_s, f_e, sel in ((fa, fb, in_s[ca] & in_e[cb]), (fb, fa, in_s[cb] & in_e[ca])):
                out_s.append(pos_s[f_s[sel]])
                out_e.append(pos_e[f_e[sel]])
        ps = np.concatenate(out_s) if out_s else np.empty(0, dtype=np.int64)
        pe = np.concatenate(out_e) if out_e else np.empty(0, dtype=np.int64)
        if np.any(ps < 0) or np.any(pe < 0):
            raise HalfCellError("a periodic solid/electrolyte face pair is not a boundary face of its domain")
        return ps, pe

    @staticmethod
    def _pick(mesh, candidates, what):
        for name in candidates:
            if name in mesh.patch_names:
                return name
        raise HalfCellError(f"the mesh has no patch for the {what}: looked for {list(candidates)}, "
                            f"found {list(mesh.patch_names)}")

    @staticmethod
    def _cut_indices(domain, inside, outside):
        idx = []
        for name in domain.group_names:
            if "|" in name:
                a, b = name.split("|", 1)
                if a in inside and b in outside:
                    sl = domain.group_slice(name)
                    idx.append(np.arange(sl.start, sl.stop))
        return np.concatenate(idx) if idx else np.empty(0, dtype=np.int64)

    def _check_anchored(self):
        """Every connected part of each domain must touch the interface (or the anode), or
        its potential would float."""
        for dom, anchors, what in ((self.solid, self.solid_b, "active"),
                                   (self.electrolyte, np.concatenate([self.electrolyte_b, self.anode_b]), "electrolyte")):
            n, lab = dom.components()
            touched = np.zeros(n, dtype=bool)
            touched[lab[dom.b_cell[anchors]]] = True
            if not touched.all():
                free = np.flatnonzero(~touched)
                in_free = np.isin(lab, free)
                vol = float(dom.cell_volumes[in_free].sum())
                raise FloatingPartsError(
                    f"{free.size} {what} part(s) ({vol:.3e} m^3) touch neither the interface nor the anode: "
                    "their potential is undefined; fix the mesh (or build the layout with "
                    "layout_without_floating_parts, which makes them inert)", dom.cells[in_free], vol)

    def solid_clusters(self):
        """(count, volume of the clusters that do not touch the collector [m^3])."""
        n, _ = self.solid.components()
        free = self.collector_cluster_index()[2] < 0
        return n, float(self.solid.cell_volumes[free].sum())

    def collector_clusters(self) -> list[dict]:
        """The active clusters that touch the collector, largest first: per cluster its
        volume [m^3], collector contact area [m^2], ``area_share`` (its fraction of the
        collector contact area: with the applied current spread uniformly over the active
        collector faces, DESIGN.md §4, the fraction of the current it takes) and
        ``volume_share`` (its fraction of all active volume: of the capacity the C-rate is
        based on).

        With the uniform spread, a cluster whose area share exceeds its volume share fills
        (discharge) or empties (charge) that many times faster than the electrode on
        average; when it can take no more, the run ends early although the rest of the
        electrode is far from its limit."""
        s = self.solid
        k_coll, _, k_cell, n = self.collector_cluster_index()
        area = np.bincount(k_coll, weights=s.b_area[self.collector_b], minlength=n)
        on = k_cell >= 0
        vol = np.bincount(k_cell[on], weights=s.cell_volumes[on], minlength=n)
        total_area, total_vol = float(area.sum()), float(s.cell_volumes.sum())
        out = [{"volume_m3": float(v), "collector_area_m2": float(a), "area_share": float(a) / total_area,
                "volume_share": float(v) / total_vol} for v, a in zip(vol, area)]
        return sorted(out, key=lambda d: -d["volume_m3"])

    def collector_cluster_index(self):
        """The active clusters that touch the collector, numbered 0..n-1: (cluster of each
        collector face, of each interface face, of each solid cell (-1 for clusters off the
        collector), n)."""
        s = self.solid
        _, lab = s.components()
        on_coll, k_coll = np.unique(lab[s.b_cell[self.collector_b]], return_inverse=True)
        index = np.full(int(lab.max(initial=0)) + 1, -1, dtype=np.int64)
        index[on_coll] = np.arange(on_coll.size)
        k_cell = index[lab]
        return k_coll, k_cell[s.b_cell[self.solid_b]], k_cell, int(on_coll.size)
