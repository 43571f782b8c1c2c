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


@dataclass
class CleanupReport:
    rounds: int
    moved_spheres: int
    max_displacement: float  # m
    remaining_violations: int


def _pairs(centres, radii, box, reach):
    """Close pairs (i < j) with minimum-image separation vectors (periodic in y, z)."""
    lx, ly, lz = box
    pts = centres.copy()
    pts[:, 1] %= ly
    pts[:, 2] %= lz
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
        pairs, d = _pairs(c, r, box, 2 * clearance)
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
