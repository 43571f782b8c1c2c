"""Benchmark and verification figures of the P2D model (ssbfv.solver.p2d, DESIGN.md §8).

    python benchmarks/p2d.py              # performance table + verification summary
    python benchmarks/p2d.py --no-verify  # performance table only
    python benchmarks/p2d.py --json benchmarks/_work/p2d.json

Performance: galvanostatic discharges of the NVP reference cathode (54 % NVP, eps_e = 0.46,
tau_AM = 1.5, tau_e = 2, D = 8 um, 100 um cathode, 20 um dense NaSICON separator) at C/5 and
1C, with the polymer (PEO-NaTFSI, the reference) or the NaSICON filler as the cathode's
electrolyte, on several grids. Wall time = median of ``--repeat`` runs (one thread, after a
warm-up run). Then the nca_lps cell of the P2D paper if its parameter set is complete, else the
list of missing values.

Verification (same checks as tests/test_p2d.py, with the numbers printed): Na conservation,
observed orders in x and r, Newman's porous-electrode resistance, single-particle limits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from ssbfv.solver.kinetics import F, ButlerVolmer  # noqa: E402
from ssbfv.solver.p2d import P2DElectrolyte, P2DGeometry, P2DModel, solve_p2d  # noqa: E402
from ssbfv.solver.parameters import get_parameter_set  # noqa: E402

GRIDS = [  # (n_x_sep, n_x_cat, n_r, x_grading)
    (5, 25, 10, 1.0),
    (5, 25, 15, 1.0),
    (6, 30, 20, 1.0),
    (10, 50, 15, 1.0),
    (5, 25, 15, 4.0),
    (20, 100, 20, 1.0),
    (40, 200, 20, 4.0),
]


def reference_geometry() -> P2DGeometry:
    return P2DGeometry(L_sep=20e-6, L_cat=100e-6, eps_AM=0.54, tau_AM=1.5, eps_e_cat=0.46, tau_e_cat=2.0,
                       particle_diameter=8e-6)


def timed(fn, repeat):
    fn()  # warm-up (imports, first calls)
    times, res = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return res, statistics.median(times)


def performance(repeat: int) -> list[dict]:
    params = get_parameter_set("nvp_peo_nasicon")
    geo = reference_geometry()
    rows = []
    print("NVP reference cathode (54 % NVP, eps_e 0.46, tau_AM 1.5, tau_e 2, D 8 um, 100 um + 20 um NaSICON)")
    hdr = (f"{'electrolyte':<9} {'C':>4} {'n_x':>8} {'n_r':>4} {'grad':>4} {'steps':>5} {'Newton':>6} "
           f"{'fail':>4} {'wall s':>7} {'mAh/cm3':>8} {'mAh/cm2':>8}  reason")
    print(hdr)
    print("-" * len(hdr))
    for el in ("polymer", "filler"):
        model = P2DModel(params, geo, cathode_electrolyte=el)
        for rate in (0.2, 1.0):
            for ns, nc, nr, gr in GRIDS:
                r, wall = timed(lambda: solve_p2d(model, rate, n_x_sep=ns, n_x_cat=nc, n_r=nr, x_grading=gr), repeat)
                row = dict(electrolyte=el, c_rate=rate, n_x_sep=ns, n_x_cat=nc, n_r=nr, x_grading=gr,
                           steps=r.n_steps, newton=r.n_newton, failed=r.n_failed, wall_s=wall,
                           capacity_mAh_per_cm3=r.final_capacity_mAh_per_cm3,
                           capacity_mAh_per_cm2=r.final_capacity_mAh_per_cm2, reason=r.reason,
                           V_end=float(r.voltage_V[-1]))
                rows.append(row)
                print(f"{el:<9} {rate:>4.1f} {ns:>3}+{nc:<4} {nr:>4} {gr:>4.0f} {r.n_steps:>5} {r.n_newton:>6} "
                      f"{r.n_failed:>4} {wall:>7.3f} {r.final_capacity_mAh_per_cm3:>8.3f} "
                      f"{r.final_capacity_mAh_per_cm2:>8.4f}  {r.reason}")
    nca = get_parameter_set("nca_lps")
    missing = nca.missing()
    print()
    if missing:
        print(f"nca_lps (P2D paper's NCA / LPS cell): not run, the parameter set lacks {len(missing)} values:")
        for p in missing:
            print(f"  {p:<28} {nca.quantity(p).description}")
    else:
        geo_nca = P2DGeometry(L_sep=30e-6, L_cat=float(nca.get("cell.thickness")), eps_AM=0.6, tau_AM=1.5,
                              eps_e_cat=0.4, tau_e_cat=2.5, particle_diameter=float(nca.get("cell.d50_am")))
        r, wall = timed(lambda: solve_p2d(P2DModel(nca, geo_nca), 0.1), repeat)
        print(f"nca_lps 0.1C: {r.summary()} (median {wall:.3f} s)")
    return rows


def orders(values):
    d = np.abs(np.diff(np.asarray(values, dtype=float)))
    return np.log2(d[:-1] / d[1:])


def verification() -> dict:
    from helpers import sphere_flux_roots
    from reference_1d import uniform_limit_voltage

    out = {}
    params = get_parameter_set("nvp_peo_nasicon")
    geo = reference_geometry()
    print("\nVerification")
    # conservation
    for el, t_end in (("polymer", None), ("filler", 12000.0), ("filler", None)):
        r = solve_p2d(P2DModel(params, geo, cathode_electrolyte=el), 0.2, t_end=t_end)
        e = r.conservation_error[1:]
        key = f"conservation_{el}_{'full' if t_end is None else int(t_end)}"
        out[key] = dict(max=float(e.max()), median=float(np.median(e)), steps=r.n_steps, reason=r.reason)
        print(f"  Na conservation, {el} C/5 {'to the end' if t_end is None else f'to {t_end:.0f} s'}: "
              f"max {e.max():.2e}, median {np.median(e):.2e} (relative to I dt/F, {r.n_steps} steps, {r.reason})")
    # x convergence (filler, t = 6000 s, 40 fixed steps)
    T = 6000.0
    m = P2DModel(params, geo, cathode_electrolyte="filler")
    ns = (10, 20, 40, 80, 160)
    V = [solve_p2d(m, 0.2, n_x_sep=n // 5, n_x_cat=n, n_r=10, dts=[T / 40] * 40, t_end=T).voltage_V[-1] for n in ns]
    out["x_convergence"] = dict(n_x_cat=ns, V=[float(v) for v in V], orders=orders(V).tolist())
    print(f"  x: V(6000 s), filler C/5, n_x_cat {ns}: differences "
          + ", ".join(f"{d:.2e}" for d in np.abs(np.diff(V))) + "; observed orders "
          + ", ".join(f"{p:.2f}" for p in orders(V)))
    # r convergence (polymer reference, t = 2000 s)
    T = 2000.0
    m = P2DModel(params, geo)
    for spacing in ("uniform", "volume"):
        nrs = (4, 8, 16, 32, 64)
        V = [solve_p2d(m, 0.2, n_x_sep=4, n_x_cat=20, n_r=n, r_spacing=spacing, dts=[T / 40] * 40,
                       t_end=T).voltage_V[-1] for n in nrs]
        out[f"r_convergence_{spacing}"] = dict(n_r=nrs, V=[float(v) for v in V], orders=orders(V).tolist())
        print(f"  r ({spacing}): V(2000 s), polymer C/5, n_r {nrs}: differences "
              + ", ".join(f"{d:.2e}" for d in np.abs(np.diff(V))) + "; observed orders "
              + ", ".join(f"{p:.2f}" for p in orders(V)))
    # Newman
    sep = P2DElectrolyte(kappa=0.15, D_e=4e-12, t_plus=0.39, name="sep")
    cat = P2DElectrolyte(kappa=0.006, D_e=4.7e-14, t_plus=0.39, name="cat")
    chi0 = 0.5
    bv = ButlerVolmer(3e-12, 14200.0, 0.5, 0.5, 298.15)
    jp = float(bv.exchange_current(chi0 * 14200, 1300.0)) * bv.f
    k, s = 0.006 * 0.46 / 2.0, 714.0 * 0.54 / 1.5
    L, a = geo.L_cat, geo.specific_area
    nu = L * math.sqrt(a * jp * (1 / k + 1 / s))
    R_ex = geo.L_sep / 0.15 + L / (k + s) * (1 + (2 + (s / k + k / s) * math.cosh(nu)) / (nu * math.sinh(nu)))
    mN = P2DModel(params, geo, cathode_electrolyte=cat, separator_electrolyte=sep)
    U = float(params.get("ocp.model").U(chi0))
    errs = []
    for n in (10, 20, 40, 80):
        r = solve_p2d(mN, 1e-4, n_x_sep=n // 5, n_x_cat=n, n_r=4, chi0=chi0, dts=[1e-9], t_end=1e-9)
        errs.append(abs((U - r.voltage_V[0]) / r.current_density / R_ex - 1))
    out["newman"] = dict(nu=nu, R_exact=R_ex, rel_errors=errs)
    print(f"  Newman porous electrode (nu = {nu:.2f}, R = {R_ex * 1e4:.3f} Ohm cm^2): relative errors n_x_cat "
          f"10..80: " + ", ".join(f"{e:.1e}" for e in errs))
    # SPM limits
    pf = params.with_overrides({"solid.sigma": 1e7})
    fast = P2DElectrolyte(kappa=1e4, D_e=1e-5, t_plus=0.39, name="fast")
    r = solve_p2d(P2DModel(pf, geo, cathode_electrolyte=fast, separator_electrolyte=fast, D_s=1e-8), 0.2,
                  n_x_cat=10, n_x_sep=2, n_r=5)
    i_int = r.current_density / (a * L)
    dmax = float(np.max(np.abs(r.voltage_V - uniform_limit_voltage(pf, r.chi_mean, i_int))))
    out["spm_asinh_mV"] = dmax * 1e3
    print(f"  fast transport vs asinh SPM (C/5, whole discharge): max |dV| = {dmax * 1e3:.2e} mV")
    Ds, R = 1e-14, geo.radius
    T = 10000.0
    r = solve_p2d(P2DModel(pf, geo, cathode_electrolyte=fast, separator_electrolyte=fast, D_s=Ds), 0.2,
                  n_x_cat=6, n_x_sep=2, n_r=20, dts=[T / 200] * 200, t_end=T)
    j = r.current_density / (a * L * F)
    al = sphere_flux_roots(200)
    tau = Ds * r.time_s / R**2
    cs = 0.01 * 14200 + j * R / Ds * (3 * tau + 0.2 - 2 * np.sum(np.exp(-np.outer(tau, al**2)) / al**2, axis=1))
    i0 = bv.exchange_current(cs, 1300.0)
    V_spm = pf.get("ocp.model").U(cs / 14200) - np.arcsinh(i_int / (2 * i0)) / (0.5 * bv.f)
    d = np.abs(r.voltage_V - V_spm)
    out["spm_sphere_mV"] = dict(max=float(d.max() * 1e3), after_1000s=float(d[r.time_s > 1000].max() * 1e3))
    print(f"  fast electrolyte vs SPM with Crank's sphere solution (D_s 1e-14, n_r 20, dt 50 s): max |dV| = "
          f"{d.max() * 1e3:.3f} mV, after 1000 s {d[r.time_s > 1000].max() * 1e3:.4f} mV")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor() or platform.machine()}")
    res = {"performance": performance(args.repeat)}
    if not args.no_verify:
        res["verification"] = verification()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=float))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
