"""Mesh-convergence studies: ``ssbfv convergence CASE --levels 3 [--ratio 2]``.

The case is run on successively refined meshes of the same packing (voxel route: the voxel
size ``geometry.voxel_size_um`` divided by ratio^k; OpenCASCADE route:
``geometry.element_size_um``), as a sweep (:mod:`.sweep`) in ``CASE_convergence/`` (finished
levels are not run again). For each quantity — utilised capacity [mAh/cm^3 cathode] and the
cell voltage [V] at 25, 50 and 75 % of the shortest run's duration, interpolated from
timeseries.csv — we report the values per level, the observed order p, the Richardson
extrapolate and the fine-grid convergence index GCI (Roache 1998; Celik et al., J. Fluids Eng.
130, 078001 (2008), "Procedure for estimation and reporting of uncertainty due to
discretization in CFD applications"), written to ``convergence.json`` and printed.

With h1 < h2 < h3 (the three finest levels, fine to coarse), r21 = h2/h1, r32 = h3/h2,
e21 = q2 - q1, e32 = q3 - q2:

    p ln r21 + ln((r32^p - 1)/(r21^p - 1)) = ln(e32/e21)     (p = ln(e32/e21)/ln r if r21 = r32 = r)
    q_ext = (r21^p q1 - q2) / (r21^p - 1)
    GCI_fine = Fs |(q1 - q2)/q1| / (r21^p - 1),  Fs = 1.25

Non-monotone behaviour is reported, not hidden: "oscillatory" (e32/e21 < 0), "divergent" (no
order p > 0 fits), "converged" (the two finest levels agree exactly); p, q_ext and GCI are then
None. Two levels give the values only ("too few levels").
"""

from __future__ import annotations

import json
import math

import numpy as np

from .config import CaseError, load_case


def _log_expm1(x: float) -> float:
    """ln(e^x - 1) for x > 0, without overflow or cancellation."""
    return x + math.log(-math.expm1(-x)) if x > 1.0 else math.log(math.expm1(x))


def observed_order(h, q, tol: float = 1e-14, max_iter: int = 400) -> dict:
    """Observed order of convergence from the three finest of (h, q) pairs (any input order).

    h: representative mesh sizes (any length unit); q: the quantity on those meshes. With
    h1 < h2 < h3, r21 = h2/h1, r32 = h3/h2, e21 = q2 - q1, e32 = q3 - q2 (Celik et al. 2008):
    monotone convergence (e32/e21 > 0) solves

        p ln r21 + ln((r32^p - 1) / (r21^p - 1)) = ln(e32/e21)

    for p (explicitly p = ln(e32/e21)/ln r for r21 = r32 = r; otherwise the left side
    increases with p, so the root is bracketed and bisected to ``tol``; Roache's fixed-point
    iteration solves the same equation). Returns {"p", "convergence", "r21", "r32", "e21",
    "e32"}; convergence is "monotone" (p > 0 found), "oscillatory" (e32/e21 < 0), "divergent"
    (no p > 0: the differences do not shrink fast enough with h, e32/e21 <= ln r32/ln r21),
    "converged" (e21 = 0: the two finest agree exactly); p is None unless monotone.
    """
    h = np.asarray(h, dtype=float)
    q = np.asarray(q, dtype=float)
    if h.ndim != 1 or h.size < 3 or h.size != q.size:
        raise ValueError(f"need at least three (h, q) pairs of equal length, got {h.size} and {q.size}")
    if not (np.all(np.isfinite(h)) and np.all(h > 0) and np.all(np.isfinite(q))):
        raise ValueError(f"mesh sizes must be finite and > 0, values finite: h = {h}, q = {q}")
    o = np.argsort(h)[:3]
    (h1, h2, h3), (q1, q2, q3) = h[o], q[o]
    if not (h1 < h2 < h3):
        raise ValueError(f"mesh sizes must differ, got {h[o]}")
    r21, r32 = float(h2 / h1), float(h3 / h2)
    e21, e32 = float(q2 - q1), float(q3 - q2)
    out = {"p": None, "r21": r21, "r32": r32, "e21": e21, "e32": e32}
    if e21 == 0.0:
        out["convergence"] = "converged"
        return out
    ratio = e32 / e21
    if ratio < 0.0:
        out["convergence"] = "oscillatory"
        return out
    a1, a2 = math.log(r21), math.log(r32)
    if ratio == 0.0 or ratio <= a2 / a1 * (1.0 + 1e-15):
        out["convergence"] = "divergent"
        return out
    target = math.log(ratio)
    if abs(a1 - a2) <= 1e-15 * a1:
        p = target / a1
    else:
        def f(p):
            return p * a1 + _log_expm1(p * a2) - _log_expm1(p * a1) - target

        lo, hi = 0.0, 1.0
        while f(hi) < 0.0:
            lo, hi = hi, 2.0 * hi
            if hi > 1e6:
                raise ValueError(f"no finite order for e32/e21 = {ratio:g}")
        for _ in range(max_iter):
            mid = 0.5 * (lo + hi)
            if mid <= 0.0:  # a tiny order: below the resolution of the bisection
                break
            if f(mid) < 0.0:
                lo = mid
            else:
                hi = mid
            if hi - lo <= tol * hi:
                break
        p = 0.5 * (lo + hi)
    out["p"] = float(p)
    out["convergence"] = "monotone"
    return out


def richardson(h, q, p) -> float | None:
    """Richardson extrapolate from the two finest levels with order p (None if p is None):
    q_ext = (r21^p q1 - q2) / (r21^p - 1), in the unit of q."""
    if p is None:
        return None
    h, q = np.asarray(h, float), np.asarray(q, float)
    o = np.argsort(h)[:2]
    (h1, h2), (q1, q2) = h[o], q[o]
    r = h2 / h1
    return float((r**p * q1 - q2) / (r**p - 1.0))


def gci(h, q, p, Fs: float = 1.25) -> float | None:
    """Fine-grid convergence index (a fraction of q1, not %) from the two finest levels:
    GCI21 = Fs |(q1 - q2)/q1| / (r21^p - 1), Fs = 1.25 for three or more meshes (Roache;
    Celik et al. 2008 eq. 6). None if p is None or q1 = 0."""
    if p is None:
        return None
    h, q = np.asarray(h, float), np.asarray(q, float)
    o = np.argsort(h)[:2]
    (h1, h2), (q1, q2) = h[o], q[o]
    if q1 == 0.0:
        return None
    r = h2 / h1
    return float(Fs * abs((q1 - q2) / q1) / (r**p - 1.0))


def analyse(h, values: dict, Fs: float = 1.25) -> dict:
    """Per quantity: {"values", "p", "convergence", "richardson", "gci", "e_a", "e_ext",
    "asymptotic"}; e_a = |(q1 - q2)/q1| and e_ext = |(q_ext - q1)/q_ext| (fractions),
    asymptotic = GCI32 / (r21^p GCI21) (near 1 in the asymptotic range). Fewer than three
    levels: the values only, convergence "too few levels"."""
    out = {}
    for name, q in values.items():
        q = [float(v) for v in q]
        if len(q) < 3:
            out[name] = {"values": q, "p": None, "convergence": "too few levels", "richardson": None, "gci": None,
                         "e_a": None, "e_ext": None, "asymptotic": None}
            continue
        if not all(math.isfinite(v) for v in q):
            out[name] = {"values": q, "p": None, "convergence": "not finite", "richardson": None, "gci": None,
                         "e_a": None, "e_ext": None, "asymptotic": None}
            continue
        o = observed_order(h, q)
        p = o["p"]
        ext = richardson(h, q, p)
        hs, qs = np.asarray(h, float), np.asarray(q, float)
        k = np.argsort(hs)[:3]
        q1, q2 = qs[k[0]], qs[k[1]]
        g21 = gci(h, q, p, Fs)
        asym = None
        if p is not None and g21 and q2 != 0.0:
            g32 = Fs * abs((q2 - qs[k[2]]) / q2) / (o["r32"] ** p - 1.0)
            asym = float(g32 / (o["r21"] ** p * g21))
        out[name] = {"values": q, "p": p, "convergence": o["convergence"], "richardson": ext, "gci": g21,
                     "e_a": None if q1 == 0 else float(abs((q1 - q2) / q1)),
                     "e_ext": None if not ext else float(abs((ext - q1) / ext)), "asymptotic": asym}
    return out


def run_convergence(case, levels: int = 3, ratio: float = 2.0, jobs: int = 1, fractions=(0.25, 0.5, 0.75),
                    log=print) -> dict:
    """Run the case at ``levels`` mesh sizes h0/ratio^k (k = 0 .. levels-1; h0 the case's voxel
    or element size [um]) and analyse the results (see the module docstring).

    jobs: levels run at a time; fractions: of the shortest run's duration, the times of the
    voltage quantities. Returns (and writes to ``CASE_convergence/convergence.json``)
    {"case", "refined", "h_um", "ratio", "cells", "end_reasons", "quantities": analyse(...)}.
    CaseError for a case that cannot be refined (a mesh file, descriptors) or a level without
    results."""
    from .sweep import make_sweep, run_sweep

    if levels < 2:
        raise CaseError(f"a convergence study needs at least 2 levels (3 for an observed order), got {levels}")
    if not (math.isfinite(ratio) and ratio > 1.0):
        raise CaseError(f"--ratio must be > 1, got {ratio}")
    if not fractions or not all(0.0 < f <= 1.0 for f in fractions):
        raise CaseError(f"voltage times must be fractions in (0, 1] of the shortest run, got {fractions}")
    cfg = load_case(case)
    geo = cfg.geometry
    if "mesh" in geo:
        raise CaseError(f"{cfg.case_file}: [geometry] mesh: a case on a mesh file cannot be refined; give a packing "
                        "spec (geometry.packing) and a voxel or element size")
    if "packing" not in geo:
        raise CaseError(f"{cfg.case_file}: [geometry] a case on descriptors (P2D only) has no mesh to refine")
    if geo.get("mesher", "voxel") == "voxel":
        key, h0 = "geometry.voxel_size_um", float(geo.get("voxel_size_um", 1.0))
    else:
        if "element_size_um" not in geo:
            raise CaseError(f"{cfg.case_file}: [geometry] element_size_um: set it to refine an OCC mesh")
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
            raise CaseError(f"{c.case_file}: level {m['name']} has no results ({status.get(m['name'])})")
        data = np.genfromtxt(c.output_dir / "timeseries.csv", delimiter=",", names=True)
        runs.append((float(m["settings"][key]), json.loads(s_path.read_text()), data))
    h = [r[0] for r in runs]
    t_min = min(float(np.atleast_1d(r[2]["time_s"])[-1]) for r in runs)
    values = {"utilised_capacity_mAh_per_cm3": [r[1]["utilised_capacity_mAh_per_cm3"] for r in runs]}
    for frac in fractions:
        values[f"voltage_V_at_{frac * t_min:.4g}s"] = [
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
    """The printed table of :func:`run_convergence`'s result: values per level (h in um),
    order, Richardson extrapolate, GCI (in %) and the convergence flag per quantity."""
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
    parser.add_argument("--levels", type=int, default=3,
                        help="mesh levels (default 3; at least 3 for an observed order, 2 give the values only)")
    parser.add_argument("--ratio", type=float, default=2.0, help="refinement ratio between levels (default 2)")
    parser.add_argument("--jobs", type=int, default=1, help="levels run at a time (default 1)")


def run_convergence_command(args) -> int:
    run_convergence(args.case, args.levels, args.ratio, args.jobs)
    return 0
