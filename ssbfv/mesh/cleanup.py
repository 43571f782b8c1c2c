"""Clean-up of sphere packings before CAD meshing: remove near-degenerate configurations.

OpenCASCADE + gmsh fail (or make slivers) where two sphere surfaces, or a sphere and a box
plane, are nearly tangent, and where the contact circle ("neck") of two overlapping spheres
nearly touches a periodic or collector plane ("periodic mismatch" in 2D meshing). Each rule
below moves spheres by at most about ``clearance`` (tied to the element size by the caller),
so volume fractions change by O(clearance / d):

1. pairs: the gap g = |c_i - c_j| - r_i - r_j must satisfy |g| >= clearance. A violating
   pair is moved along its centre line to g = -clearance (a neck) when both spheres are of
   the first species ("active": necks keep the active network connected) or when they
   already overlap, else to g = +clearance.
2. sphere/plane: for the planes x = x_sep, x = x_max and the periodic planes y = 0, z = 0,
   the distance between the sphere surface and the plane, | |c_k - v| - r |, must be at least
   clearance; a violating sphere is moved along the plane normal.
3. neck/plane: the contact circle of an overlapping pair must not come within clearance of
   a plane without crossing it clearly; a violating pair is moved along the plane normal.

The rules are applied in rounds until none is violated (or ``max_rounds``). Works on plain
arrays (m), periodic in y and z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .periodic import wrap_periodic


@dataclass
class CleanupReport:
    rounds: int
    moved_spheres: int
    max_displacement: float  # m
    remaining_violations: int


def close_pairs(centres, radii, box, reach):
    """Pairs of spheres (i < j) whose centres lie within 2 max(radii) + reach of each other,
    and their minimum-image separation vectors c_j - c_i (periodic in y and z; box =
    (x_max, Ly, Lz), x not periodic). Returns (pairs (m, 2), d (m, 3))."""
    lx, ly, lz = box
    pts = centres.copy()
    pts[:, 1] = wrap_periodic(pts[:, 1], ly)
    pts[:, 2] = wrap_periodic(pts[:, 2], lz)
    pts[:, 0] -= pts[:, 0].min() - 1e-12  # cKDTree needs coordinates in [0, boxsize)
    bx = 4.0 * (np.ptp(pts[:, 0]) + 2 * reach + 1e-12)
    tree = cKDTree(pts, boxsize=[bx, ly, lz])
    pairs = tree.query_pairs(2.0 * radii.max() + reach, output_type="ndarray")
    if pairs.size == 0:
        return pairs.reshape(0, 2), np.zeros((0, 3))
    d = centres[pairs[:, 1]] - centres[pairs[:, 0]]
    d[:, 1] -= ly * np.round(d[:, 1] / ly)
    d[:, 2] -= lz * np.round(d[:, 2] / lz)
    return pairs, d


def _plane_offsets(coord, value, period):
    """Signed distance from a plane (periodic: to the nearest image of it)."""
    s = coord - value
    if period is not None:
        s = s - period * np.round(s / period)
    return s


def clean_spheres(centres, radii, species, box, separator_thickness, clearance, max_rounds=200):
    """Move spheres so that no near-tangent configuration remains (rules in the module doc).

    Parameters
    ----------
    centres : (n, 3) [m]; radii : (n,) [m]; species : (n,) (0 = active)
    box : (x_max, Ly, Lz) [m]; separator_thickness [m]; clearance [m]

    Returns (new centres, CleanupReport). Radii are not changed.
    """
    c = np.array(centres, dtype=np.float64)
    r = np.asarray(radii, dtype=np.float64)
    sp = np.asarray(species)
    x_max, ly, lz = (float(v) for v in box)
    planes = [(0, float(separator_thickness), None), (0, x_max, None), (1, 0.0, ly), (2, 0.0, lz)]
    start = c.copy()
    tight = 0.999 * clearance  # moves go to exactly clearance: do not re-flag them
    n_viol = 0
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        n_viol = 0
        move = np.zeros_like(c)
        # rule 1: pairs
        pairs, d = close_pairs(c, r, box, 2 * clearance)
        if pairs.size:
            i, j = pairs[:, 0], pairs[:, 1]
            dist = np.linalg.norm(d, axis=1)
            gap = dist - r[i] - r[j]
            bad = np.abs(gap) < tight
            if np.any(bad):
                n_viol += int(bad.sum())
                both_active = (sp[i] == 0) & (sp[j] == 0)
                target = np.where(both_active | (gap < 0), -clearance, clearance)
                u = d / np.maximum(dist, 1e-300)[:, None]
                step = np.where(bad, 0.5 * (target - gap), 0.0)[:, None] * u
                np.add.at(move, j, step)
                np.add.at(move, i, -step)
            # rule 3: necks of overlapping pairs near planes
            ov = (gap < 0) & (dist > np.abs(r[i] - r[j]))
            if np.any(ov):
                ii, jj, dd, dist_o = i[ov], j[ov], d[ov], dist[ov]
                a = (dist_o**2 + r[ii] ** 2 - r[jj] ** 2) / (2 * dist_o)
                rho = np.sqrt(np.maximum(r[ii] ** 2 - a**2, 0.0))
                u = dd / dist_o[:, None]
                m = c[ii] + a[:, None] * u
                for axis, value, period in planes:
                    half = rho * np.sqrt(np.maximum(1.0 - u[:, axis] ** 2, 0.0))
                    s = _plane_offsets(m[:, axis], value, period)
                    lo, hi = s - half, s + half  # extent of the circle across the plane
                    near_lo = np.abs(lo) < tight
                    near_hi = np.abs(hi) < tight
                    bad = near_lo | near_hi
                    if np.any(bad):
                        n_viol += int(bad.sum())
                        # move the pair so that the nearer extremum is clearance away
                        shift = np.where(near_lo, np.where(lo >= 0, clearance - lo, -clearance - lo),
                                         np.where(hi >= 0, clearance - hi, -clearance - hi))
                        shift = np.where(bad, shift, 0.0)
                        np.add.at(move[:, axis], ii, shift)
                        np.add.at(move[:, axis], jj, shift)
        # rule 2: sphere surfaces near planes
        for axis, value, period in planes:
            s = _plane_offsets(c[:, axis], value, period)
            gap = np.abs(s) - r
            bad = np.abs(gap) < tight
            if np.any(bad):
                n_viol += int(bad.sum())
                target = np.where(gap >= 0, clearance, -clearance)
                sign = np.where(s >= 0, 1.0, -1.0)
                move[:, axis] += np.where(bad, sign * (target - gap), 0.0)
        if n_viol == 0:
            break
        c += move
        # keep centres inside the cathode slab and wrapped laterally
        c[:, 0] = np.clip(c[:, 0], separator_thickness, x_max)
        c[:, 1] %= ly
        c[:, 2] %= lz
    disp = c - start
    disp[:, 1] -= ly * np.round(disp[:, 1] / ly)
    disp[:, 2] -= lz * np.round(disp[:, 2] / lz)
    dn = np.linalg.norm(disp, axis=1)
    return c, CleanupReport(rounds, int(np.count_nonzero(dn > 0)), float(dn.max(initial=0.0)), n_viol)


@dataclass
class VolumeRestoration:
    scale: list  # radius factor per species
    target: list  # share of the cathode volume per species (voxel-measured, before the clean-up)
    before: list  # share after the clean-up, radii unscaled
    after: list  # share after the clean-up, radii scaled
    measurements: int


def _species_shares(centres, radii, species, n_species, x_range, lateral, voxel):
    from ..microstructure.volume import label_image

    labels, _ = label_image(centres, radii, species, x_range, lateral, voxel, n_species)
    counts = np.bincount(labels.ravel(), minlength=n_species + 1).astype(np.float64)
    return counts[1:] / counts.sum()


def restore_volumes(centres, radii, species, n_species, x_range, lateral, target_centres, voxel=0.25e-6,
                    tol=2e-4, max_iter=12) -> tuple[np.ndarray, VolumeRestoration]:
    """Radius factors per species that give the cleaned spheres the volumes they had before
    the clean-up.

    The clean-up's moves change the overlaps, and with them each species' share of the
    cathode (on dense packings by several per cent of the filler volume). Each species'
    radii are scaled by one factor s_k so that its share of the cathode slab, measured on
    voxels of edge ``voxel`` [m] exactly as the packing generator measures it (earlier
    species win where spheres overlap), equals its share with the original centres
    ``target_centres`` and radii. Species are solved in priority order (species k's share
    depends on s_0 .. s_k only), each by the secant method on the monotone share(s_k),
    to ``tol`` (absolute share) or ``max_iter`` measurements.

    Returns (radii * s[species], VolumeRestoration). Lengths in m.
    """
    r = np.asarray(radii, dtype=np.float64)
    sp = np.asarray(species, dtype=np.int64)
    args = (n_species, x_range, lateral, voxel)
    target = _species_shares(target_centres, r, sp, *args)
    before = _species_shares(centres, r, sp, *args)
    s = np.ones(n_species)
    got = before.copy()
    n_meas = 2
    for k in range(n_species):
        if target[k] <= 0 or not np.any(sp == k):
            continue
        s_prev, g_prev = 1.0, got[k]
        s_k = (target[k] / max(g_prev, 1e-12)) ** (1.0 / 3.0)
        for _ in range(max_iter):
            s[k] = s_k
            got = _species_shares(centres, r * s[sp], sp, *args)
            n_meas += 1
            if abs(got[k] - target[k]) <= tol:
                break
            slope = (got[k] - g_prev) / (s_k - s_prev) if s_k != s_prev else 0.0
            s_prev, g_prev = s_k, got[k]
            if slope > 0:
                s_k = s_k + (target[k] - got[k]) / slope
            else:  # flat or noisy: a volume-ratio step
                s_k = s_k * (target[k] / max(got[k], 1e-12)) ** (1.0 / 3.0)
            s_k = float(np.clip(s_k, 0.8, 1.25))
    return r * s[sp], VolumeRestoration(s.tolist(), target.tolist(), before.tolist(), got.tolist(), n_meas)
