"""The Mesh: volume cells with region labels, boundary patches, and finite-volume geometry.

Conventions
-----------
- Cells keep the order in which they were given (for files: the order of the volume
  elements in the file). Field values, `cell_centres` and `cell_volumes` use that order.
- Faces follow OpenFOAM: internal faces first (owner < neighbour, area vector from owner to
  neighbour), then boundary faces (area vector pointing out of the domain).
- Regions are named groups of volume cells (gmsh physical volumes); patches are named groups
  of boundary faces (gmsh physical surfaces). Boundary faces in no group belong to the patch
  ``DEFAULT_PATCH``.
- Coordinates are in metres inside ssbfv; use ``scale`` when reading a mesh drawn in µm.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .geometry import build_geometry, match_boundary_elements

TET = 4
HEX = 6
DEFAULT_PATCH = "defaultFaces"


class Mesh:
    """A conforming mesh of tetrahedra and/or hexahedra with its finite-volume geometry.

    Parameters
    ----------
    points : (n_points, 3) float, node coordinates [m]
    cell_nodes : (n_cells, 8) int, node ids of each cell, -1 padded (tets use 4); stored as
        int32 (index arrays of the mesh are int32 below 2^31 entries, to save memory)
    cell_nface : (n_cells,) int, TET (4) or HEX (6)
    cell_region : (n_cells,) int, index into ``region_names``
    region_names : sequence of str
    boundary_elements : (n_elem, 4) int, triangles/quads (-1 padded) tagged with a patch
    boundary_element_patch : (n_elem,) int, index into ``patch_names``
    patch_names : sequence of str
    geometry : optional precomputed faces and geometry, the dict that
        ``ssbfv.mesh.geometry.build_geometry`` returns (structured builders such as the
        voxel route compute it directly from the grid)

    Raises ValueError for an empty mesh, bad node ids, degenerate cells, or tagged surface
    elements that are not faces of the mesh.
    """

    def __init__(
        self,
        points,
        cell_nodes,
        cell_nface,
        cell_region,
        region_names,
        boundary_elements=None,
        boundary_element_patch=None,
        patch_names=(),
        geometry=None,
    ):
        points = np.ascontiguousarray(points, dtype=np.float64)
        cell_nodes = np.ascontiguousarray(cell_nodes, dtype=np.int32 if points.shape[0] < 2**31 - 1 else np.int64)
        cell_nface = np.ascontiguousarray(cell_nface, dtype=np.int32)
        if cell_nodes.ndim != 2 or cell_nodes.shape[0] == 0:
            raise ValueError("mesh has no volume cells (tetrahedra or hexahedra)")
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must have shape (n, 3), got {points.shape}")
        if not np.all(np.isfinite(points)):
            raise ValueError("mesh points contain NaN or infinite coordinates")
        if cell_nodes.shape[1] < 8:
            pad = np.full((cell_nodes.shape[0], 8 - cell_nodes.shape[1]), -1, dtype=cell_nodes.dtype)
            cell_nodes = np.hstack([cell_nodes, pad])
        n_nodes_needed = np.where(cell_nface == TET, 4, 8)
        valid = cell_nodes >= 0
        if np.any(valid.sum(axis=1) < n_nodes_needed) or np.any(~np.isin(cell_nface, (TET, HEX))):
            raise ValueError("cells must be tetrahedra (4 nodes) or hexahedra (8 nodes)")
        if cell_nodes.max() >= points.shape[0]:
            raise ValueError(
                f"cell node id {cell_nodes.max()} out of range (mesh has {points.shape[0]} points)"
            )
        self.points = points
        self.cell_nodes = cell_nodes
        self.cell_nface = cell_nface
        self.cell_region = np.ascontiguousarray(cell_region, dtype=np.int32)
        self.region_names = tuple(region_names)
        if self.cell_region.shape != (cell_nodes.shape[0],):
            raise ValueError("cell_region must have one entry per cell")
        if self.cell_region.min() < 0 or self.cell_region.max() >= len(self.region_names):
            raise ValueError("cell_region index out of range of region_names")

        g = build_geometry(points, cell_nodes, cell_nface) if geometry is None else geometry
        self.owner = g["owner"]
        self.neighbour = g["neighbour"]
        self.n_internal = g["n_internal"]
        self.face_nodes = g["face_nodes"]
        self.face_area = g["face_area"]
        self.face_centre = g["face_centre"]
        self.cell_volumes = g["cell_volume"]
        self.cell_centres = g["cell_centre"]
        if np.any(self.cell_volumes <= 0.0):
            bad = int(np.count_nonzero(self.cell_volumes <= 0.0))
            raise ValueError(f"mesh has {bad} cells with zero or negative volume")

        self._assign_patches(boundary_elements, boundary_element_patch, tuple(patch_names))

    # ------------------------------------------------------------------ patches
    def _assign_patches(self, elems, elem_patch, names):
        n_b = self.n_faces - self.n_internal
        face_patch = np.full(n_b, -1, dtype=np.int64)
        self.internal_face_groups: dict[str, np.ndarray] = {}
        if elems is not None and len(elems):
            elems = np.asarray(elems, dtype=np.int64)
            if elems.shape[1] < 4:
                elems = np.hstack([elems, np.full((elems.shape[0], 4 - elems.shape[1]), -1)])
            elem_patch = np.asarray(elem_patch, dtype=np.int64)
            hit = match_boundary_elements(self.face_nodes, self.n_internal, elems, self.n_points)
            missing = hit == -1
            if np.any(missing):
                per = {names[p]: int(np.count_nonzero(missing & (elem_patch == p))) for p in np.unique(elem_patch[missing])}
                raise ValueError(
                    f"{int(missing.sum())} tagged surface elements are not faces of the mesh "
                    f"(per group: {per})"
                )
            on_b = hit >= 0
            face_patch[hit[on_b] - self.n_internal] = elem_patch[on_b]
            internal = hit <= -2
            for p in np.unique(elem_patch[internal]):
                sel = internal & (elem_patch == p)
                self.internal_face_groups[names[p]] = np.sort(-2 - hit[sel])
        names = list(names)
        if np.any(face_patch < 0):
            if DEFAULT_PATCH not in names:
                names.append(DEFAULT_PATCH)
            face_patch[face_patch < 0] = names.index(DEFAULT_PATCH)
        used = set(np.unique(face_patch).tolist())
        # keep only patch names that own boundary faces (surface groups on internal
        # faces are kept in internal_face_groups)
        keep = [i for i in range(len(names)) if i in used]
        remap = np.full(len(names), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        self.patch_names = tuple(names[i] for i in keep)
        self.boundary_face_patch = remap[face_patch]
        order = np.argsort(self.boundary_face_patch, kind="stable")
        counts = np.bincount(self.boundary_face_patch, minlength=len(self.patch_names))
        starts = np.concatenate([[0], np.cumsum(counts)])
        self._patch_faces = {
            name: order[starts[i] : starts[i + 1]] + self.n_internal
            for i, name in enumerate(self.patch_names)
        }

    # ------------------------------------------------------------------ sizes
    @property
    def n_cells(self) -> int:
        return self.cell_nodes.shape[0]

    @property
    def n_points(self) -> int:
        return self.points.shape[0]

    @property
    def n_faces(self) -> int:
        return self.owner.shape[0]

    @cached_property
    def face_areas(self) -> np.ndarray:
        """|S_f| [m^2] per face."""
        return np.sqrt(np.einsum("ij,ij->i", self.face_area, self.face_area))

    # ------------------------------------------------------------------ lookups
    def region_id(self, name: str) -> int:
        try:
            return self.region_names.index(name)
        except ValueError:
            raise KeyError(f"unknown region {name!r}; the mesh has {list(self.region_names)}") from None

    def region_cells(self, name: str) -> np.ndarray:
        """Indices of the cells of a region."""
        return np.flatnonzero(self.cell_region == self.region_id(name))

    def patch_faces(self, name: str) -> np.ndarray:
        """Global indices of the boundary faces of a patch."""
        try:
            return self._patch_faces[name]
        except KeyError:
            raise KeyError(f"unknown patch {name!r}; the mesh has {list(self.patch_names)}") from None

    @cached_property
    def interfaces(self) -> dict[tuple[str, str], np.ndarray]:
        """Internal faces between two regions, {(region_a, region_b): face indices}, keyed
        with region_a before region_b in ``region_names`` order; use ``interface_faces``
        for the cells on each side."""
        ro = self.cell_region[self.owner[: self.n_internal]]
        rn = self.cell_region[self.neighbour]
        cut = np.flatnonzero(ro != rn)
        lo = np.minimum(ro[cut], rn[cut])
        hi = np.maximum(ro[cut], rn[cut])
        out = {}
        key = lo * len(self.region_names) + hi
        for k in np.unique(key):
            a, b = divmod(int(k), len(self.region_names))
            out[(self.region_names[a], self.region_names[b])] = cut[key == k]
        return out

    def interface_faces(self, region_a: str, region_b: str) -> tuple[np.ndarray, np.ndarray]:
        """Faces between two regions and, per face, the cell in region_a and in region_b.

        Returns (faces, cells_a, cells_b); the outward normal of region_a on face f is
        ``sign * face_area[f]`` with sign = +1 where owner == cells_a, else -1.
        """
        ia, ib = self.region_id(region_a), self.region_id(region_b)
        key = (region_a, region_b) if ia < ib else (region_b, region_a)
        faces = self.interfaces.get(key, np.empty(0, dtype=np.int64))
        own = self.owner[faces]
        nbr = self.neighbour[faces]
        a_is_owner = self.cell_region[own] == ia
        cells_a = np.where(a_is_owner, own, nbr)
        cells_b = np.where(a_is_owner, nbr, own)
        return faces, cells_a, cells_b

    def with_regions(self, cell_region, region_names) -> "Mesh":
        """The same mesh (geometry and patches shared, not copied) with other region labels."""
        import copy

        cell_region = np.ascontiguousarray(cell_region, dtype=np.int32)
        if cell_region.shape != self.cell_region.shape:
            raise ValueError("cell_region must have one entry per cell")
        if cell_region.min() < 0 or cell_region.max() >= len(region_names):
            raise ValueError("cell_region index out of range of region_names")
        m = copy.copy(self)
        m.__dict__.pop("interfaces", None)  # region-dependent cache
        m.cell_region = cell_region
        m.region_names = tuple(region_names)
        return m

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.points.min(axis=0), self.points.max(axis=0)

    def __repr__(self) -> str:
        return (
            f"Mesh({self.n_cells} cells, {self.n_faces} faces ({self.n_internal} internal), "
            f"regions={list(self.region_names)}, patches={list(self.patch_names)})"
        )
