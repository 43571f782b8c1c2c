"""``ssbfv run CASE``: geometry, model, galvanostatic run, results.

Writes ``CASE/results/`` (or the case's output directory):

- ``timeseries.csv``: one row per accepted step (columns in :mod:`.output`);
- ``summary.json``: utilised capacity and utilisation, end reason and message, wall time and
  time per phase, steps and outer/linear iterations, mesh statistics, the case and the
  parameter overrides;
- ``run.log``: the progress lines (appended to on ``--resume``);
- ``fields.h5`` + ``fields.xdmf`` + ``interface.xdmf`` (ParaView) every ``field_interval_s``
  of simulated time and at the end, and ``profiles.h5`` (y-z slice averages vs x) at the same
  times, unless ``[output] fields = false``;
- ``checkpoint.h5``: the last accepted step, at most every ``checkpoint_interval_s`` of wall
  time and at the end (:mod:`.checkpoint`); ``run_case(..., resume=True)`` continues from it.

Progress: on a terminal, a progress bar (tqdm) with SOC, voltage, step size and an ETA from
the SOC progress; otherwise (batch jobs) a plain line at most every ``progress_interval_s``
seconds with time, SOC, voltage, step size and outer iterations. ``quiet`` silences the
console (the log file is still written).

A resumed run rewrites ``timeseries.csv`` from the checkpoint's records (rows written after
the checkpoint are dropped) and drops field snapshots after the checkpoint's time, so that a
run killed at any moment and resumed gives the files of an uninterrupted run.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

from .. import __version__
from .config import CaseError
from .geometry import build_mesh
from .output import Capacity, TimeseriesWriter, write_json_atomic


class _Log:
    """Lines to run.log (flushed) and, unless quiet, to the console (through the progress
    bar's writer when one is shown, so the bar is not broken)."""

    def __init__(self, path: Path, quiet: bool):
        self._f = open(path, "a")
        self.quiet = quiet
        self.bar = None

    def __call__(self, *parts, console: bool = True):
        line = " ".join(str(p) for p in parts)
        self._f.write(line + "\n")
        self._f.flush()
        if console and not self.quiet:
            if self.bar is not None:
                self.bar.write(line)
            else:
                print(line, flush=True)

    def close(self):
        self._f.close()


INERT = "inert"  # [parameters.materials] value of a region that conducts nothing (pores, binder)


def build_model(cfg, mesh):
    """(layout, model, run) for a case on a mesh. Regions mapped to the material "inert" in
    [parameters.materials] (pores, binder) belong to neither phase: no current, no Na+."""
    from ..solver.coupling import CouplingOptions, HalfCellModel
    from ..solver.galvanostatic import Galvanostatic, Protocol, Stepping
    from ..solver.halfcell import (HalfCellLayout, enclosed_electrolyte, layout_without_floating_parts,
                                   with_cells_isolated)
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
                                "linear_tol", "direct_below", "stall_window", "collector", "collector_tol") if k in num}
    sopt = {"dt0": num.get("dt0_s"), "dt_max": num.get("dt_max_s")}
    sopt.update({k: num[k] for k in ("max_retries", "max_steps") if k in num})
    pr = cfg.protocol
    protocol = Protocol(pr["mode"], float(pr["c_rate"]), chi0=pr.get("chi0"), v_cut=pr.get("v_cut_V"),
                        chi_end=pr.get("chi_end"), t_end=pr.get("t_end_s"))
    inert = sorted(r for r, m in cfg.materials.items() if m == INERT)
    unknown = [r for r in inert if r not in mesh.region_names]
    if unknown:
        raise CaseError(f"{cfg.case_file}: [parameters.materials] region(s) {unknown} are not in the mesh "
                        f"(regions: {list(mesh.region_names)})")
    electrolyte = [r for r in mesh.region_names if r != "active" and r not in inert]

    def make_layout(mesh):
        if inert:  # pores can enclose parts of a phase: those become inert too (no current, no Na)
            layout, n_iso, v_iso = layout_without_floating_parts(mesh, electrolyte_regions=electrolyte)
            layout.isolated = (n_iso, v_iso)
        else:
            layout = HalfCellLayout(mesh, electrolyte_regions=electrolyte)
            layout.isolated = (0, 0.0)
        return layout

    layout = make_layout(mesh)
    pockets = (enclosed_electrolyte(layout) if cfg.geometry.get("enclosed_electrolyte", "inert") == INERT
               else np.empty(0, dtype=np.int64))
    v_pockets = float(mesh.cell_volumes[pockets].sum())
    if pockets.size:  # electrolyte pockets that do not reach the anode (halfcell.enclosed_electrolyte)
        n_iso, v_iso = layout.isolated
        layout = make_layout(with_cells_isolated(layout.mesh, pockets))
        layout.isolated = (layout.isolated[0] + n_iso + int(pockets.size), layout.isolated[1] + v_iso + v_pockets)
    layout.enclosed_electrolyte = (int(pockets.size), v_pockets)
    materials = {r: m for r, m in cfg.materials.items() if m != INERT}
    try:
        model = HalfCellModel(layout, params, CouplingOptions(**copt), material_of_region=materials or None)
    except KeyError as exc:
        raise CaseError(f"{cfg.case_file}: {exc.args[0]}") from None
    return layout, model, Galvanostatic(model, protocol, Stepping(**sopt))


def _progress_bar(quiet: bool, total: float):
    """A tqdm bar on a terminal (stderr is a tty), else None (plain log lines)."""
    if quiet or not sys.stderr.isatty():
        return None
    import shutil

    from tqdm import tqdm

    # a terminal that reports 0 x 0 (some ptys, `script`) would make tqdm hide the bar
    size = shutil.get_terminal_size((110, 24))
    return tqdm(total=total, unit="%", ncols=max(size.columns, 80), nrows=max(size.lines, 5), file=sys.stderr,
                bar_format="{l_bar}{bar}| {n:.1f}/{total:.0f} % SOC [{elapsed}<{remaining}{postfix}]")


# a collector-touching cluster taking this many times its share of the capacity is reported
COLLECTOR_SHARE_WARNING = 2.0


def _warn_collector_shares(clusters: list, log) -> None:
    """Log the active clusters whose share of the collector current (with the uniform
    collector: of the collector area) exceeds ``COLLECTOR_SHARE_WARNING`` times their share
    of the active volume (:meth:`HalfCellLayout.collector_clusters`)."""
    if len(clusters) < 2:
        return
    over = [c for c in clusters if c["area_share"] > COLLECTOR_SHARE_WARNING * c["volume_share"]]
    if not over:
        return
    parts = "; ".join(f"{c['volume_m3'] * 1e18:.4g} um^3 ({c['volume_share']:.3g} of the active volume) takes "
                      f"{c['area_share']:.3g} of the current ({c['area_share'] / c['volume_share']:.3g}x its share)"
                      for c in over)
    log(f"model: {len(clusters)} active clusters touch the collector and the applied current is spread uniformly "
        f"over their collector faces (DESIGN.md §4): {parts}; such a cluster reaches its limit first, and the run "
        "can end there while the rest of the electrode is far from it ([numerics] collector = "
        "\"equipotential\" splits the current between the clusters by what they take)")


def run_case(case, quiet: bool = False, resume: bool = False) -> dict:
    """Run a case directory; returns the summary dict (also written to summary.json).

    resume: continue from ``results/checkpoint.h5`` (CheckpointError if there is none or it
    belongs to a changed case.toml); a finished run (summary.json newer than the checkpoint
    and the checkpoint at the end) is not run again.
    """
    from .check import check_case
    from .checkpoint import case_fingerprint, load_checkpoint, save_checkpoint

    cfg = check_case(case)  # every check that needs no mesh, before any work
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    ck_path = out / "checkpoint.h5"
    if not resume:
        for name in ("timeseries.csv", "summary.json", "checkpoint.h5", "run.log", "fields.h5", "fields.xdmf",
                     "interface.xdmf", "profiles.h5"):
            (out / name).unlink(missing_ok=True)
    log = _Log(out / "run.log", quiet)
    t0 = time.perf_counter()
    writer = fields = profiles = bar = None
    try:
        log(f"ssbfv {__version__} {'resume' if resume else 'run'} {cfg.directory} ({cfg.name}) on {platform.node()}")
        mesh, geo_info = build_mesh(cfg, log=log)
        if str(geo_info.get("route") or "").startswith("occ"):
            log("warning: the half-cell step does not converge yet on OCC meshes of packings (flat tets in the "
                "gaps between particles; docs/halfcell.md): expect a failure at t = 0; mesher = \"voxel\" works")
        t_geo = time.perf_counter() - t0
        layout, model, run = build_model(cfg, mesh)
        fingerprint = case_fingerprint(cfg.case_file, mesh.n_cells, layout.solid.n_cells, layout.electrolyte.n_cells)
        ck = load_checkpoint(ck_path, fingerprint) if resume else None
        wall0 = ck["wall_s"] if ck else 0.0
        n_clusters, free_vol = layout.solid_clusters()
        mesh_stats = {
            "cells": int(mesh.n_cells), "solid_cells": int(layout.solid.n_cells),
            "electrolyte_cells": int(layout.electrolyte.n_cells), "interface_faces": int(layout.solid_b.size),
            "periodic_interface_faces": int(layout.n_periodic_interface),
            "volume_active_m3": layout.volume_active, "volume_cathode_m3": layout.volume_cathode,
            "area_yz_m2": layout.area_yz, "active_fraction_of_cathode": layout.volume_active / layout.volume_cathode,
            "active_clusters": int(n_clusters), "active_volume_not_at_collector_m3": free_vol,
            "isolated_cells": int(layout.isolated[0]), "isolated_volume_m3": float(layout.isolated[1]),
            "enclosed_electrolyte_cells": layout.enclosed_electrolyte[0],
            "enclosed_electrolyte_volume_m3": layout.enclosed_electrolyte[1],
            "regions": list(mesh.region_names),
            "collector_clusters": layout.collector_clusters(),
        }
        if model.options.collector == "uniform":
            _warn_collector_shares(mesh_stats["collector_clusters"], log)
        if layout.isolated[0] > layout.enclosed_electrolyte[0]:
            log(f"model: {layout.isolated[0] - layout.enclosed_electrolyte[0]} cells enclosed by inert regions "
                "touch neither the interface nor the anode: left out as inert")
        if layout.enclosed_electrolyte[0]:
            log(f"model: {layout.enclosed_electrolyte[0]} electrolyte cells "
                f"({layout.enclosed_electrolyte[1] * 1e18:.4g} um^3, "
                f"{layout.enclosed_electrolyte[1] / (layout.volume_electrolyte + layout.enclosed_electrolyte[1]):.2e} "
                "of the electrolyte) in pockets that do not reach the anode: left out as inert "
                "([geometry] enclosed_electrolyte = \"keep\" keeps them)")
        log(f"model: {mesh.n_cells} cells (solid {layout.solid.n_cells}, electrolyte {layout.electrolyte.n_cells}), "
            f"{layout.solid_b.size} interface faces; {run.protocol.mode} at {run.protocol.c_rate:g}C = "
            f"{abs(run.current) / layout.area_yz:.4g} A/m^2")
        cap = Capacity(layout, model.c_s_max, model.c_s_min)
        t_ck = ck["state"].t if ck else None
        writer = TimeseriesWriter(out / "timeseries.csv", cap)  # rewritten: a resume drops rows after the checkpoint
        if ck:
            for rec in ck["records"]:
                writer.write(rec)
            log(f"resuming from {ck_path} at t = {t_ck:.6g} s ({len(ck['records']) - 1} steps done, "
                f"V = {ck['records'][-1].voltage_V:.4f} V)")
        o = cfg.output
        want_fields = bool(o.get("fields", True))
        field_dt = float(o.get("field_interval_s", run.nominal / 20.0))
        if want_fields:
            from .fields import FieldWriter
            from .profiles import ProfileWriter, suggested_bins

            fields = FieldWriter(out, layout, model, append=resume, truncate_after=t_ck)
            n_bins = suggested_bins(layout, int(o.get("profile_bins", 50)))
            profiles = ProfileWriter(out / "profiles.h5", layout, model, n_bins=n_bins,
                                     append=resume, truncate_after=t_ck)
        ck_interval = float(o.get("checkpoint_interval_s", 60.0))
        p = run.protocol
        chi_span = abs(p.chi_end - p.chi0)
        bar = _progress_bar(quiet, 100.0)
        log.bar = bar
        last = {"t": -1e300, "ck": time.perf_counter(), "field_t": -1e300}
        interval = cfg.progress_interval_s

        records_so_far = list(ck["records"]) if ck else []

        def checkpoint(state, final=None):
            save_checkpoint(ck_path, state, records_so_far, run.next_dt, run.failed_steps, run.guards,
                            wall0 + time.perf_counter() - t0, fingerprint,
                            extra={"field_t": last["field_t"], "final": final})
            last["ck"] = time.perf_counter()

        def on_step(rec, state, info):
            records_so_far.append(rec)
            writer.write(rec)
            if fields is not None and (state.t >= last["field_t"] + field_dt * (1 - 1e-9) or run.final is not None
                                       or rec.time_s == 0.0):
                fields.write(state)
                profiles.write(state, rec.voltage_V)
                last["field_t"] = state.t
            now = time.perf_counter()
            if rec.time_s > 0 and run.final is None and now - last["ck"] >= ck_interval:
                checkpoint(state)
            progress = 100.0 * min(1.0, abs(rec.mean_chi - p.chi0) / chi_span)
            if bar is not None:
                bar.n = progress
                bar.set_postfix_str(f"t={rec.time_s:.0f} s V={rec.voltage_V:.4f} V dt={rec.dt_s:.3g} s "
                                    f"outer={rec.outer_iterations}", refresh=False)
                bar.refresh()
            if now - last["t"] >= interval:
                last["t"] = now
                log(f"  t = {rec.time_s:9.1f} s  SOC {1 - rec.mean_chi:6.4f}  V = {rec.voltage_V:.4f} V  "
                    f"dt = {rec.dt_s:7.3g} s  outer {rec.outer_iterations:2d}  wall {wall0 + now - t0:7.1f} s",
                    console=bar is None)

        if ck:
            last["field_t"] = float(ck["extra"].get("field_t", t_ck))
        if ck and ck["extra"].get("final"):
            from ..solver.galvanostatic import RunResult

            reason, message = ck["extra"]["final"]
            log("the checkpoint is the end of a finished run: nothing left to run")
            result = RunResult(ck["records"], reason, message, ck["state"], 0.0, ck["failed_steps"], {}, ck["guards"])
        elif ck:
            result = run.run(state=ck["state"], records=ck["records"], dt=ck["next_dt"],
                             failed_steps=ck["failed_steps"], guards=ck["guards"], on_step=on_step)
        else:
            result = run.run(on_step=on_step)
        if result.records[-1].time_s > 0 and not (ck and ck["extra"].get("final")):
            checkpoint(result.state, final=(result.reason, result.message))
        recs = result.records
        if fields is not None and result.state.t > last["field_t"] + 1e-9 * run.nominal:
            fields.write(result.state)
            profiles.write(result.state, recs[-1].voltage_V)
        for w in (writer, fields, profiles):
            if w is not None:
                w.close()
        writer = fields = profiles = None
        if bar is not None:
            bar.n = 100.0 * min(1.0, abs(recs[-1].mean_chi - p.chi0) / chi_span)
            bar.close()
            log.bar = bar = None
        last_rec = recs[-1]
        q_mAh = cap.mAh(last_rec.time_s, run.current)
        outer = np.array([r.outer_iterations for r in recs[1:]]) if len(recs) > 1 else np.zeros(1)
        wall = wall0 + time.perf_counter() - t0
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
            "guards": result.guards, "wall_time_s": wall, "geometry_time_s": t_geo,
            "resumed": bool(resume), "phase_times_s": {k: round(v, 3) for k, v in result.times.items()},
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
        for w in (writer, fields, profiles, bar):
            if w is not None:
                w.close()
        log.close()
