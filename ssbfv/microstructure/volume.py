"""Volume fractions of a packing, measured on a voxel image of the cathode slab.

The slab [t_sep, x_max] x [0, Ly) x [0, Lz) is cut into n_x x n_y x n_z voxels of edge
about ``voxel`` (n = round(L / voxel), so the voxels tile the slab exactly). A voxel belongs
to a species when its centre lies inside one of the species' spheres (periodic images in y
and z included; the slab planes trim the spheres because only voxels inside the slab
exist); where spheres of several species overlap, the earlier species wins (DESIGN.md §1).

Reported (``measure_fractions``):

- ``fractions``: per species in the terms of the spec: the first species' volume fraction of
  the cathode, |S_0 ∩ slab| / |slab|, and for the others their electrolyte fraction,
  |S_k ∩ slab \\ S_0..S_{k-1}| / (|slab| - |S_0 ∩ slab|);
- ``absolute``: per species (and ``polymer``, the rest) the fraction of the cathode volume.

The voxel centre rule has an error of order (voxel / d)^2 per sphere on average (the
surface errors of random sign largely cancel); at the default 0.25 µm and 4 µm spheres the
measured volume of a single sphere is within ~0.5 %.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .packing import Packing

DEFAULT_VOXEL = 0.25e-6  # m


@njit(cache=True)
def _paint(centres, radii, species, x0, h, shape, labels):
    """Label the voxels whose centres lie in a sphere: value species + 1, lowest wins.

    centres (n, 3) [m], radii (n,) [m], species (n,) int; x0 the slab's lower x [m];
    h (3,) voxel edges [m]; shape (3,) voxel counts; labels (nx, ny, nz) uint8, 0 = empty.
    y and z are periodic (indices wrapped), x is clipped to the slab.
    """
    nx, ny, nz = shape[0], shape[1], shape[2]
    hx, hy, hz = h[0], h[1], h[2]
    for s in range(centres.shape[0]):
        cx = centres[s, 0] - x0
        cy = centres[s, 1]
        cz = centres[s, 2]
        r = radii[s]
        r2 = r * r
        lab = np.uint8(species[s] + 1)
        # voxel i has its centre at (i + 0.5) h: inside the sphere's extent if |centre - c| <= r
        ix0 = max(0, int(np.ceil((cx - r) / hx - 0.5)))
        ix1 = min(nx - 1, int(np.floor((cx + r) / hx - 0.5)))
        iy0 = int(np.ceil((cy - r) / hy - 0.5))
        iy1 = int(np.floor((cy + r) / hy - 0.5))
        iy1 = min(iy1, iy0 + ny - 1)  # a sphere as wide as the period: each voxel column once
        for ix in range(ix0, ix1 + 1):
            dx = (ix + 0.5) * hx - cx
            rx = r2 - dx * dx
            if rx < 0.0:
                continue
            for iy in range(iy0, iy1 + 1):
                dy = (iy + 0.5) * hy - cy
                ryz = rx - dy * dy
                if ryz < 0.0:
                    continue
                jy = iy % ny
                if jy < 0:
                    jy += ny
                # |dz| <= sqrt(ryz): the z range of this voxel row inside the sphere
                w = np.sqrt(ryz)
                iz0 = int(np.ceil((cz - w) / hz - 0.5))
                iz1 = int(np.floor((cz + w) / hz - 0.5))
                iz1 = min(iz1, iz0 + nz - 1)
                for iz in range(iz0, iz1 + 1):
                    jz = iz % nz
                    if jz < 0:
                        jz += nz
                    old = labels[ix, jy, jz]
                    if old == 0 or old > lab:
                        labels[ix, jy, jz] = lab


def grid_shape(extent, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """Voxel counts and voxel edges [m] that tile a box of (3,) ``extent`` [m]."""
    extent = np.asarray(extent, dtype=np.float64)
    shape = np.maximum(1, np.rint(extent / voxel)).astype(np.int64)
    return shape, extent / shape


def label_image(centres, radii, species, x_range, lateral, voxel: float,
                n_species: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxel label image of the cathode slab: 0 = none (polymer), k + 1 = species k.

    centres (n, 3), radii (n,) [m]; species (n,) indices; x_range (x0, x1) the slab [m];
    lateral (Ly, Lz) periods [m]; voxel the target voxel edge [m].
    Returns (labels (nx, ny, nz) uint8, h (3,) the voxel edges [m]).
    """
    if n_species > 254:
        raise ValueError("at most 254 species")
    x0, x1 = float(x_range[0]), float(x_range[1])
    shape, h = grid_shape((x1 - x0, lateral[0], lateral[1]), voxel)
    labels = np.zeros(tuple(shape), dtype=np.uint8)
    c = np.ascontiguousarray(centres, dtype=np.float64).reshape(-1, 3).copy()
    c[:, 1] %= lateral[0]
    c[:, 2] %= lateral[1]
    _paint(c, np.ascontiguousarray(radii, dtype=np.float64), np.ascontiguousarray(species, dtype=np.int64),
           x0, h, shape, labels)
    return labels, h


def fractions_from_counts(counts, names) -> dict:
    """The fractions dict of :func:`measure_fractions` from voxel counts per label."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    absolute = {name: float(counts[k + 1] / total) for k, name in enumerate(names)}
    absolute["polymer"] = float(counts[0] / total)
    fractions = {}
    if names:
        first = absolute[names[0]]
        fractions[names[0]] = first
        electrolyte = 1.0 - first
        for name in names[1:]:
            fractions[name] = absolute[name] / electrolyte if electrolyte > 0 else 0.0
    return {"fractions": fractions, "absolute": absolute}


def measure_fractions(packing: Packing, voxel: float | None = None) -> dict:
    """Measured volume fractions of a packing on a voxel grid of edge ``voxel`` [m].

    voxel defaults to the packing's ``spec["packing"]["voxel_um"]`` or 0.25 µm.
    Returns ``{"fractions": {name: f}, "absolute": {name: f, "polymer": f}, "voxel_m": [hx, hy, hz],
    "shape": [nx, ny, nz]}``: ``fractions`` holds the first species' volume fraction of the cathode
    and the other species' electrolyte fractions (see the module docstring).
    """
    if voxel is None:
        voxel = float(packing.spec.get("packing", {}).get("voxel_um", DEFAULT_VOXEL * 1e6)) * 1e-6
    if not voxel > 0:
        raise ValueError(f"voxel must be > 0, got {voxel}")
    names = list(packing.species_names)
    labels, h = label_image(packing.centres, packing.radii, packing.species, packing.cathode_bounds,
                            packing.box[1:], voxel, len(names))
    counts = np.bincount(labels.ravel(), minlength=len(names) + 1)
    out = fractions_from_counts(counts, names)
    out["voxel_m"] = h.tolist()
    out["shape"] = list(labels.shape)
    return out
