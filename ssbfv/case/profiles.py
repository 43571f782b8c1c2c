"""Slice averages over y–z versus x (Fig. 8 of the 3D paper): ``profiles.h5``.

Datasets (h5py):

- ``x_m`` (n_bins,): bin centres [m] (equal-width bins over the mesh's x extent);
- ``time_s`` (n_t,), ``voltage_V`` (n_t,);
- ``c_e_mol_per_m3`` and ``phi_e_V`` (n_t, n_bins): cell-volume-weighted averages over the
  electrolyte cells whose centre lies in the bin; ``chi`` (n_t, n_bins): the same for
  c_s / c_s,max over the solid cells; NaN where a bin has no cell of that phase;
- root attributes ``n_bins``, ``x_min_m``, ``x_max_m``.

:func:`potential_drop` gives the electrolyte potential drop between two x positions (the
drop across the cathode at the end of a discharge is one of DESIGN.md §9's checks).

The file is small and rewritten whole (temporary file + rename) at every snapshot, so a
killed run never leaves it torn.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

KEYS = ("c_e_mol_per_m3", "phi_e_V", "chi")


def suggested_bins(layout, requested: int = 50) -> int:
    """``requested`` capped at the number of cell layers in x (x extent / typical cell size,
    the cube root of the mean cell volume), so that no bin is narrower than a cell and empty."""
    mesh = layout.mesh
    lo, hi = mesh.bounding_box()
    h = float(np.mean(mesh.cell_volumes)) ** (1.0 / 3.0)
    return int(max(2, min(requested, np.floor((hi[0] - lo[0]) / h + 1e-9))))


def _bins(layout, n_bins):
    mesh = layout.mesh
    lo, hi = mesh.bounding_box()
    edges = np.linspace(lo[0], hi[0], n_bins + 1)
    return lo[0], hi[0], 0.5 * (edges[1:] + edges[:-1])


def _bin_of(x, x_min, x_max, n_bins):
    return np.clip(((x - x_min) / (x_max - x_min) * n_bins).astype(np.int64), 0, n_bins - 1)


def _average(values, vol, b, n_bins):
    w = np.bincount(b, weights=vol, minlength=n_bins)
    s = np.bincount(b, weights=vol * values, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w > 0, s / np.where(w > 0, w, 1.0), np.nan)


def slice_averages(layout, model, state, n_bins: int) -> dict:
    """{"x_m", "c_e", "phi_e", "chi"}: volume-weighted y–z averages in n_bins equal x bins."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    x_min, x_max, xc = _bins(layout, n_bins)
    e, s = layout.electrolyte, layout.solid
    be = _bin_of(layout.mesh.cell_centres[e.cells, 0], x_min, x_max, n_bins)
    bs = _bin_of(layout.mesh.cell_centres[s.cells, 0], x_min, x_max, n_bins)
    return {"x_m": xc, "c_e": _average(state.c_e, e.cell_volumes, be, n_bins),
            "phi_e": _average(model.phi_e(state), e.cell_volumes, be, n_bins),
            "chi": _average(state.c_s / model.c_s_max, s.cell_volumes, bs, n_bins)}


class ProfileWriter:
    """Appends one profile per :meth:`write` to ``path`` (see the module docstring)."""

    def __init__(self, path, layout, model, n_bins: int = 50, append: bool = False,
                 truncate_after: float | None = None):
        self.path = Path(path)
        self.layout, self.model, self.n_bins = layout, model, int(n_bins)
        self.x_min, self.x_max, self.x = _bins(layout, self.n_bins)
        self.t, self.v = [], []
        self.rows = {k: [] for k in KEYS}
        if append and self.path.is_file():
            old = read_profiles(self.path)
            if old["x_m"].size == self.n_bins:
                keep = (old["time_s"] <= truncate_after * (1 + 1e-12) + 1e-12) if truncate_after is not None \
                    else np.ones(old["time_s"].size, dtype=bool)
                self.t = list(old["time_s"][keep])
                self.v = list(old["voltage_V"][keep])
                for k in KEYS:
                    self.rows[k] = list(old[k][keep])
        self._flush()

    def write(self, state, voltage: float) -> None:
        p = slice_averages(self.layout, self.model, state, self.n_bins)
        self.t.append(float(state.t))
        self.v.append(float(voltage))
        for k, src in zip(KEYS, ("c_e", "phi_e", "chi")):
            self.rows[k].append(p[src])
        self._flush()

    def _flush(self):
        tmp = self.path.with_name(self.path.name + ".tmp")
        with h5py.File(tmp, "w") as h:
            h.attrs["n_bins"] = self.n_bins
            h.attrs["x_min_m"] = self.x_min
            h.attrs["x_max_m"] = self.x_max
            h.create_dataset("x_m", data=self.x)
            h.create_dataset("time_s", data=np.asarray(self.t, dtype=np.float64))
            h.create_dataset("voltage_V", data=np.asarray(self.v, dtype=np.float64))
            for k in KEYS:
                h.create_dataset(k, data=np.asarray(self.rows[k], dtype=np.float64).reshape(len(self.t), self.n_bins))
        os.replace(tmp, self.path)

    def close(self) -> None:
        """Nothing is held open."""


def potential_drop(profiles: dict, x_start_m: float, x_end_m: float, index: int = -1) -> float:
    """Electrolyte potential drop phi_e(x_start) - phi_e(x_end) [V] of snapshot ``index`` of
    :func:`read_profiles` output, between the first bin whose centre is at or after
    ``x_start_m`` and the last bin whose centre is at or before ``x_end_m`` (bins without
    electrolyte are skipped). For a discharge (ions flow towards the collector) across the
    cathode, ``x_start_m`` = separator thickness and ``x_end_m`` = x_max, this is positive.
    Raises ValueError when the range holds no bin with electrolyte."""
    x = np.asarray(profiles["x_m"], dtype=np.float64)
    phi = np.asarray(profiles["phi_e_V"], dtype=np.float64)[index]
    tol = 1e-9 * max(abs(float(x[-1])), abs(float(x[0])), 1e-300)
    inside = np.flatnonzero((x >= x_start_m - tol) & (x <= x_end_m + tol) & np.isfinite(phi))
    if inside.size == 0:
        raise ValueError(f"no profile bin with electrolyte between x = {x_start_m:.6g} m and {x_end_m:.6g} m")
    return float(phi[inside[0]] - phi[inside[-1]])


def read_profiles(path) -> dict:
    """The arrays of a profiles.h5 (and the attributes) as numpy."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such profiles file (written by 'ssbfv run' when [output] fields is on)")
    with h5py.File(path, "r") as h:
        out = {k: h[k][()] for k in ("x_m", "time_s", "voltage_V") + KEYS}
        out.update({k: h.attrs[k] for k in ("n_bins", "x_min_m", "x_max_m")})
    return out
