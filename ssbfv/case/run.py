"""``ssbfv run CASE``: geometry, model, galvanostatic run, results.

Writes ``CASE/results/`` (or the case's output directory):

- ``timeseries.csv``: one row per accepted step (columns in :mod:`.output`);
- ``summary.json``: utilised capacity and utilisation, end reason and message, wall time and
  time per phase, steps and outer/linear iterations, mesh statistics, the case and the
  parameter overrides;
- ``run.log``: the progress lines.

Progress: a line at most every ``progress_interval_s`` seconds (and at the end) with time,
SOC, voltage, step size and outer iterations; ``quiet`` silences the console (the log file
is still written).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from .. import __version__
from .config import CaseError, load_case
from .geometry import build_mesh
from .output import Capacity, TimeseriesWriter, write_json_atomic


class _Log:
    def __init__(self, path: Path, quiet: bool):
        self._f = open(path, "a")
        self.quiet = quiet

    def __call__(self, *parts):
        line = " ".join(str(p) for p in parts)
        self._f.write(line + "\n")
        self._f.flush()
        if not self.quiet:
            print(line, flush=True)

    def close(self):
        self._f.close()


def build_model(cfg, mesh):
    """(layout, model, run) for a case on a mesh."""
    from ..solver.coupling import CouplingOptions, HalfCellModel
    from ..solver.galvanostatic import Galvanostatic, Protocol, Stepping
    from ..solver.halfcell import HalfCellLayout
    from ..solver.parameters import get_parameter_set

    try:
        params = get_parameter_set(cfg.parameter_set)
    except KeyError as exc:
        raise CaseError(f"{cfg.case_file}: [parameters] set: {exc.args[0]}") from None
    if cfg.overrides:
        try:
            params = params.with_overrides(cfg.overrides)
        except (KeyError, ValueError, TypeError) as exc:
            raise CaseError(f"{cfg.case_file}: [parameters.overrides]: {exc}") from None
    num = cfg.numerics
    copt = {k: num[k] for k in ("nrmsd_tol", "conc_tol", "max_outer", "min_outer", "relaxation", "correctors",
                                "linear_tol", "direct_below", "stall_window") if k in num}
    sopt = {"dt0": num.get("dt0_s"), "dt_max": num.get("dt_max_s")}
    sopt.update({k: num[k] for k in ("max_retries", "max_steps") if k in num})
    pr = cfg.protocol
    protocol = Protocol(pr["mode"], float(pr["c_rate"]), chi0=pr.get("chi0"), v_cut=pr.get("v_cut_V"),
                        chi_end=pr.get("chi_end"), t_end=pr.get("t_end_s"))
    layout = HalfCellLayout(mesh)
    try:
        model = HalfCellModel(layout, params, CouplingOptions(**copt), material_of_region=cfg.materials or None)
    except KeyError as exc:
        raise CaseError(f"{cfg.case_file}: {exc.args[0]}") from None
    return layout, model, Galvanostatic(model, protocol, Stepping(**sopt))


def run_case(case, quiet: bool = False) -> dict:
    """Run a case directory; returns the summary dict (also written to summary.json)."""
    cfg = load_case(case)
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "run.log", quiet)
    t0 = time.perf_counter()
    try:
        log(f"ssbfv {__version__} run {cfg.directory} ({cfg.name}) on {platform.node()}")
        mesh, geo_info = build_mesh(cfg, log=log)
        t_geo = time.perf_counter() - t0
        layout, model, run = build_model(cfg, mesh)
        n_clusters, free_vol = layout.solid_clusters()
        mesh_stats = {
            "cells": int(mesh.n_cells), "solid_cells": int(layout.solid.n_cells),
            "electrolyte_cells": int(layout.electrolyte.n_cells), "interface_faces": int(layout.solid_b.size),
            "periodic_interface_faces": int(layout.n_periodic_interface),
            "volume_active_m3": layout.volume_active, "volume_cathode_m3": layout.volume_cathode,
            "area_yz_m2": layout.area_yz, "active_fraction_of_cathode": layout.volume_active / layout.volume_cathode,
            "active_clusters": int(n_clusters), "active_volume_not_at_collector_m3": free_vol,
            "regions": list(mesh.region_names),
        }
        log(f"model: {mesh.n_cells} cells (solid {layout.solid.n_cells}, electrolyte {layout.electrolyte.n_cells}), "
            f"{layout.solid_b.size} interface faces; {run.protocol.mode} at {run.protocol.c_rate:g}C = "
            f"{abs(run.current) / layout.area_yz:.4g} A/m^2")
        cap = Capacity(layout, model.c_s_max, model.c_s_min)
        writer = TimeseriesWriter(out / "timeseries.csv", cap)
        last = {"t": -1e300}
        interval = cfg.progress_interval_s

        def on_step(rec, state, info):
            writer.write(rec)
            now = time.perf_counter()
            if now - last["t"] >= interval:
                last["t"] = now
                log(f"  t = {rec.time_s:9.1f} s  SOC {1 - rec.mean_chi:6.4f}  V = {rec.voltage_V:.4f} V  "
                    f"dt = {rec.dt_s:7.3g} s  outer {rec.outer_iterations:2d}  wall {now - t0:7.1f} s")

        result = run.run(on_step=on_step)
        writer.close()
        recs = result.records
        last_rec = recs[-1]
        q_mAh = cap.mAh(last_rec.time_s, run.current)
        outer = np.array([r.outer_iterations for r in recs[1:]]) if len(recs) > 1 else np.zeros(1)
        wall = time.perf_counter() - t0
        lin_stats = {k: {"solves": s.stats.solves, "iterations": s.stats.iterations,
                         "amg_setups": getattr(s.stats, "setups", 0),
                         "amg_setup_s": round(getattr(s.stats, "setup_time_s", 0.0), 3),
                         "solve_s": round(s.stats.solve_time_s, 3)} for k, s in model.lin.items()}
        summary = {
            "case": cfg.name, "ssbfv_version": __version__, "mode": run.protocol.mode, "c_rate": run.protocol.c_rate,
            "end_reason": result.reason, "end_message": result.message,
            "utilised_capacity_mAh_per_cm3": q_mAh / cap.cathode_cm3,
            "utilised_capacity_mAh_per_cm2": q_mAh / cap.area_cm2,
            "theoretical_capacity_mAh_per_cm3": cap.theoretical_C / 3.6 / cap.cathode_cm3,
            "utilisation": abs(run.current) * last_rec.time_s / cap.theoretical_C,
            "final_voltage_V": last_rec.voltage_V, "final_soc": 1.0 - last_rec.mean_chi,
            "time_s": last_rec.time_s, "steps": len(recs) - 1, "failed_steps": result.failed_steps,
            "outer_iterations": {"mean": float(outer.mean()), "max": int(outer.max()), "total": int(outer.sum())},
            "max_conservation_error": float(np.nanmax([r.conservation_error for r in recs])) if len(recs) > 1 else None,
            "guards": result.guards, "wall_time_s": wall, "geometry_time_s": t_geo, "phase_times_s": {k: round(v, 3) for k, v in result.times.items()},
            "linear_solvers": lin_stats, "mesh": mesh_stats, "geometry": geo_info,
            "parameter_set": cfg.parameter_set, "overrides": cfg.overrides, "materials": cfg.materials, "numerics": cfg.numerics,
        }
        write_json_atomic(out / "summary.json", summary)
        log(f"end: {result.reason}: {result.message}")
        log(f"utilised capacity {summary['utilised_capacity_mAh_per_cm3']:.2f} mAh/cm^3 "
            f"({summary['utilised_capacity_mAh_per_cm2']:.4f} mAh/cm^2, utilisation {summary['utilisation']:.3f}) "
            f"in {len(recs) - 1} steps, wall {wall:.1f} s -> {out}")
        return summary
    finally:
        log.close()
