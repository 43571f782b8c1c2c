"""Boundary conditions for scalar diffusion problems.

Sign convention: fluxes are *outward* (leaving the domain through the face), as flux
densities in [field unit * conductivity unit / m] (for a potential in V and a conductivity
in S/m: A/m^2). Values may be a constant, an array with one value per face of the patch (in
the order of ``Mesh.patch_faces``), or a callable of the face centres ``x`` ((n, 3) array, m)
returning one value per face.

- ``Dirichlet(value)``: phi_b = value.
- ``Neumann(flux)``: outward flux density q_out = flux.
- ``Robin(h, value, flux=0)``: q_out = h (phi_b - value) + flux, h >= 0 [flux per field
  unit]; h -> inf is Dirichlet, h = 0 is Neumann. The linearised Butler-Volmer condition
  of the electrochemistry solver is a Robin condition.

Faces of a domain without a condition are no-flux (Neumann 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


def _evaluate(value: Any, centres: np.ndarray, what: str) -> np.ndarray:
    n = centres.shape[0]
    if callable(value):
        out = np.asarray(value(centres), dtype=np.float64)
        out = np.broadcast_to(out, (n,)) if out.ndim == 0 else out
    else:
        out = np.asarray(value, dtype=np.float64)
        if out.ndim == 0:
            out = np.full(n, float(out))
    if out.shape != (n,):
        raise ValueError(f"{what}: expected a constant or {n} values (one per face), got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what}: values contain NaN or infinity")
    return np.ascontiguousarray(out, dtype=np.float64)


class BoundaryCondition:
    """Base class: turns itself into per-face (is_dirichlet, value, h, q) arrays."""

    def face_arrays(self, centres: np.ndarray, name: str = "") -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


@dataclass(frozen=True)
class Dirichlet(BoundaryCondition):
    """Fixed value phi_b = value."""

    value: float | np.ndarray | Callable = 0.0

    def face_arrays(self, centres, name=""):
        n = centres.shape[0]
        return True, _evaluate(self.value, centres, f"Dirichlet value on {name!r}"), np.zeros(n), np.zeros(n)


@dataclass(frozen=True)
class Neumann(BoundaryCondition):
    """Fixed outward flux density q_out = flux (0: insulated)."""

    flux: float | np.ndarray | Callable = 0.0

    def face_arrays(self, centres, name=""):
        n = centres.shape[0]
        return False, np.zeros(n), np.zeros(n), _evaluate(self.flux, centres, f"Neumann flux on {name!r}")


@dataclass(frozen=True)
class Robin(BoundaryCondition):
    """Outward flux density q_out = h (phi_b - value) + flux, with h >= 0."""

    h: float | np.ndarray | Callable
    value: float | np.ndarray | Callable = 0.0
    flux: float | np.ndarray | Callable = 0.0

    def face_arrays(self, centres, name=""):
        h = _evaluate(self.h, centres, f"Robin h on {name!r}")
        if np.any(h < 0):
            raise ValueError(f"Robin h on {name!r} must be >= 0 (found {h.min():.3g})")
        return (
            False,
            _evaluate(self.value, centres, f"Robin value on {name!r}"),
            h,
            _evaluate(self.flux, centres, f"Robin flux on {name!r}"),
        )
