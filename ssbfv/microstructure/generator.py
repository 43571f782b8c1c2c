"""DEM-free packing generator: collective rearrangement with bounded overlaps.

Algorithm (docs/packing.md has the long version)
------------------------------------------------
1. Counts: per species, the number of spheres that fills its target volume without overlap
   (mean sphere volume of its size distribution, trimming at the slab planes estimated).
2. Placement: centres uniformly at random in the cathode slab (x in [x0, x1], y and z in
   the periods), diameters drawn from the species' distribution.
3. Relaxation (collective rearrangement, shrink-free, Jodrey–Tory / Bezrukov style):
   Gauss–Seidel sweeps over a Verlet pair list (cell lists, periodic images in y and z)
   project every pair that breaks a rule onto the nearest admissible centre distance,
   moving both spheres along their centre line (shares ~ 1/r, so small spheres give way;
   over-relaxed by OMEGA once the overlaps are small), centres clipped to the slab in x.
   Pair rules: overlap depth r_i + r_j - |c_i - c_j| <= ``max_overlap`` x min(d_i, d_j);
   surfaces either >= ``clearance`` apart or overlapping by >= ``clearance``. Plane rule:
   a sphere surface is >= ``clearance`` off each slab plane or crosses it by >=
   ``clearance``. Phase 1 enforces the overlap limit only (a convex problem, converges
   fast), phase 2 adds the (non-convex) clearance rules. A relaxation ends when all rules
   hold (internally with a small margin, then checked exactly), when its violations stop
   shrinking, or after ``max_sweeps``.
4. Measurement of the fractions on a voxel image (volume.py); the counts are corrected
   (secant on the measured fraction per sphere; new spheres go to random empty voxels,
   removed ones are drawn at random) and relaxed again, until every fraction is within
   tolerance. Where a target lies between two counts (coarse spheres in a small box), up
   to MAX_TUNERS spheres of that species are held across a slab plane at a depth tuned
   (secant) so that the trimmed volume closes the gap.
5. Infeasible targets: a failed relaxation means a count above what ``max_overlap``
   allows; the generator backs off to the last admissible state and bisects the increase
   (earlier species first; later species give up room for earlier ones). When an increase
   worth a quarter of the tolerance still fails, it raises :class:`InfeasiblePackingError`
   naming the species, the limit and the fraction reached.

Everything runs on one thread (numba kernels); a seed fixes the result bit for bit.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .packing import Packing
from .spec import UM, PackingSpec, load_spec
from .volume import fractions_from_counts, label_image

ALGORITHM = "collective-rearrangement/gauss-seidel-overlap-projection/v1"


class InfeasiblePackingError(RuntimeError):
    """The targets cannot be reached within the packing limits (overlap, tolerance, rounds)."""


# ============================================================================ numba kernels
STALL_WINDOW = 250  # sweeps
STALL_FACTOR = 0.9  # a relaxation stops when its worst violation shrinks less over a window


@njit(cache=True)
def _pair_target(dist, ri, rj, max_overlap, clearance, margin, band, side):
    """Nearest admissible centre distance [m] for a pair at distance ``dist`` [m].

    Admissible (with the internal safety ``margin`` [m]): gap = dist - ri - rj >= clearance,
    or -max_overlap * 2 min(ri, rj) <= gap <= -clearance. Without ``band`` only the
    deepest overlap is enforced (the convex part of the rules). Inside the clearance band
    the pair goes to the side ``side`` (+1 apart, -1 overlapping) or, with side 0, to the
    nearer side. Returns (target distance, side taken; 0 when admissible).
    """
    rsum = ri + rj
    hi = rsum + clearance + margin  # smallest admissible distance without overlap
    depth = max_overlap * 2.0 * min(ri, rj) - margin  # deepest admissible overlap
    if depth < clearance + margin:  # no overlap window: apart only
        return (hi, 1) if dist < hi else (dist, 0)
    lo = rsum - depth
    if dist < lo:
        return lo, 0
    if band:
        band_lo = rsum - clearance - margin  # overlapping by >= clearance
        if band_lo < dist < hi:
            if side == 0:
                side = -1 if dist - band_lo < hi - dist else 1
            return (band_lo, -1) if side < 0 else (hi, 1)
    return dist, 0


@njit(cache=True)
def _plane_target(t, r, clearance, margin, side):
    """Nearest admissible distance t >= 0 [m] of a centre from a slab plane (sphere radius r).

    The surface is >= clearance off the plane (t >= r + clearance, side +1) or crosses it
    by >= clearance (t <= r - clearance, side -1); side 0 picks the nearer.
    Returns (target t, side taken; 0 when admissible).
    """
    lo = r - clearance - margin
    hi = r + clearance + margin
    if lo < t < hi:
        if side == 0:
            side = -1 if t - lo < hi - t else 1
        return (lo, -1) if side < 0 else (hi, 1)
    return t, 0


@njit(cache=True)
def _wrap(pos, ly, lz):
    """Wrap y, z into [0, ly), [0, lz) (a tiny negative value would round to the period)."""
    for i in range(pos.shape[0]):
        y = pos[i, 1] % ly
        z = pos[i, 2] % lz
        pos[i, 1] = y if y < ly else 0.0
        pos[i, 2] = z if z < lz else 0.0


@njit(cache=True)
def _build_pairs(pos, radii, x0, x1, ly, lz, reach, cap):
    """Verlet pair list with periodic images in y, z (cell lists).

    Wraps pos[:, 1:] into the periods, then lists every pair i < j (with the image shift
    (sy, sz) [m] to add to j) whose centre distance is below r_i + r_j + reach [m].
    Returns (i, j, sy, sz, count) or count = -1 when more than ``cap`` pairs exist.
    """
    n = pos.shape[0]
    _wrap(pos, ly, lz)
    rmax = 0.0
    for i in range(n):
        rmax = max(rmax, radii[i])
    cut = 2.0 * rmax + reach
    ncx = max(1, int((x1 - x0) / cut))
    ncy = max(1, int(ly / cut))
    ncz = max(1, int(lz / cut))
    hx = (x1 - x0) / ncx
    hy = ly / ncy
    hz = lz / ncz
    my = int(math.ceil(cut / hy))
    mz = int(math.ceil(cut / hz))
    cell = np.empty(n, np.int64)
    count = np.zeros(ncx * ncy * ncz + 1, np.int64)
    for i in range(n):
        cx = min(ncx - 1, max(0, int((pos[i, 0] - x0) / hx)))
        cy = min(ncy - 1, int(pos[i, 1] / hy))
        cz = min(ncz - 1, int(pos[i, 2] / hz))
        cell[i] = (cx * ncy + cy) * ncz + cz
        count[cell[i] + 1] += 1
    for c in range(ncx * ncy * ncz):
        count[c + 1] += count[c]
    order = np.empty(n, np.int64)
    fill = count[:-1].copy()
    for i in range(n):  # counting sort by cell; particles stay in index order inside a cell
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    pi = np.empty(cap, np.int64)
    pj = np.empty(cap, np.int64)
    psy = np.empty(cap, np.float64)
    psz = np.empty(cap, np.float64)
    k = 0
    for i in range(n):
        c = cell[i]
        cx = c // (ncy * ncz)
        cy = (c // ncz) % ncy
        cz = c % ncz
        for ax in range(max(0, cx - 1), min(ncx, cx + 2)):
            for uy in range(cy - my, cy + my + 1):
                wy = uy % ncy
                sy = ((uy - wy) // ncy) * ly
                for uz in range(cz - mz, cz + mz + 1):
                    wz = uz % ncz
                    sz = ((uz - wz) // ncz) * lz
                    c2 = (ax * ncy + wy) * ncz + wz
                    for q in range(count[c2], count[c2 + 1]):
                        j = order[q]
                        if j <= i:
                            continue
                        dx = pos[j, 0] - pos[i, 0]
                        dy = pos[j, 1] + sy - pos[i, 1]
                        dz = pos[j, 2] + sz - pos[i, 2]
                        lim = radii[i] + radii[j] + reach
                        if dx * dx + dy * dy + dz * dz < lim * lim:
                            if k == cap:
                                return pi, pj, psy, psz, -1
                            pi[k] = i
                            pj[k] = j
                            psy[k] = sy
                            psz[k] = sz
                            k += 1
    return pi, pj, psy, psz, k


@njit(cache=True)
def _max_violation(pos, radii, pi, pj, psy, psz, npairs, x0, x1, max_overlap, clearance):
    """Largest violation [m] of the exact pair and plane rules over a pair list."""
    worst = 0.0
    for k in range(npairs):
        i = pi[k]
        j = pj[k]
        dx = pos[j, 0] - pos[i, 0]
        dy = pos[j, 1] + psy[k] - pos[i, 1]
        dz = pos[j, 2] + psz[k] - pos[i, 2]
        d = math.sqrt(dx * dx + dy * dy + dz * dz)
        target, _ = _pair_target(d, radii[i], radii[j], max_overlap, clearance, 0.0, True, 0)
        worst = max(worst, abs(target - d))
    for i in range(pos.shape[0]):
        worst = max(worst, x0 - pos[i, 0], pos[i, 0] - x1)
        t = pos[i, 0] - x0
        target, _ = _plane_target(t, radii[i], clearance, 0.0, 0)
        worst = max(worst, abs(target - t))
        t = x1 - pos[i, 0]
        target, _ = _plane_target(t, radii[i], clearance, 0.0, 0)
        worst = max(worst, abs(target - t))
    return worst


@njit(cache=True)
def _sweep(pos, radii, mobility, pi, pj, psy, psz, npairs, x0, x1, max_overlap, clearance, margin,
           band, pair_side, plane_side, omega):
    """One Gauss–Seidel projection sweep over the pairs, then the slab planes.

    Each violating pair is moved to its nearest admissible distance along the centre line,
    sphere i by the share mobility_i / (mobility_i + mobility_j). Centres are clipped to
    [x0, x1]. With ``band`` the clearance rules are enforced too; the side a pair (or a
    sphere at a plane) is sent to is remembered in pair_side (plane_side (n, 2)) so that
    it does not flip between sweeps. Returns the largest violation [m] met (before
    correction).
    """
    worst = 0.0
    for k in range(npairs):
        i = pi[k]
        j = pj[k]
        dx = pos[j, 0] - pos[i, 0]
        dy = pos[j, 1] + psy[k] - pos[i, 1]
        dz = pos[j, 2] + psz[k] - pos[i, 2]
        rsum = radii[i] + radii[j]
        d2 = dx * dx + dy * dy + dz * dz
        reach = rsum + clearance + margin
        if d2 >= reach * reach:
            continue
        d = math.sqrt(d2)
        target, side = _pair_target(d, radii[i], radii[j], max_overlap, clearance, margin, band, pair_side[k])
        if side != 0:
            pair_side[k] = side
        delta = target - d
        if delta == 0.0:
            continue
        worst = max(worst, abs(delta))
        msum = mobility[i] + mobility[j]
        if msum == 0.0:
            continue
        if d > 1e-12 * rsum:
            ux = dx / d
            uy = dy / d
            uz = dz / d
        else:  # coincident centres: separate along x, or along y at a plane
            ux, uy, uz = 1.0, 0.0, 0.0
            if pos[i, 0] <= x0 or pos[j, 0] >= x1:
                ux, uy = 0.0, 1.0
        si = omega * delta * mobility[i] / msum
        sj = omega * delta * mobility[j] / msum
        pos[i, 0] = min(x1, max(x0, pos[i, 0] - si * ux))
        pos[i, 1] -= si * uy
        pos[i, 2] -= si * uz
        pos[j, 0] = min(x1, max(x0, pos[j, 0] + sj * ux))
        pos[j, 1] += sj * uy
        pos[j, 2] += sj * uz
    if band:
        for i in range(pos.shape[0]):
            if mobility[i] == 0.0:
                continue
            x = pos[i, 0]
            t, side = _plane_target(x - x0, radii[i], clearance, margin, plane_side[i, 0])
            if side != 0:
                plane_side[i, 0] = side
            x = x0 + t
            t, side = _plane_target(x1 - x, radii[i], clearance, margin, plane_side[i, 1])
            if side != 0:
                plane_side[i, 1] = side
            x = min(x1, max(x0, x1 - t))
            if x != pos[i, 0]:
                worst = max(worst, abs(x - pos[i, 0]))
                pos[i, 0] = x
    return worst


@njit(cache=True)
def _relax(pos, radii, mobility, x0, x1, ly, lz, max_overlap, clearance, margin, skin, max_sweeps, trace,
           omega, calm):
    """Collective rearrangement until no pair or plane rule is violated.

    pos (n, 3) [m] is updated in place (y, z wrapped into the periods); spheres with zero
    mobility stay put. Projections are over-relaxed by ``omega`` once the worst violation
    is below ``calm`` [m]. The relaxation gives up early when the smallest worst violation
    of a window of STALL_WINDOW sweeps is not below STALL_FACTOR times that of the window
    before. trace[s] records the worst violation of sweep s (negative in phase 1). Phase 1 enforces
    only the overlap limit (convex, converges fast), phase 2 adds the clearance rules
    (non-convex: each pair keeps the side it was first sent to while the pair list
    lives). Sweeps project with the rules tightened by ``margin`` [m] and stop when the
    worst violation is below margin / 2 and an exact check (no margin) passes. The pair
    list holds the pairs within ``skin`` [m] of interacting and is rebuilt once a sphere
    has moved skin / 2 from where it was at the last build.
    Returns (converged, sweeps, worst violation of the last sweep [m]).
    """
    n = pos.shape[0]
    reach = clearance + margin + skin
    cap = 16 * n + 64
    pi, pj, psy, psz, npairs = _build_pairs(pos, radii, x0, x1, ly, lz, reach, cap)
    while npairs < 0:
        cap *= 2
        pi, pj, psy, psz, npairs = _build_pairs(pos, radii, x0, x1, ly, lz, reach, cap)
    built = pos.copy()
    pair_side = np.zeros(cap, np.int8)
    plane_side = np.zeros((n, 2), np.int8)
    band = False
    worst = np.inf
    window_min = np.inf  # smallest worst violation in the current window of sweeps
    last_window_min = np.inf
    window = 0
    for sweep in range(1, max_sweeps + 1):
        w = omega if worst < calm else 1.0  # no over-relaxation while overlaps are gross
        worst = _sweep(pos, radii, mobility, pi, pj, psy, psz, npairs, x0, x1, max_overlap, clearance, margin,
                       band, pair_side, plane_side, w)
        if sweep <= trace.size:
            trace[sweep - 1] = worst if band else -worst
        window_min = min(window_min, worst)
        window += 1
        if window == STALL_WINDOW:
            if window_min > STALL_FACTOR * last_window_min:
                break  # violations no longer shrink: too dense
            last_window_min = window_min
            window_min = np.inf
            window = 0
        moved = 0.0
        for i in range(n):
            d2 = (pos[i, 0] - built[i, 0]) ** 2 + (pos[i, 1] - built[i, 1]) ** 2 + (pos[i, 2] - built[i, 2]) ** 2
            moved = max(moved, d2)
        stale = moved > (0.5 * skin) ** 2
        if worst <= 0.5 * margin and not stale:
            if not band:
                band = True
                window_min = last_window_min = np.inf  # the clearance rules start a new descent
                window = 0
            elif _max_violation(pos, radii, pi, pj, psy, psz, npairs, x0, x1, max_overlap, clearance) == 0.0:
                _wrap(pos, ly, lz)
                return True, sweep, worst
        if stale:
            pi, pj, psy, psz, npairs = _build_pairs(pos, radii, x0, x1, ly, lz, reach, cap)
            while npairs < 0:
                cap *= 2
                pi, pj, psy, psz, npairs = _build_pairs(pos, radii, x0, x1, ly, lz, reach, cap)
            built[:] = pos
            if pair_side.size < cap:
                pair_side = np.zeros(cap, np.int8)
            else:
                pair_side[:] = 0
    _wrap(pos, ly, lz)
    return False, sweep, worst


# ============================================================================ Python driver
OMEGA = 1.5  # over-relaxation factor of the projections
MOBILITY_EXPONENT = 1.0  # a sphere gives way in proportion to 1 / r^MOBILITY_EXPONENT
MAX_YIELDS = 3  # times later species give up room for an earlier one that hit the overlap limit
MAX_TUNERS = 3  # spheres per species that may be trimmed by a slab plane to fine-tune a fraction
_NO_LIMIT = np.iinfo(np.int64).max


@dataclass
class _State:
    """Spheres of the packing under construction (SI).

    plane : -1 for a free sphere, 0 / 1 for a "tuner" held at a fixed depth across the slab
        plane x0 / x1 (immobile during the relaxation, see _Generator.place_tuners).
    """

    pos: np.ndarray  # (n, 3) [m]
    radii: np.ndarray  # (n,) [m]
    species: np.ndarray  # (n,) int
    plane: np.ndarray  # (n,) int8

    @classmethod
    def empty(cls) -> "_State":
        return cls(np.zeros((0, 3)), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8))

    def copy(self) -> "_State":
        return _State(self.pos.copy(), self.radii.copy(), self.species.copy(), self.plane.copy())

    def counts(self, n_species: int) -> np.ndarray:
        return np.bincount(self.species, minlength=n_species)

    def mobility(self) -> np.ndarray:
        """Share of a pair correction that a sphere takes: ~ 1 / r, 0 for tuners."""
        if not self.radii.size:
            return self.radii.copy()
        m = (self.radii.max() / self.radii) ** MOBILITY_EXPONENT
        m[self.plane >= 0] = 0.0
        return m

    def keep(self, mask: np.ndarray) -> "_State":
        return _State(self.pos[mask], self.radii[mask], self.species[mask], self.plane[mask])


def _cap_volume(r: float, h: float) -> float:
    """Volume [m^3] of the cap of depth h [m] of a sphere of radius r [m]."""
    return math.pi * h * h * (3.0 * r - h) / 3.0


def _cap_depth(r: float, v: float) -> float:
    """Depth h in [0, r] of the cap of volume v [m^3] (bisection; v clipped to the half sphere)."""
    v = min(max(v, 0.0), _cap_volume(r, r))
    lo, hi = 0.0, r
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _cap_volume(r, mid) < v:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass
class _Tuning:
    """Fine-tuning of one species by trimming a few of its spheres at a slab plane.

    trim : in-slab volume to cut off, as a fraction of the cathode volume
    history : (trim, excess) per round, excess = measured - target absolute fraction
    """

    trim: float
    history: list = field(default_factory=list)


class _Generator:
    """One run of the packing algorithm for a spec and a seed (see the module docstring)."""

    def __init__(self, spec: PackingSpec, seed: int):
        self.spec = spec
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        num = spec.numerics
        self.x0 = spec.separator_thickness
        self.x1 = spec.separator_thickness + spec.cathode_thickness
        self.ly, self.lz = spec.lateral
        self.k = len(spec.species)
        dmin = min(s.size.min_diameter for s in spec.species)
        self.margin = max(0.02 * num.clearance, 1e-4 * dmin)  # internal slack of the rules [m]
        self.skin = 0.1 * dmin  # Verlet skin [m]
        self.calm = 0.05 * dmin  # violations [m] below which projections are over-relaxed
        self.volume = spec.cathode_volume
        self.mean_volume = np.array([s.size.mean_volume() for s in spec.species])  # [m^3]
        self.sweeps = 0
        self.rounds = 0
        self.history: list[dict] = []
        self.trace = np.zeros(num.max_sweeps)

    # ------------------------------------------------------------------ building blocks
    def initial_counts(self) -> np.ndarray:
        """Sphere counts that give the targets without overlap (trimming at the planes estimated)."""
        spec = self.spec
        counts = np.zeros(self.k, dtype=np.int64)
        for k, s in enumerate(spec.species):
            target = s.target if k == 0 else s.target * (1.0 - spec.species[0].target)
            trimmed = 1.0 - 3.0 * s.size.d50 / (16.0 * spec.cathode_thickness)  # mean in-slab share
            counts[k] = int(round(target * self.volume / (self.mean_volume[k] * trimmed)))
        return counts

    def add(self, state: _State, k: int, n: int, labels: np.ndarray | None) -> _State:
        """Append n spheres of species k, centred in random empty voxels (or anywhere)."""
        if n <= 0:
            return state
        d = self.spec.species[k].size.sample(self.rng, n)
        extent = np.array([self.x1 - self.x0, self.ly, self.lz])
        empty = np.flatnonzero(labels.ravel() == 0) if labels is not None else np.zeros(0, dtype=np.int64)
        if empty.size:
            pick = empty[self.rng.integers(0, empty.size, n)]
            idx = np.column_stack(np.unravel_index(pick, labels.shape)).astype(np.float64)
            pos = (idx + self.rng.random((n, 3))) * (extent / np.array(labels.shape))
        else:
            pos = self.rng.random((n, 3)) * extent
        pos[:, 0] += self.x0
        return _State(np.vstack([state.pos, pos]), np.concatenate([state.radii, 0.5 * d]),
                      np.concatenate([state.species, np.full(n, k, dtype=np.int64)]),
                      np.concatenate([state.plane, np.full(n, -1, dtype=np.int8)]))

    def remove(self, state: _State, k: int, n: int) -> _State:
        """Remove n random free spheres of species k."""
        idx = np.flatnonzero((state.species == k) & (state.plane < 0))
        drop = self.rng.choice(idx, size=min(n, idx.size), replace=False)
        keep = np.ones(state.species.size, dtype=bool)
        keep[drop] = False
        return state.keep(keep)

    def relax(self, state: _State) -> bool:
        """Collective rearrangement of ``state`` in place; True when all rules hold."""
        num = self.spec.numerics
        state.pos = np.ascontiguousarray(state.pos)
        ok, sweeps, _ = _relax(state.pos, state.radii, state.mobility(), self.x0, self.x1, self.ly, self.lz,
                               num.max_overlap, num.clearance, self.margin, self.skin, num.max_sweeps,
                               self.trace, OMEGA, self.calm)
        self.sweeps += int(sweeps)
        return bool(ok)

    def measure(self, state: _State) -> tuple[dict, np.ndarray]:
        """Measured fractions (as volume.measure_fractions) and the voxel label image."""
        labels, _ = label_image(state.pos, state.radii, state.species, (self.x0, self.x1),
                                (self.ly, self.lz), self.spec.numerics.voxel, self.k)
        counts = np.bincount(labels.ravel(), minlength=self.k + 1)
        return fractions_from_counts(counts, list(self.spec.names)), labels

    def excess(self, measured: dict) -> np.ndarray:
        """measured - target per species, in the terms of the spec."""
        return np.array([measured["fractions"][s.name] - s.target for s in self.spec.species])

    def excess_absolute(self, measured: dict, k: int) -> float:
        """measured - target of species k as a fraction of the cathode volume."""
        s = self.spec.species[k]
        if k == 0:
            return measured["absolute"][s.name] - s.target
        electrolyte = 1.0 - measured["absolute"][self.spec.names[0]]
        return measured["absolute"][s.name] - s.target * electrolyte

    def off_target(self, measured: dict) -> list[int]:
        """Species whose measured fraction is out of tolerance."""
        ex = self.excess(measured)
        return [k for k in range(self.k) if abs(ex[k]) > self.spec.tolerance(k)]

    def sphere_share(self, k: int) -> float:
        """Mean volume of a sphere of species k as a fraction of the cathode volume."""
        return self.mean_volume[k] / self.volume

    def count_step(self, measured: dict, counts: np.ndarray, k: int) -> int:
        """Change of the count of species k that should bring it to its target.

        The absolute fraction added per sphere comes from the last two admissible rounds
        (secant) when they differ in that count, else from the measured fraction per
        sphere (a sphere in a dense packing adds less than its volume).
        """
        s = self.spec.species[k]
        gap = -self.excess_absolute(measured, k)
        v = self.sphere_share(k)
        slope = measured["absolute"][s.name] / counts[k] if counts[k] > 0 else v
        slope = min(max(slope, 0.05 * v), v)
        if len(self.history) >= 2:
            a, b = self.history[-2], self.history[-1]
            dn = b["counts"][k] - a["counts"][k]
            if dn != 0:
                sec = (b["absolute"][s.name] - a["absolute"][s.name]) / dn
                if 0.05 * v <= sec <= v:
                    slope = sec
        step = int(round(gap / slope))
        return step if step != 0 else int(np.sign(gap))

    # ------------------------------------------------------------------ fine tuning
    def choose_tuners(self, state: _State, k: int) -> float:
        """Mark up to MAX_TUNERS free spheres of species k as tuners; returns the volume they
        already have outside the slab, as a fraction of the cathode volume.

        Tuners are the spheres whose surface comes nearest to a slab plane (so that small
        moves trim them), laterally far enough from the other tuners at that plane (of any
        species) to let the largest sphere pass between them: held spheres cannot give way,
        and a free sphere caged by them at the plane would jam the relaxation.
        """
        # room for the largest sphere to pass between two held spheres
        gap = 2.0 * max(s.size.max_diameter for s in self.spec.species) + self.spec.numerics.clearance
        thick = self.x1 - self.x0
        t0 = state.pos[:, 0] - self.x0
        t1 = self.x1 - state.pos[:, 0]
        nearness = np.minimum(np.abs(t0 - state.radii), np.abs(t1 - state.radii))
        tuners: list[int] = []
        held = list(np.flatnonzero(state.plane >= 0))  # tuners of all species
        cut = 0.0
        for i in np.argsort(nearness, kind="stable"):
            if len(tuners) == MAX_TUNERS:
                break
            if state.species[i] != k or state.plane[i] >= 0:
                continue
            lower = abs(t0[i] - state.radii[i]) <= abs(t1[i] - state.radii[i])
            plane = 0 if lower else 1
            if any(self._lateral_distance(state.pos[i], state.pos[j]) < state.radii[i] + state.radii[j] + gap
                   for j in held if state.plane[j] == plane or thick < 2.0 * (state.radii[i] + state.radii[j]) + gap):
                continue
            tuners.append(int(i))
            held.append(int(i))
            state.plane[i] = plane
            r = state.radii[i]
            cut += _cap_volume(r, max(0.0, r - (t0[i] if lower else t1[i])))
        return cut / self.volume

    def place_tuners(self, state: _State, k: int, trim: float) -> _State:
        """Put the tuners of species k across their plane so that ``trim`` (a fraction of the
        cathode volume, split evenly) of their volume lies outside the slab.

        Each tuner goes to the depth whose spherical cap has its share of the trim volume,
        crossing the plane by >= clearance, or just inside (>= clearance off the plane)
        when its share is below half of the clearance cap.
        """
        clear = self.spec.numerics.clearance + 2.0 * self.margin
        tuners = np.flatnonzero((state.species == k) & (state.plane >= 0))
        for i in tuners:
            r = state.radii[i]
            v = trim * self.volume / tuners.size
            if v < 0.5 * _cap_volume(r, clear):
                t = r + clear  # not crossing
            else:
                t = r - min(r, max(clear, _cap_depth(r, v)))
            state.pos[i, 0] = self.x0 + t if state.plane[i] == 0 else self.x1 - t
        return state

    def _lateral_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Distance [m] of two points in the periodic y-z plane (x ignored)."""
        dy = abs(a[1] - b[1]) % self.ly
        dz = abs(a[2] - b[2]) % self.lz
        return math.hypot(min(dy, self.ly - dy), min(dz, self.lz - dz))

    def tune(self, state: _State, tuning: _Tuning, k: int, measured: dict) -> tuple[_State, int]:
        """Next trim of species k's tuners (secant on the measured excess).

        Returns the state and a count step: +1 (release the tuners, one more sphere) when
        even untrimmed tuners leave the species short, -1 when the tuners cannot cut enough.
        """
        ex = self.excess_absolute(measured, k)
        tuning.history.append((tuning.trim, ex))
        slope = 1.0
        if len(tuning.history) >= 2:
            (t0, e0), (t1, e1) = tuning.history[-2:]
            if t1 != t0:
                slope = min(2.0, max(0.3, (e0 - e1) / (t1 - t0)))
        radii = state.radii[(state.species == k) & (state.plane >= 0)]
        capacity = sum(_cap_volume(r, r) for r in radii) / self.volume  # all tuners cut in half
        if (tuning.trim <= 0.0 and ex < 0) or (tuning.trim >= capacity and ex > 0):
            state.plane[state.species == k] = -1  # out of the tuners' range: change the count
            return state, (1 if ex < 0 else -1)
        tuning.trim = min(capacity, max(0.0, tuning.trim + ex / slope))
        return self.place_tuners(state, k, tuning.trim), 0

    # ------------------------------------------------------------------ main loop
    def run(self) -> Packing:
        spec = self.spec
        num = spec.numerics
        state = _State.empty()
        for k, n in enumerate(self.initial_counts()):
            state = self.add(state, k, int(n), None)
        good = None  # (state, measured, labels) of the last admissible round
        upper = np.full(self.k, _NO_LIMIT)  # smallest counts found too dense
        tuning: list[_Tuning | None] = [None] * self.k
        last_step = np.zeros(self.k, dtype=np.int64)
        yields = np.zeros(self.k, dtype=np.int64)  # times a species got room from later species
        no_tuning = np.zeros(self.k, dtype=bool)  # tuning failed once for the species
        restarts = 0
        for self.rounds in range(1, num.max_rounds + 1):
            counts = state.counts(self.k)
            if not self.relax(state):
                if good is None:  # too dense from the start: thin all species out, start again
                    restarts += 1
                    if restarts > 3:
                        raise InfeasiblePackingError(self._overlap_message(None, range(self.k), counts))
                    thinned = _State.empty()
                    for k in range(self.k):
                        thinned = self.add(thinned, k, int(0.85 * counts[k]), None)
                    state = thinned
                    continue
                state = self.back_off(counts, good, upper, tuning, no_tuning)
                continue
            measured, labels = self.measure(state)
            good = (state.copy(), measured, labels)
            self.history.append({"counts": counts.tolist(), "absolute": measured["absolute"]})
            off = self.off_target(measured)
            if not off:
                return self.packing(state, measured)
            steps = np.zeros(self.k, dtype=np.int64)
            for k in off:
                if tuning[k] is not None:
                    state, steps[k] = self.tune(state, tuning[k], k, measured)
                    if steps[k]:
                        tuning[k] = None
                    continue
                steps[k] = self.count_step(measured, counts, k)
                if abs(steps[k]) == 1 and steps[k] == -last_step[k] and steps[k] < 0 and not no_tuning[k]:
                    # the target lies between two counts: trim spheres at a plane instead
                    cut = self.choose_tuners(state, k)
                    tuning[k] = _Tuning(cut + self.excess_absolute(measured, k))
                    state = self.place_tuners(state, k, tuning[k].trim)
                    steps[k] = 0
            steps = np.minimum(steps, np.maximum(upper - 1 - counts, 0))
            short = [k for k in off if self.excess(measured)[k] < 0 and steps[k] <= 0 and tuning[k] is None]
            for k in short:
                later = [j for j in range(k + 1, self.k) if counts[j] > 0]
                if not later or yields[k] >= MAX_YIELDS:
                    raise InfeasiblePackingError(self._overlap_message(measured, short, counts))
                # earlier species have priority: later species give up room
                yields[k] += 1
                room = -1.5 * self.excess_absolute(measured, k) * self.volume / len(later)  # [m^3]
                for j in later:
                    steps[j] = min(steps[j], -int(math.ceil(room / self.mean_volume[j])))
                upper[k] = _NO_LIMIT
                steps[k] = max(1, self.count_step(measured, counts, k))
            last_step = np.where(steps != 0, steps, last_step)
            for k in range(self.k):
                if steps[k] > 0:
                    state = self.add(state, k, int(steps[k]), labels)
                elif steps[k] < 0:
                    state = self.remove(state, k, int(-steps[k]))
                    upper[np.arange(self.k) != k] = _NO_LIMIT  # room was made for the others
        if good is not None and np.any(np.abs(last_step) == 1):
            raise InfeasiblePackingError(self._granularity_message(good[1]))
        raise InfeasiblePackingError(
            f"fractions not within tolerance after packing.max_rounds = {num.max_rounds} relaxations: "
            + self._fractions_text(good[1] if good else None))

    def back_off(self, counts: np.ndarray, good: tuple, upper: np.ndarray, tuning: list,
                 no_tuning: np.ndarray) -> _State:
        """After a failed relaxation: back to the last admissible state with a smaller increase.

        Only the first species that grew keeps (half of) its increase (earlier species have
        priority); its count becomes an upper limit. An increase worth less than a quarter
        of the tolerance (or one sphere) that fails marks the limit as reached.
        """
        prev = good[0].counts(self.k)
        grown = np.flatnonzero(counts > prev)
        state = good[0].copy()
        if grown.size == 0:  # the tuners cannot be held where they were put: give them up
            if not any(t is not None for t in tuning):
                raise InfeasiblePackingError(self._overlap_message(good[1], range(self.k), counts))
            for k in range(self.k):  # count steps only from now on
                if tuning[k] is not None:
                    no_tuning[k] = True
                    tuning[k] = None
            state.plane[:] = -1
            return state
        k = int(grown[0])
        inc = int(counts[k] - prev[k])
        if inc <= 1 or inc * self.sphere_share(k) <= 0.25 * self.spec.tolerance(k):
            upper[k] = prev[k] + 1  # no more spheres of k at these counts
            return state
        upper[k] = min(upper[k], counts[k])
        return self.add(state, k, inc // 2, good[2])

    # ------------------------------------------------------------------ reporting
    def _fractions_text(self, measured: dict | None) -> str:
        if measured is None:
            return "no admissible packing found"
        parts = []
        for k, s in enumerate(self.spec.species):
            what = "volume fraction" if k == 0 else "electrolyte fraction"
            parts.append(f"{s.name} {what} {measured['fractions'][s.name]:.4f} (target {s.target:g})")
        return ", ".join(parts)

    def _overlap_message(self, measured: dict | None, short, counts) -> str:
        """Which target hit the overlap limit, and how far it got."""
        num = self.spec.numerics
        limit = f"packing.max_overlap = {num.max_overlap:g} (clearance {num.clearance / UM:g} um)"
        if measured is None:
            return (f"targets too dense: even the sphere counts without overlap {list(map(int, counts))} "
                    f"cannot be relaxed to overlaps within {limit}")
        msgs = []
        for k in short:
            s = self.spec.species[k]
            what = "volume fraction" if k == 0 else "fraction of the electrolyte"
            others = [o.name for o in self.spec.species[k + 1:] if o.target > 0]
            along = f" (together with the {', '.join(others)} target)" if others else ""
            msgs.append(f"{s.name} {what} {s.target:g}{along} not reachable with {limit}: reached "
                        f"{measured['fractions'][s.name]:.4f}")
        return "; ".join(msgs) + f" (all: {self._fractions_text(measured)})"

    def _granularity_message(self, measured: dict) -> str:
        parts = []
        for k, s in enumerate(self.spec.species):
            one = self.sphere_share(k)
            if k > 0:
                one /= max(1e-12, 1.0 - measured["absolute"][self.spec.names[0]])
            key = "tolerance_active" if k == 0 else "tolerance_filler"
            parts.append(f"one {s.name} sphere is worth {one:.4f} against packing.{key} = {self.spec.tolerance(k):g}")
        return (f"fractions not within tolerance after packing.max_rounds = {self.spec.numerics.max_rounds} "
                "relaxations: the targets lie between two sphere counts and trimming spheres at the slab planes "
                f"did not close the gap ({'; '.join(parts)}); enlarge the box, the tolerance or max_rounds. "
                f"Last: {self._fractions_text(measured)}")

    def packing(self, state: _State, measured: dict) -> Packing:
        """The result, spheres ordered by species, with the run's record in ``spec``."""
        spec = self.spec
        order = np.argsort(state.species, kind="stable")
        counts = state.counts(self.k)
        record = spec.to_dict()
        record["seed"] = int(self.seed)
        record["generator"] = {
            "algorithm": ALGORITHM,
            "rounds": int(self.rounds),
            "sweeps": int(self.sweeps),
            "counts": {s.name: int(counts[k]) for k, s in enumerate(spec.species)},
            "trimmed_at_planes": {s.name: int(np.sum((state.species == k) & (state.plane >= 0)))
                                  for k, s in enumerate(spec.species)},
            "voxel_um": spec.numerics.voxel / UM,
        }
        record["target"] = {s.name: s.target for s in spec.species}
        record["measured"] = measured
        return Packing(centres=state.pos[order], radii=state.radii[order], species=state.species[order],
                       species_names=spec.names, box=spec.box, separator_thickness=spec.separator_thickness,
                       seed=int(self.seed), spec=record)


def pack(spec: PackingSpec, seed: int | None = None) -> Packing:
    """Pack spheres to the spec's target fractions (see the module docstring).

    seed overrides ``spec.seed``; when both are None a fresh seed is drawn and recorded in
    ``Packing.seed``. The same seed gives the same packing, bit for bit.
    Raises InfeasiblePackingError when a target is out of reach within the limits.
    """
    if seed is None:
        seed = spec.seed
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return _Generator(spec, int(seed)).run()


def pack_command(spec_path: str, output: str, seed: int | None = None, quiet: bool = False) -> int:
    """``ssbfv pack SPEC.toml -o packing.h5``: pack, save, print a short report.

    Returns 0 on success, 2 (with a message on stderr) for a bad spec or an infeasible target.
    """
    t0 = time.perf_counter()
    try:
        spec = load_spec(spec_path)
        packing = pack(spec, seed)
    except (ValueError, OSError, InfeasiblePackingError) as e:
        print(f"ssbfv pack: error: {e}", file=sys.stderr)
        return 2
    packing.save(output)
    if not quiet:
        print(format_report(packing, time.perf_counter() - t0))
        print(f"  written: {output}")
    return 0


def format_report(packing: Packing, seconds: float | None = None) -> str:
    """A few lines: spheres per species, target vs measured fractions, rounds, time."""
    rec = packing.spec
    gen = rec.get("generator", {})
    measured = rec.get("measured", {})
    nan = float("nan")
    lines = [f"packing: {packing.n} spheres in {packing.box[1] / UM:g} x {packing.box[2] / UM:g} um, "
             f"cathode {(packing.box[0] - packing.separator_thickness) / UM:g} um, separator "
             f"{packing.separator_thickness / UM:g} um (seed {packing.seed})"]
    for k, name in enumerate(packing.species_names):
        what = "volume fraction" if k == 0 else "electrolyte fraction"
        m = measured.get("fractions", {}).get(name, nan)
        t = rec.get("target", {}).get(name, nan)
        a = measured.get("absolute", {}).get(name, nan)
        lines.append(f"  {name:>10s}: {packing.of_species(name).size:6d} spheres, {what} {m:.4f} "
                     f"(target {t:g}), absolute {a:.4f}")
    tail = (f"  {gen.get('rounds', '?')} rounds, {gen.get('sweeps', '?')} relaxation sweeps, "
            f"voxel {gen.get('voxel_um', '?')} um")
    if seconds is not None:
        tail += f", {seconds:.2f} s"
    lines.append(tail)
    return "\n".join(lines)
