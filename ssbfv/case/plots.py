"""Plots of run results (matplotlib, Agg; no pyplot state): ``ssbfv plot CASE [CASE ...]``.

- ``voltage_capacity.png``: voltage [V] vs utilised capacity [mAh/cm^3 of cathode] (Fig. 6/7 of
  the 3D paper), with P2D curves of the case (``results/p2d_*/timeseries.csv``) if present;
- ``profiles.png``: electrolyte concentration and potential and the active material's chi,
  averaged over y–z slices, vs x [µm] at a few times (Fig. 8), from ``profiles.h5``;
- an overlay of several cases (sweep or study members): voltage curves and utilised capacity
  per member.

Images are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _figure(w=7.0, h=4.5, nrows=1, ncols=1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def _save(fig, path: Path) -> Path:
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.tight_layout()
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    return path


def results_dir(arg) -> Path:
    """The results directory of a case directory (its [output] directory) or the directory itself."""
    p = Path(arg)
    if (p / "case.toml").is_file():
        from .config import load_case

        return load_case(p).output_dir
    if (p / "timeseries.csv").is_file() or (p / "summary.json").is_file():
        return p
    if (p / "results" / "timeseries.csv").is_file():
        return p / "results"
    raise ValueError(f"{p}: neither a case directory (case.toml) nor a results directory (timeseries.csv)")


def read_timeseries(results: Path) -> dict:
    """Columns of results/timeseries.csv as float arrays (ValueError if missing)."""
    f = Path(results) / "timeseries.csv"
    if not f.is_file():
        raise ValueError(f"{f}: no time series (the case has not been run)")
    data = np.genfromtxt(f, delimiter=",", names=True)
    if data.size == 0:
        raise ValueError(f"{f}: no rows yet (the run has not completed its first step)")
    return {k: np.atleast_1d(data[k]) for k in data.dtype.names}


def _summary(results: Path) -> dict:
    f = Path(results) / "summary.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _voltage_capacity_lines(results: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, capacity [mAh/cm^3], voltage [V]) of the 3D run and of any P2D runs beside it."""
    ts = read_timeseries(results)
    lines = [("3D", ts["capacity_mAh_per_cm3"], ts["voltage_V"])]
    for sub in sorted(Path(results).glob("p2d_*/**/timeseries.csv")):  # ssbfv p2d [--c-rate] output
        d = read_timeseries(sub.parent)
        rel = sub.parent.relative_to(results).as_posix()[4:].replace("/", " ")
        lines.append((f"P2D {rel}", d["capacity_mAh_per_cm3"], d["voltage_V"]))
    return lines


def plot_voltage_capacity(results, out=None) -> Path:
    """Voltage [V] vs utilised capacity [mAh/cm^3] of a run (and its P2D runs); returns the PNG."""
    results = Path(results)
    s = _summary(results)
    fig, (ax,) = _figure()
    for label, q, v in _voltage_capacity_lines(results):
        ax.plot(q, v, "-" if label == "3D" else "--", label=label)
    ax.set_xlabel("utilised capacity [mAh/cm$^3$ cathode]")
    ax.set_ylabel("voltage [V]")
    if s:
        ax.set_title(f"{s.get('case', '')}: {s.get('mode', '')} at {s.get('c_rate', 0):g}C, "
                     f"{s.get('end_reason', '')}", fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, out or results / "voltage_capacity.png")


def plot_profiles(results, n_times: int = 5, out=None) -> Path:
    """c_e [mol/m^3], phi_e [mV] and chi averaged over y-z slices vs x [um] at ``n_times``
    (>= 2) stored times, the first and the last included; returns the PNG."""
    from .profiles import read_profiles

    if n_times < 2:
        raise ValueError(f"n_times must be >= 2 (first and last time), got {n_times}")
    results = Path(results)
    p = read_profiles(results / "profiles.h5")
    nt = p["time_s"].size
    if nt == 0:
        raise ValueError(f"{results / 'profiles.h5'}: no profile stored yet")
    pick = sorted(set(np.linspace(0, nt - 1, min(n_times, nt)).round().astype(int)))
    fig, axes = _figure(12, 3.8, 1, 3)
    x = p["x_m"] * 1e6
    for i, k in enumerate(pick):
        lab = f"t = {p['time_s'][k]:.0f} s"
        for ax, y in zip(axes, (p["c_e_mol_per_m3"][k], p["phi_e_V"][k] * 1e3, p["chi"][k])):
            ok = np.isfinite(y)  # bins without a cell of the phase: connect the others
            ax.plot(x[ok], y[ok], ".-", color=f"C{i}", label=lab, ms=3)
    for ax, yl in zip(axes, ("c$_e$ [mol/m$^3$]", "$\\phi_e$ [mV]", "$\\chi$ = c$_s$/c$_{s,max}$")):
        ax.set_xlabel("x [µm] (anode at 0)")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, out or results / "profiles.png")


def plot_overlay(results_dirs, out, label_key=None) -> Path:
    """Voltage curves of several runs and their utilised capacities, one figure."""
    fig, (ax, bx) = _figure(12, 4.5, 1, 2)
    names, caps = [], []
    for r in results_dirs:
        r = Path(r)
        s = _summary(r)
        ts = read_timeseries(r)
        name = str(s.get(label_key)) if label_key and label_key in s else s.get("case", r.parent.name)
        ax.plot(ts["capacity_mAh_per_cm3"], ts["voltage_V"], label=name)
        names.append(name)
        caps.append(s.get("utilised_capacity_mAh_per_cm3", ts["capacity_mAh_per_cm3"][-1]))
    ax.set_xlabel("utilised capacity [mAh/cm$^3$ cathode]")
    ax.set_ylabel("voltage [V]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    bx.plot(range(len(caps)), caps, "o-")
    bx.set_xticks(range(len(caps)))
    bx.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    bx.set_ylabel("utilised capacity [mAh/cm$^3$]")
    bx.grid(alpha=0.3)
    return _save(fig, out)


def plot_case(results, n_times: int = 5) -> list[Path]:
    """Every plot the results allow: voltage vs capacity, and the profiles if stored."""
    results = Path(results)
    out = [plot_voltage_capacity(results)]
    if (results / "profiles.h5").is_file():
        out.append(plot_profiles(results, n_times))
    return out


def add_plot_arguments(parser) -> None:
    parser.add_argument("case", nargs="+", help="case or results directories")
    parser.add_argument("--overlay", help="overlay image for several cases (default overlay.png here)")
    parser.add_argument("--times", type=int, default=5, help="profile times to draw (default 5)")


def run_plot(args) -> int:
    """``ssbfv plot``: plot_case for each case, and an overlay when there are several."""
    dirs = [results_dir(c) for c in args.case]
    for d in dirs:
        print(" ".join(str(p) for p in plot_case(d, args.times)))
    if len(dirs) > 1:
        print(plot_overlay(dirs, Path(args.overlay or "overlay.png")))
    return 0
