"""``ssbfv compare CASE``: 3D, P2D(D50) and P2D(D_SCA) on the same microstructure.

For each C-rate (``--c-rates``, default the case's) the 3D model runs as a child case
``CASE/results/compare/3d_c<rate>/`` on the case's own mesh (``CASE/build/mesh.msh``; every
other setting is the case's), and the P2D model runs with the descriptors measured on the
same packing (:mod:`.p2d_case`) for each particle diameter (``--diameters``, default d50 and
dsca). Finished 3D children (a summary.json) are not run again.

Writes ``compare.csv`` (one row per C-rate and model: utilised capacity [mAh/cm^3, mAh/cm^2],
utilisation, end reason, wall time [s]), ``compare.json`` (the same plus the descriptors) and
``compare.png`` (voltage vs capacity of every run, one colour per C-rate, one line style per
model) in ``CASE/results/compare/``, and prints the table.
"""

from __future__ import annotations

import csv
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .config import CaseError, load_case
from .output import write_json_atomic

MODELS_P2D = ("d50", "dsca")


def _child_case(cfg, rate: float, directory: Path) -> Path:
    import tomli_w

    raw = json.loads(json.dumps(cfg.raw))
    raw["geometry"] = {"mesh": str((cfg.directory / "build" / "mesh.msh").resolve())}
    raw.setdefault("protocol", {})["c_rate"] = float(rate)
    raw.setdefault("case", {})["name"] = f"{cfg.name} 3D {rate:g}C"
    out = raw.setdefault("output", {})
    out["directory"] = "results"
    directory.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps(raw)
    f = directory / "case.toml"
    if not f.is_file() or f.read_text() != text:
        f.write_text(text)
    return directory


def _run_child(path: str) -> dict:
    from .run import run_case

    return run_case(path, quiet=True)


def _finished(child: Path) -> dict | None:
    """The summary of a finished 3D child (see :func:`.sweep.finished`), else None."""
    from .sweep import finished

    return json.loads((child / "results" / "summary.json").read_text()) if finished(child) else None


def run_compare(case, c_rates=None, diameters=MODELS_P2D, jobs: int = 1, skip_3d: bool = False,
                quiet: bool = False) -> list[dict]:
    """Run the comparison; returns the table rows (also written to compare.csv/json)."""
    from .geometry import build_mesh
    from .p2d_case import case_descriptors, run_p2d_case

    log = (lambda *a: None) if quiet else print
    cfg = load_case(case)
    if "packing" not in cfg.geometry:
        raise CaseError(f"{cfg.case_file}: compare needs a case built from a packing (the P2D descriptors are "
                        "measured on it)")
    rates = [float(cfg.protocol["c_rate"])] if not c_rates else [float(r) for r in c_rates]
    if any(not (0 < r <= 100) for r in rates):
        raise CaseError(f"C-rates must be in (0, 100], got {rates}")
    build_mesh(cfg, log=log)
    desc = case_descriptors(cfg, log=log)
    out = cfg.output_dir / "compare"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    children = {r: _child_case(cfg, r, out / f"3d_c{r:g}") for r in rates}
    if not skip_3d:
        todo = [r for r in rates if _finished(children[r]) is None]
        for r in rates:
            if r not in todo:
                log(f"3D {r:g}C: finished earlier ({children[r]})")
        if todo:
            log(f"3D runs: {', '.join(f'{r:g}C' for r in todo)} ({min(jobs, len(todo))} at a time)")
        if jobs > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                for r, s in zip(todo, pool.map(_run_child, [os.fspath(children[r]) for r in todo])):
                    log(f"3D {r:g}C: {s['end_reason']}, {s['utilised_capacity_mAh_per_cm3']:.2f} mAh/cm^3")
        else:
            for r in todo:
                s = _run_child(os.fspath(children[r]))
                log(f"3D {r:g}C: {s['end_reason']}, {s['utilised_capacity_mAh_per_cm3']:.2f} mAh/cm^3")
    for r in rates:
        s = _finished(children[r])
        if s is not None:
            rows.append({"c_rate": r, "model": "3d", "diameter_um": None, **_pick(s),
                         "results": os.fspath(children[r] / "results")})
        for d in diameters:
            p_out = out / f"p2d_{d}_c{r:g}"
            s = run_p2d_case(cfg.directory, d, r, output=p_out, quiet=True)
            rows.append({"c_rate": r, "model": f"p2d_{d}", "diameter_um": s["particle_diameter_m"] * 1e6,
                         **_pick(s), "results": os.fspath(p_out)})
    ref = {r["c_rate"]: r["utilised_capacity_mAh_per_cm3"] for r in rows if r["model"] == "3d"}
    for row in rows:
        q3 = ref.get(row["c_rate"])
        row["difference_to_3d_mAh_per_cm3"] = (row["utilised_capacity_mAh_per_cm3"] - q3) if q3 is not None else None
    _write_csv(out / "compare.csv", rows)
    write_json_atomic(out / "compare.json", {"case": cfg.name, "rows": rows, "descriptors": desc})
    try:
        plot_compare(rows, out / "compare.png", title=f"{cfg.name}: 3D vs P2D ({cfg.protocol['mode']})")
    except Exception as exc:  # a plot must not lose the table
        log(f"compare: plot failed: {exc}")
    log(format_table(rows))
    log(f"-> {out}")
    return rows


def _pick(s: dict) -> dict:
    return {k: s.get(k) for k in ("end_reason", "utilised_capacity_mAh_per_cm3", "utilised_capacity_mAh_per_cm2",
                                  "utilisation", "final_voltage_V", "time_s", "wall_time_s")}


COLUMNS = ("c_rate", "model", "diameter_um", "utilised_capacity_mAh_per_cm3", "utilised_capacity_mAh_per_cm2",
           "utilisation", "difference_to_3d_mAh_per_cm3", "end_reason", "final_voltage_V", "time_s", "wall_time_s",
           "results")


def _write_csv(path: Path, rows):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    tmp.replace(path)


def format_table(rows) -> str:
    lines = [f"{'C-rate':>7} {'model':<10} {'D [um]':>7} {'mAh/cm3':>9} {'util.':>6} {'vs 3D':>8}  end"]
    for r in rows:
        d = "" if r["diameter_um"] is None else f"{r['diameter_um']:.3g}"
        diff = "" if r["difference_to_3d_mAh_per_cm3"] is None else f"{r['difference_to_3d_mAh_per_cm3']:+.2f}"
        lines.append(f"{r['c_rate']:7g} {r['model']:<10} {d:>7} {r['utilised_capacity_mAh_per_cm3']:9.2f} "
                     f"{r['utilisation']:6.3f} {diff:>8}  {r['end_reason']}")
    return "\n".join(lines)


def plot_compare(rows, path: Path, title: str = "") -> Path:
    """Voltage vs capacity of every row (its results directory's timeseries.csv)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    rates = sorted({r["c_rate"] for r in rows})
    colours = {r: f"C{i}" for i, r in enumerate(rates)}
    styles = {"3d": "-", "p2d_d50": "--", "p2d_dsca": ":", "p2d_dsca-smooth": "-."}
    for r in rows:
        ts = Path(r["results"]) / "timeseries.csv"
        if not ts.is_file():
            continue
        data = np.genfromtxt(ts, delimiter=",", names=True)
        ax.plot(np.atleast_1d(data["capacity_mAh_per_cm3"]), np.atleast_1d(data["voltage_V"]),
                styles.get(r["model"], "-"), color=colours[r["c_rate"]],
                label=f"{r['model']} {r['c_rate']:g}C")
    ax.set_xlabel("utilised capacity [mAh/cm$^3$ cathode]")
    ax.set_ylabel("voltage [V]")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    return path


def add_compare_arguments(parser) -> None:
    parser.add_argument("case", help="case directory (case.toml with a packing)")
    parser.add_argument("--c-rates", help="comma-separated C-rates (default: the case's)")
    parser.add_argument("--diameters", default="d50,dsca", help="P2D particle diameters (default d50,dsca)")
    parser.add_argument("--jobs", type=int, default=1, help="3D runs at a time (default 1)")
    parser.add_argument("--skip-3d", action="store_true", help="P2D only (keeps finished 3D rows)")
    parser.add_argument("--quiet", action="store_true")


def run_compare_command(args) -> int:
    rates = [float(x) for x in args.c_rates.split(",")] if args.c_rates else None
    diam = tuple(d.strip() for d in args.diameters.split(",") if d.strip())
    run_compare(args.case, rates, diam, jobs=args.jobs, skip_3d=args.skip_3d, quiet=args.quiet)
    return 0
