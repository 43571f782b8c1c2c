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
2. sphere/plane: for the planes x = x_sep, x = x_max, the periodic planes y = 0, z = 0 and
   any extra planes x = const (the OCC route's slab planes, :func:`slab_planes`), the
   distance between the sphere surface and the plane, | |c_k - v| - r |, must be at least
   clearance; a violating sphere is moved along the plane normal.
3. neck/plane: the contact circle of an overlapping pair must not come within clearance of
   a plane without crossing it clearly; a violating pair is moved along the plane normal.
4. sphere/edge: the distance of a sphere's centre from each line where two of those planes
   meet (an x plane and y = 0 or z = 0; y = 0 and z = 0) must differ from its radius by at
   least clearance: otherwise the circle the sphere cuts from one plane nearly touches the
   other, and the side surfaces get slivers of faces (with a slab plane, gmsh's periodic
   copy of a z = 0 face next to such a sphere failed, "Could not find periodic counterpart
   of triangle nodes", and did not after this rule). A violating sphere is moved straight
   away from or towards the line.
5. neck/edge: where the contact circle of an overlapping pair crosses one of those planes,
   it must do so at least clearance from the other plane of each such line (else four
   surfaces meet at nearly one point: on the reference cell such a neck made sliver faces
   of 1e-9 um^2 at a slab plane and z = Lz, and the periodic sides no longer matched); a
   violating pair is moved along the other plane's normal.

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


def _neck_circles(c, r, i, j, d):
    """Contact circles of the overlapping pairs (i, j) with separations d = c_j - c_i (one
    sphere not inside the other): centres m (k, 3), radii rho (k,), unit normals u (k, 3)."""
    dist = np.linalg.norm(d, axis=1)
    a = (dist**2 + r[i] ** 2 - r[j] ** 2) / (2 * dist)
    rho = np.sqrt(np.maximum(r[i] ** 2 - a**2, 0.0))
    u = d / dist[:, None]
    return c[i] + a[:, None] * u, rho, u


def _circle_crossings(m, rho, u, axis, value, period):
    """Points where circles (centres m (k, 3), radii rho (k,), unit normals u (k, 3)) cross
    the plane x_axis = value (periodic: its nearest image), relative to the centres:
    (k, 2, 3), NaN where a circle does not reach the plane."""
    # an orthonormal pair (e1, e2) in each circle's plane
    helper = np.where(np.abs(u[:, [0]]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    e1 = np.cross(u, helper)
    e1 /= np.linalg.norm(e1, axis=1)[:, None]
    e2 = np.cross(u, e1)
    a, b = e1[:, axis], e2[:, axis]
    reach = np.hypot(a, b) * rho
    s = -_plane_offsets(m[:, axis], value, period)  # plane coordinate relative to the centre
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.arccos(s / reach)  # NaN where |s| > reach
    base = np.arctan2(b, a)
    theta = np.stack([base - half, base + half], axis=1)  # (k, 2)
    return rho[:, None, None] * (np.cos(theta)[..., None] * e1[:, None, :] + np.sin(theta)[..., None] * e2[:, None, :])


def slab_planes(centres, radii, box, separator_thickness, n_slabs, window=0.25):
    """Positions [m] of the ``n_slabs - 1`` planes x = const that cut the cathode
    [separator_thickness, x_max] into ``n_slabs`` slabs for the OCC route's piecewise
    fragment (``occ.mesh_spheres_occ``).

    Plane k is placed within ``window`` slab widths of the k-th equal division, in the
    middle of the widest interval free of the x values where a plane would be nearly tangent
    to a sphere (c_x +- r) or to the contact circle of two overlapping spheres (the circle's
    extreme x values): those are the configurations the clean-up would otherwise have to
    move spheres away from (:func:`clean_spheres` with ``x_planes``).
    Returns a list of floats (empty for one slab)."""
    c = np.asarray(centres, dtype=np.float64)
    r = np.asarray(radii, dtype=np.float64)
    x_max, ly, lz = (float(v) for v in box)
    x0 = float(separator_thickness)
    n_slabs = int(n_slabs)
    if n_slabs < 1:
        raise ValueError(f"n_slabs must be >= 1, got {n_slabs}")
    if n_slabs == 1:
        return []
    bad = [c[:, 0] - r, c[:, 0] + r]
    if len(r) > 1:
        pairs, d = close_pairs(c, r, box, 0.0)
        if pairs.size:
            i, j = pairs[:, 0], pairs[:, 1]
            dist = np.linalg.norm(d, axis=1)
            ov = (dist < r[i] + r[j]) & (dist > np.abs(r[i] - r[j]))
            m, rho, u = _neck_circles(c, r, i[ov], j[ov], d[ov])
            half = rho * np.sqrt(np.maximum(1.0 - u[:, 0] ** 2, 0.0))
            bad += [m[:, 0] - half, m[:, 0] + half]
    bad = np.sort(np.concatenate(bad))
    width = (x_max - x0) / n_slabs
    planes = []
    for k in range(1, n_slabs):
        lo, hi = x0 + (k - window) * width, x0 + (k + window) * width
        pts = np.concatenate([[lo], bad[(bad > lo) & (bad < hi)], [hi]])
        g = int(np.argmax(np.diff(pts)))
        planes.append(float(0.5 * (pts[g] + pts[g + 1])))
    return planes


def clean_spheres(centres, radii, species, box, separator_thickness, clearance, max_rounds=200, x_planes=()):
    """Move spheres so that no near-tangent configuration remains (rules in the module doc).

    Parameters
    ----------
    centres : (n, 3) [m]; radii : (n,) [m]; species : (n,) (0 = active)
    box : (x_max, Ly, Lz) [m]; separator_thickness [m]; clearance [m]
    x_planes : further planes x = const [m] that rules 2 to 5 keep clear (internal cuts of
        the cell such as the OCC route's slab planes)

    Returns (new centres, CleanupReport). Radii are not changed.
    """
    c = np.array(centres, dtype=np.float64)
    r = np.asarray(radii, dtype=np.float64)
    sp = np.asarray(species)
    x_max, ly, lz = (float(v) for v in box)
    planes = [(0, float(separator_thickness), None), (0, x_max, None), (1, 0.0, ly), (2, 0.0, lz)]
    planes += [(0, float(v), None) for v in x_planes]
    # lines where an x plane meets a periodic plane, and where the periodic planes meet
    edges = [(p, q) for p in planes if p[0] == 0 for q in planes if q[0] != 0] + [(planes[2], planes[3])]
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
                ii, jj = i[ov], j[ov]
                m, rho, u = _neck_circles(c, r, ii, jj, d[ov])
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
                # rule 5: necks crossing a plane near a line where it meets another plane
                for pa, pb in edges:
                    for (ax_a, val_a, per_a), (ax_b, val_b, per_b) in ((pa, pb), (pb, pa)):
                        off = _circle_crossings(m, rho, u, ax_a, val_a, per_a)  # (k, 2, 3) or NaN
                        sb = _plane_offsets(off[..., ax_b] + m[:, None, ax_b], val_b, per_b)
                        bad_pt = np.abs(sb) < tight  # NaN (no crossing) compares False
                        bad = bad_pt.any(axis=1)
                        if np.any(bad):
                            n_viol += int(bad.sum())
                            k = np.argmax(bad_pt, axis=1)
                            sk = sb[np.arange(len(sb)), k]
                            shift = np.where(bad, np.where(sk >= 0, clearance - sk, -clearance - sk), 0.0)
                            np.add.at(move[:, ax_b], ii, shift)
                            np.add.at(move[:, ax_b], jj, shift)
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
        # rule 4: sphere surfaces near the lines where two planes meet
        for (ax_a, val_a, per_a), (ax_b, val_b, per_b) in edges:
            da = _plane_offsets(c[:, ax_a], val_a, per_a)
            db = _plane_offsets(c[:, ax_b], val_b, per_b)
            dist = np.hypot(da, db)
            bad = (np.abs(dist - r) < tight) & (dist > 0)
            if np.any(bad):
                n_viol += int(bad.sum())
                target = np.where(dist >= r, r + clearance, r - clearance)
                step = np.where(bad, (target - dist) / np.maximum(dist, 1e-300), 0.0)
                move[:, ax_a] += step * da
                move[:, ax_b] += step * db
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
