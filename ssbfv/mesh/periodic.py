"""Pairing of the faces of two periodic patches.

A face f_a of patch a and f_b of patch b form a pair when centre(f_b) = centre(f_a) + t
within a tolerance, t being the translation that maps patch a onto patch b, and their areas
agree. Nearest-neighbour search uses scipy's cKDTree (compiled), so no Python loop runs over
faces.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


class PeriodicMatchError(ValueError):
    """The faces of two patches do not match by the given translation."""


def pair_periodic(mesh, patch_a: str, patch_b: str, translation, rel_tol: float = 1e-3):
    """Match the faces of two periodic patches.

    Parameters
    ----------
    mesh : Mesh
    patch_a, patch_b : patch names; patch_b = patch_a translated by ``translation``
    translation : (3,) vector [m] mapping patch_a onto patch_b
    rel_tol : tolerance on the centre distance, relative to the typical face size
        sqrt(mean face area) of the two patches

    Returns (faces_a, faces_b): global face indices, faces_b[i] the partner of faces_a[i].
    Raises PeriodicMatchError with counts when the patches do not match.
    """
    t = np.asarray(translation, dtype=np.float64).reshape(3)
    fa = mesh.patch_faces(patch_a)
    fb = mesh.patch_faces(patch_b)
    if fa.size == 0 or fb.size == 0:
        raise PeriodicMatchError(f"periodic patches {patch_a!r} ({fa.size} faces) and {patch_b!r} ({fb.size} faces): a patch is empty")
    if fa.size != fb.size:
        raise PeriodicMatchError(
            f"periodic patches {patch_a!r} and {patch_b!r} have different face counts: "
            f"{fa.size} vs {fb.size}"
        )
    h = np.sqrt(np.mean(np.concatenate([mesh.face_areas[fa], mesh.face_areas[fb]])))
    tol = rel_tol * h
    tree = cKDTree(mesh.face_centre[fb])
    dist, idx = tree.query(mesh.face_centre[fa] + t, k=1)
    unmatched = dist > tol
    dup = np.bincount(idx[~unmatched], minlength=fb.size) > 1
    if np.any(unmatched) or np.any(dup):
        raise PeriodicMatchError(
            f"periodic patches {patch_a!r} -> {patch_b!r} with translation {t.tolist()}: "
            f"{int(unmatched.sum())} of {fa.size} faces have no partner within {tol:.3g} m "
            f"(largest distance {dist.max():.3g} m), {int(dup.sum())} faces matched twice"
        )
    partner = fb[idx]
    area_a = mesh.face_areas[fa]
    area_b = mesh.face_areas[partner]
    bad_area = np.abs(area_a - area_b) > rel_tol * np.maximum(area_a, area_b)
    if np.any(bad_area):
        raise PeriodicMatchError(
            f"periodic patches {patch_a!r} -> {patch_b!r}: {int(bad_area.sum())} of {fa.size} "
            "matched faces differ in area (non-conformal periodic mesh)"
        )
    return fa, partner


def wrap_periodic(values, period: float) -> np.ndarray:
    """``values`` mapped into [0, period), as scipy's periodic cKDTree requires.

    ``values % period`` alone can return ``period`` itself for values a rounding error below
    a multiple of it (-1e-16 % 20.0 == 20.0), which cKDTree rejects ("Some input data are
    greater than the size of the periodic box")."""
    v = np.mod(np.asarray(values, dtype=np.float64), period)
    return np.where(v >= period, v - period, v)
