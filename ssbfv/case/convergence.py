"""Mesh-convergence studies: ``ssbfv convergence CASE --levels 3 [--ratio 2]``.

The case is run on successively refined meshes of the same packing (voxel route: the voxel
size divided by ratio^k; OpenCASCADE route: the element size), as a sweep
(:mod:`.sweep`) in ``CASE_convergence/``. For each quantity — utilised capacity [mAh/cm^3] and
the voltage at 25, 50 and 75 % of the shortest run's duration [V] — we report the values per
level, the observed order p, the Richardson extrapolate and the fine-grid convergence index
GCI (Roache 1998; Celik et al., J. Fluids Eng. 130, 078001 (2008), "Procedure for estimation
and reporting of uncertainty due to discretization in CFD applications"), written to
``convergence.json`` and printed.

With h1 < h2 < h3 (fine to coarse), r21 = h2/h1, r32 = h3/h2, e21 = q2 - q1, e32 = q3 - q2,
s = sign(e32/e21):

    p = |ln|e32/e21| + ln((r21^p - s)/(r32^p - s))| / ln r21      (fixed point; explicit if r21 = r32)
    q_ext = (r21^p q1 - q2) / (r21^p - 1)
    GCI_fine = Fs |(q1 - q2)/q1| / (r21^p - 1),  Fs = 1.25

s < 0 (oscillatory convergence) and e21 = e32 = 0 are reported as such, not hidden: p is then
None and so are q_ext and GCI.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .config import CaseError, load_case


def observed_order(h, q, tol: float = 1e-12, max_iter: int = 500) -> dict:
    """Order from the three finest of (h, q) pairs (any order of input).

    Returns {"p", "convergence": "monotone"|"oscillatory"|"converged"|"divergent", "r21", "r32"}.
    """
    h = np.asarray(h, dtype=float)
    q = np.asarray(q, dtype=float)
    if h.size < 3 or h.size != q.size:
        raise ValueError("need at least three (h, q) pairs")
    o = np.argsort(h)[:3]
    (h1, h2, h3), (q1, q2, q3) = h[o], q[o]
    if not (h1 < h2 < h3):
        raise ValueError(f"mesh sizes must differ, got {h[o]}")
    r21, r32 = h2 / h1, h3 / h2
    e21, e32 = q2 - q1, q3 - q2
    out = {"r21": r21, "r32": r32, "p": None}
    if e21 == 0.0 and e32 == 0.0:
        out["convergence"] = "converged"
        return out
    if e21 == 0.0:
        out["convergence"] = "divergent"
        return out
    ratio = e32 / e21
    if ratio < 0:
        out["convergence"] = "oscillatory"
        return out
    s = 1.0
    p = abs(math.log(abs(ratio))) / math.log(r21)
    for _ in range(max_iter):
        p_new = abs(math.log(abs(ratio)) + math.log((r21**p - s) / (r32**p - s))) / math.log(r21)
        if abs(p_new - p) < tol:
            p = p_new
            break
        p = p_new
    out["p"] = p
    out["convergence"] = "monotone" if abs(ratio) > 1 else "divergent"
    if out["convergence"] == "divergent":
        out["p"] = None
    return out


def richardson(h, q, p) -> float | None:
    """Extrapolated value from the two finest levels with order p."""
    if p is None:
        return None
    h, q = np.asarray(h, float), np.asarray(q, float)
    o = np.argsort(h)[:2]
    (h1, h2), (q1, q2) = h[o], q[o]
    r = h2 / h1
    return float((r**p * q1 - q2) / (r**p - 1.0))


def gci(h, q, p, Fs: float = 1.25) -> float | None:
    """Fine-grid convergence index (relative) from the two finest levels."""
    if p is None:
        return None
    h, q = np.asarray(h, float), np.asarray(q, float)
    o = np.argsort(h)[:2]
    (h1, h2), (q1, q2) = h[o], q[o]
    if q1 == 0.0:
        return None
    r = h2 / h1
    return float(Fs * abs((q1 - q2) / q1) / (r**p - 1.0))


def analyse(h, values: dict) -> dict:
    """{quantity: {"values", "p", "convergence", "richardson", "gci"}} for per-level values."""
    out = {}
    for name, q in values.items():
        o = observed_order(h, q)
        out[name] = {"values": list(map(float, q)), "p": o["p"], "convergence": o["convergence"],
                     "richardson": richardson(h, q, o["p"]), "gci": gci(h, q, o["p"])}
    return out


def run_convergence(case, levels: int = 3, ratio: float = 2.0, jobs: int = 1, log=print) -> dict:
    """Run the case at ``levels`` mesh sizes and analyse it (see the module docstring)."""
    from .sweep import make_sweep, run_sweep

    if levels < 3:
        raise CaseError("a convergence study needs at least 3 levels (observed order from three meshes)")
    if ratio <= 1.0:
        raise CaseError(f"--ratio must be > 1, got {ratio}")
    cfg = load_case(case)
    geo = cfg.geometry
    if "mesh" in geo:
        raise CaseError(f"{cfg.case_file}: a case on a mesh file cannot be refined; give a packing spec")
    if geo.get("mesher", "voxel") == "voxel":
        key, h0 = "geometry.voxel_size_um", float(geo.get("voxel_size_um", 1.0))
    else:
        if "element_size_um" not in geo:
            raise CaseError(f"{cfg.case_file}: set [geometry] element_size_um to refine an OCC mesh")
        key, h0 = "geometry.element_size_um", float(geo["element_size_um"])
    hs = [h0 / ratio**k for k in range(levels)]
    sweep = make_sweep(cfg.directory, [f"{key}=" + ",".join(repr(h) for h in hs)],
                       cfg.directory.parent / f"{cfg.directory.name}_convergence")
    status = run_sweep(sweep, jobs, log=log)
    members = json.loads((sweep / "sweep.json").read_text())["members"]
    runs = []
    for m in members:
        c = load_case(m["directory"])
        s_path = c.output_dir / "summary.json"
        if not s_path.is_file():
            raise CaseError(f"level {m['name']} has no results ({status.get(m['name'])})")
        data = np.genfromtxt(c.output_dir / "timeseries.csv", delimiter=",", names=True)
        runs.append((float(m["settings"][key]), json.loads(s_path.read_text()), data))
    h = [r[0] for r in runs]
    t_min = min(float(np.atleast_1d(r[2]["time_s"])[-1]) for r in runs)
    values = {"utilised_capacity_mAh_per_cm3": [r[1]["utilised_capacity_mAh_per_cm3"] for r in runs]}
    for frac in (0.25, 0.5, 0.75):
        values[f"voltage_V_at_{frac * t_min:.0f}s"] = [
            float(np.interp(frac * t_min, np.atleast_1d(r[2]["time_s"]), np.atleast_1d(r[2]["voltage_V"])))
            for r in runs]
    result = {"case": cfg.name, "refined": key, "h_um": h, "ratio": ratio,
              "cells": [r[1]["mesh"]["cells"] for r in runs], "end_reasons": [r[1]["end_reason"] for r in runs],
              "quantities": analyse(h, values)}
    (sweep / "convergence.json").write_text(json.dumps(result, indent=1))
    log(format_table(result))
    log(f"-> {sweep / 'convergence.json'}")
    return result


def format_table(result: dict) -> str:
    h = result["h_um"]
    lines = [f"{result['case']}: {result['refined']} = " + ", ".join(f"{x:g}" for x in h)
             + f" ({', '.join(map(str, result.get('cells', [])))} cells)"]
    lines.append(f"  {'quantity':<32} " + " ".join(f"{'h=' + format(x, 'g'):>12}" for x in h)
                 + f" {'order':>7} {'Richardson':>12} {'GCI':>9}  convergence")
    for name, q in result["quantities"].items():
        p = "-" if q["p"] is None else f"{q['p']:.2f}"
        ext = "-" if q["richardson"] is None else f"{q['richardson']:.6g}"
        g = "-" if q["gci"] is None else f"{q['gci'] * 100:.3g} %"
        lines.append(f"  {name:<32} " + " ".join(f"{v:12.6g}" for v in q["values"])
                     + f" {p:>7} {ext:>12} {g:>9}  {q['convergence']}")
    return "\n".join(lines)


def add_convergence_arguments(parser) -> None:
    parser.add_argument("case", help="case directory built from a packing spec")
    parser.add_argument("--levels", type=int, default=3, help="mesh levels (>= 3, default 3)")
    parser.add_argument("--ratio", type=float, default=2.0, help="refinement ratio between levels (default 2)")
    parser.add_argument("--jobs", type=int, default=1, help="levels run at a time (default 1)")


def run_convergence_command(args) -> int:
    run_convergence(args.case, args.levels, args.ratio, args.jobs)
    return 0
