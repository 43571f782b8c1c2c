"""``ssbfv p2d CASE``: the P2D model of a case, with descriptors measured on the case's microstructure.

The P2D inputs come from the same case as the 3D run: parameter set and overrides, protocol
(mode, C-rate, cut-offs) and the descriptors of its packing (DESIGN.md §8):

- ``L_sep``, ``L_cat`` [m] from the packing's box;
- ``eps_AM``, ``eps_e`` (volume fractions of the cathode) and the tortuosity factors
  ``tau_AM``, ``tau_e`` in x, from conduction solves on the cathode part of the case's voxel
  image (the separator slab cut off; periodic sides), with k = 1 in the phase;
- the electrolyte of a cathode with polymer and ceramic filler is one material in P2D: the
  polymer's kappa(c) (the material of the region ``polymer``), scaled by the factor that makes
  its effective conductivity at c_e0, kappa(c_e0) eps_e / tau_e, equal the effective
  conductivity of the mixed phase measured with the bulk conductivities of both materials at
  c_e0 (a conduction solve with per-region conductivities); its D_e is scaled the same way
  with the materials' diffusion coefficients (a diffusion solve). Without a polymer region
  (100 % filler) the filler material is used unscaled. Documented choice, see docs/p2d.md;
- the particle diameter: ``d50`` = median diameter of the packing's active spheres, or
  ``dsca`` = D_SCA = 6 V_AM / S_AM-SE with S the active/electrolyte contact area of the mesh
  the 3D solver uses (voxel faces: the staircase area the 3D model reacts on, ~1.5 x a smooth
  sphere's; the active faces on the separator slab included). Regions mapped to the material
  "inert" (pores) are in neither phase; The smoothed (marching cubes) D_SCA is reported beside it (``d_sca_smooth``),
  and ``--diameter dsca-smooth`` uses it.

Descriptors are cached in ``CASE/build/descriptors.json`` (keyed like the mesh cache).
Results go to ``CASE/results/p2d_<diameter>/`` (or ``--output``): ``timeseries.csv`` (the
P2D result's CSV), ``summary.json`` (capacities in the 3D run's units, the descriptors).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .config import CaseError, load_case
from .output import write_json_atomic

DIAMETERS = ("d50", "dsca", "dsca-smooth")
UM = 1e-6


def _without_enclosed_electrolyte(mesh, e_regions):
    """(mesh, cell count): the cut cathode with the electrolyte pockets that do not reach
    the separator plane (xmin) moved to the region "isolated", as the 3D model does with
    pockets that do not reach the anode (ssbfv.solver.halfcell.enclosed_electrolyte), so that
    the contact area is the one the 3D model reacts on."""
    from ..solver.domain import FvDomain
    from ..solver.halfcell import periodic_pairs, with_cells_isolated

    e = FvDomain(mesh, e_regions, periodic=periodic_pairs(mesh))
    if "xmin" not in e.group_names:
        return mesh, 0
    n, lab = e.components()
    sl = e.group_slice("xmin")
    reach = np.zeros(n, dtype=bool)
    reach[lab[e.b_cell[sl]]] = True
    pockets = e.cells[~reach[lab]]
    return (with_cells_isolated(mesh, pockets) if pockets.size else mesh), int(pockets.size)


def _voxel_size(cfg) -> float:
    geo = cfg.geometry
    if geo.get("mesher", "voxel") == "voxel":
        return float(geo.get("voxel_size_um", 1.0)) * UM
    h = geo.get("element_size_um")
    return (0.5 * float(h) if h else 0.5) * UM


def image_descriptors(cfg) -> dict:
    """Descriptors of a P2D-only case from the JSON of ``ssbfv describe`` (a CT image):
    eps and tau (x) of the named active and electrolyte phases, D_SCA (the image's smoothed
    estimate), D50 from [geometry] d50_um, L_cat from cathode_thickness_um (default: the
    image's x extent), L_sep from separator_thickness_um (default 0)."""
    geo = cfg.geometry
    where = f"{cfg.case_file}: [geometry] descriptors"
    try:
        d = json.loads(Path(geo["descriptors"]).read_text())
    except (OSError, ValueError) as exc:
        raise CaseError(f"{where}: cannot read {geo['descriptors']}: {exc}") from None
    am, se = geo["active_phase"], geo["electrolyte_phase"]
    try:
        vf, tau = d["volume_fraction"], d["tortuosity"]
        out = {"eps_AM": float(vf[am]), "eps_e": float(vf[se])}
        t_am, t_e = tau[am].get("x"), tau[se].get("x")
    except (KeyError, TypeError, AttributeError):
        raise CaseError(f"{where}: the JSON needs volume_fraction and tortuosity (axis x) of phases {am!r} and "
                        f"{se!r} (ssbfv describe ... --phase {am}=.. --phase {se}=.. --axes x --json)") from None
    if t_am is None or t_e is None:
        raise CaseError(f"{where}: a phase does not percolate in x (tau_{am} = {t_am}, tau_{se} = {t_e}): "
                        "no P2D model for it")
    h = d.get("voxel_size")
    h = h[0] if isinstance(h, list) else h
    if "cathode_thickness_um" in geo:
        L = float(geo["cathode_thickness_um"]) * UM
    elif d.get("shape") and h:
        L = float(d["shape"][0]) * float(h)
    else:
        raise CaseError(f"{where}: give [geometry] cathode_thickness_um (the JSON has no image extent)")
    out.update({"tau_AM": float(t_am), "tau_e": float(t_e), "L_cat_m": L,
                "L_sep_m": float(geo.get("separator_thickness_um", 0.0)) * UM,
                "d50_m": float(geo["d50_um"]) * UM if "d50_um" in geo else None,
                "d_sca_m": d.get("d_sca"), "d_sca_smooth_m": d.get("d_sca"),
                "p2d_electrolyte": cfg.materials.get(se, se), "kappa_scale": 1.0, "D_e_scale": 1.0,
                "source": str(geo["descriptors"]), "area_method": d.get("area_method")})
    return out


def case_descriptors(cfg, log=print, force: bool = False) -> dict:
    """Descriptors of a packing case's cathode (see the module docstring); cached. A case
    built on descriptors (a CT image) takes them from its JSON (:func:`image_descriptors`)."""
    if "descriptors" in cfg.geometry:
        return image_descriptors(cfg)
    from ..mesh import from_labels
    from ..microstructure import Packing
    from ..microstructure.describe import describe
    from ..microstructure.surface import mesh_contact_area
    from ..microstructure.tortuosity import mesh_tortuosity
    from ..microstructure.voxelize import voxelize
    from ..solver.parameters import get_parameter_set
    from .geometry import _key, build_mesh

    if "packing" not in cfg.geometry:
        raise CaseError(f"{cfg.case_file}: the P2D descriptors are measured on the case's packing; a case "
                        "built on a mesh file has none (describe the mesh with 'ssbfv describe' instead)")
    build_mesh(cfg, log=log)  # makes (or reuses) build/packing.h5
    build = cfg.directory / "build"
    h = _voxel_size(cfg)
    key = dict(_key(cfg), descriptor_voxel_m=h, parameter_set=cfg.parameter_set, overrides=cfg.overrides,
               materials=cfg.materials, enclosed=cfg.geometry.get("enclosed_electrolyte", "inert"), version=6)
    path = build / "descriptors.json"
    if path.is_file() and not force:
        old = json.loads(path.read_text())
        if old.get("key") == json.loads(json.dumps(key, default=str)):
            log(f"descriptors: reusing {path}")
            return old["descriptors"]
    t0 = time.perf_counter()
    packing = Packing.load(build / "packing.h5")
    labels, names = voxelize(packing, h)
    inv = {v: k for k, v in names.items()}
    if "active" not in inv:
        raise CaseError(f"{cfg.case_file}: the packing has no species named 'active'")
    i_first = int(np.count_nonzero(np.all(labels == inv["separator"], axis=(1, 2))))
    cath = labels[i_first:]
    e_regions = [n for lab, n in names.items() if n not in ("active", "separator") and np.any(cath == lab)
                 and cfg.materials.get(n) != "inert"]
    mesh = from_labels(cath, h, {k: v for k, v in names.items() if k != inv["separator"] or np.any(cath == k)})
    n_pockets = 0
    if cfg.geometry.get("enclosed_electrolyte", "inert") == "inert":
        mesh, n_pockets = _without_enclosed_electrolyte(mesh, e_regions)
    tau_am = mesh_tortuosity(mesh, ["active"], 0, periodic=True)
    tau_e = mesh_tortuosity(mesh, e_regions, 0, periodic=True)
    params = get_parameter_set(cfg.parameter_set)
    if cfg.overrides:
        params = params.with_overrides(cfg.overrides)
    c0 = float(params.get("initial.c_e0"))
    material = {r: cfg.materials.get(r, r) for r in e_regions}
    k_bulk = {r: float(np.asarray(params.get(f"electrolyte.{material[r]}.kappa").kappa(np.array([c0])))[0])
              for r in e_regions}
    mixed = mesh_tortuosity(mesh, e_regions, 0, periodic=True, conductivity=k_bulk)
    D_bulk = {r: float(params.get(f"electrolyte.{material[r]}.D_e") or 0.0) for r in e_regions}
    mixed_D = (mesh_tortuosity(mesh, e_regions, 0, periodic=True, conductivity=D_bulk)
               if all(v > 0 for v in D_bulk.values()) else None)
    area_model = mesh_contact_area(mesh, ["active"], {"electrolyte": e_regions}, periodic=True).total
    # active voxels facing the separator slab react on it too (cut off with the separator above)
    area_sep = float(np.count_nonzero(cath[0] == inv["active"])) * h * h if i_first > 0 else 0.0
    area_model += area_sep
    v_am = float(mesh.cell_volumes[mesh.region_cells("active")].sum())
    smooth = describe(cath, {"active": [inv["active"]], "electrolyte": [inv[r] for r in e_regions]},
                      voxel_size=h, active="active", axes=None, ignore_unmapped=True)
    active_d = 2.0 * packing.radii[packing.species == list(packing.species_names).index("active")]
    poly = "polymer" if "polymer" in e_regions else None
    desc = {
        "L_sep_m": float(i_first * h), "L_cat_m": float(cath.shape[0] * h), "voxel_size_m": h,
        "eps_AM": float(tau_am.volume_fraction), "tau_AM": float(tau_am.tau),
        "eps_e": float(tau_e.volume_fraction), "tau_e": float(tau_e.tau),
        "electrolyte_regions": e_regions, "electrolyte_materials": material,
        "kappa_bulk_S_per_m": k_bulk, "kappa_eff_mixed_S_per_m": float(mixed.conductivity_ratio),
        "D_e_bulk_m2_per_s": D_bulk,
        "D_e_eff_mixed_m2_per_s": float(mixed_D.conductivity_ratio) if mixed_D is not None else None,
        "p2d_electrolyte": material[poly] if poly else material[e_regions[0]],
        "d50_m": float(np.median(active_d)),
        "contact_area_model_m2": float(area_model), "contact_area_separator_m2": area_sep,
        "enclosed_electrolyte_cells": n_pockets,
        "active_volume_m3": v_am,
        "d_sca_m": 6.0 * v_am / area_model if area_model > 0 else None,
        "d_sca_smooth_m": smooth.d_sca, "contact_area_smooth_m2": smooth.contact_area,
        "area_method_smooth": smooth.area_method, "time_s": time.perf_counter() - t0,
    }
    kp = k_bulk[poly] if poly else k_bulk[e_regions[0]]
    desc["kappa_scale"] = (desc["kappa_eff_mixed_S_per_m"] / (kp * desc["eps_e"] / desc["tau_e"])
                           if poly and np.isfinite(desc["tau_e"]) else 1.0)
    Dp = D_bulk[poly] if poly else D_bulk[e_regions[0]]
    desc["D_e_scale"] = (desc["D_e_eff_mixed_m2_per_s"] / (Dp * desc["eps_e"] / desc["tau_e"])
                         if poly and mixed_D is not None and np.isfinite(desc["tau_e"]) else 1.0)
    if not (np.isfinite(desc["tau_AM"]) and np.isfinite(desc["tau_e"])):
        raise CaseError(f"{cfg.case_file}: a phase of the cathode does not percolate in x (tau_AM = "
                        f"{desc['tau_AM']}, tau_e = {desc['tau_e']}): no P2D model for it")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "descriptors": desc}, indent=1, default=str))
    tmp.replace(path)
    log(f"descriptors: eps_AM {desc['eps_AM']:.4f} tau_AM {desc['tau_AM']:.3f}  eps_e {desc['eps_e']:.4f} "
        f"tau_e {desc['tau_e']:.3f}  D50 {desc['d50_m'] / UM:.3g} um  D_SCA {desc['d_sca_m'] / UM:.3g} um "
        f"(smooth {desc['d_sca_smooth_m'] / UM:.3g} um)  kappa x {desc['kappa_scale']:.4g}, D_e x {desc['D_e_scale']:.4g} "
        f"({desc['time_s']:.1f} s)")
    return desc


def p2d_model(cfg, desc: dict, diameter: str = "d50"):
    """(P2DModel, diameter [m]) for a case and its descriptors."""
    from ..solver.p2d import P2DElectrolyte, P2DGeometry, P2DModel, electrolyte_from_params
    from ..solver.p2d.electrolyte import CallableConductivity
    from ..solver.parameters import get_parameter_set

    if diameter not in DIAMETERS:
        raise CaseError(f"--diameter must be one of {DIAMETERS}, got {diameter!r}")
    d = {"d50": desc["d50_m"], "dsca": desc["d_sca_m"], "dsca-smooth": desc["d_sca_smooth_m"]}[diameter]
    if d is None:
        raise CaseError(f"{cfg.case_file}: no particle diameter for --diameter {diameter} (give [geometry] d50_um, "
                        "or describe the image with --active for D_SCA)")
    params = get_parameter_set(cfg.parameter_set)
    if cfg.overrides:
        params = params.with_overrides(cfg.overrides)
    geo = P2DGeometry(L_sep=desc["L_sep_m"], L_cat=desc["L_cat_m"], eps_AM=desc["eps_AM"], tau_AM=desc["tau_AM"],
                      eps_e_cat=desc["eps_e"], tau_e_cat=desc["tau_e"], particle_diameter=d)
    base = electrolyte_from_params(params, desc["p2d_electrolyte"])
    s, sD = float(desc["kappa_scale"]), float(desc.get("D_e_scale", 1.0))
    if s != 1.0 or sD != 1.0:
        km = base.kappa
        kappa = CallableConductivity(lambda c: s * km.kappa(c), lambda c: s * km.dkappa_dc(c), c_floor=km.c_floor)
        cathode = P2DElectrolyte(kappa, None if base.D_e is None else sD * base.D_e, base.t_plus,
                                 name=f"{base.name} (kappa x {s:.4g}, D_e x {sD:.4g}: mixed phase)")
    else:
        cathode = base
    sep_mat = cfg.materials.get("separator", "separator")
    separator = electrolyte_from_params(params, sep_mat) if desc["L_sep_m"] > 0 else cathode
    return P2DModel(params, geo, cathode_electrolyte=cathode, separator_electrolyte=separator), d


def run_p2d_case(case, diameter: str = "d50", c_rate: float | None = None, output=None, quiet=False,
                 n_x_cat: int = 100, n_r: int = 20) -> dict:
    """Run the P2D model of a case; returns the summary (also written to summary.json)."""
    from ..solver.p2d import solve_p2d

    cfg = load_case(case)
    log = (lambda *a: None) if quiet else print
    desc = case_descriptors(cfg, log=log)
    model, d = p2d_model(cfg, desc, diameter)
    pr = cfg.protocol
    rate = float(c_rate if c_rate is not None else pr["c_rate"])
    out = Path(output) if output else cfg.output_dir / f"p2d_{diameter}" / (f"c{rate:g}" if c_rate is not None else "")
    out.mkdir(parents=True, exist_ok=True)
    res = solve_p2d(model, c_rate=rate, mode=pr["mode"], v_cut=pr.get("v_cut_V"), chi0=pr.get("chi0"),
                    chi_end=pr.get("chi_end"), t_end=pr.get("t_end_s"), n_x_cat=n_x_cat, n_r=n_r)
    res.to_csv(out / "timeseries.csv")
    t_end = float(res.time_s[-1])
    summary = {
        "case": cfg.name, "model": "p2d", "diameter": diameter, "particle_diameter_m": d, "mode": pr["mode"],
        "c_rate": rate, "current_density_A_per_m2": float(res.current_density), "end_reason": res.reason,
        "end_message": res.message, "utilised_capacity_mAh_per_cm2": res.final_capacity_mAh_per_cm2,
        "utilised_capacity_mAh_per_cm3": res.final_capacity_mAh_per_cm3,
        "utilisation": res.final_capacity_mAh_per_cm3 / model.theoretical_capacity_mAh_per_cm3(),
        "time_s": t_end, "final_voltage_V": float(res.voltage_V[-1]), "final_soc": float(res.soc[-1]),
        "steps": int(res.n_steps), "wall_time_s": float(res.wall_time_s), "descriptors": desc,
    }
    write_json_atomic(out / "summary.json", summary)
    log(f"P2D ({diameter}, D = {d / UM:.3g} um) {pr['mode']} at {rate:g}C: {res.reason}, "
        f"{summary['utilised_capacity_mAh_per_cm3']:.2f} mAh/cm^3 (utilisation {summary['utilisation']:.3f}), "
        f"{summary['steps']} steps, {res.wall_time_s:.2f} s -> {out}")
    return summary


def add_p2d_arguments(parser) -> None:
    parser.add_argument("case", help="case directory (case.toml with a packing)")
    parser.add_argument("--diameter", default="d50", choices=DIAMETERS,
                        help="particle diameter: d50 (median of the active spheres), dsca (D_SCA from the model "
                             "mesh's contact area), dsca-smooth (D_SCA from the smoothed surface)")
    parser.add_argument("--c-rate", type=float, help="C-rate (default: the case's)")
    parser.add_argument("-o", "--output", help="output directory (default CASE/results/p2d_<diameter>)")
    parser.add_argument("--n-x", type=int, default=100, help="cathode cells in x (default 100: a polymer cathode needs them at 1C)")
    parser.add_argument("--n-r", type=int, default=20, help="shells per particle (default 20)")
    parser.add_argument("--quiet", action="store_true")


def run_p2d_command(args) -> int:
    s = run_p2d_case(args.case, args.diameter, args.c_rate, args.output, args.quiet, args.n_x, args.n_r)
    return 0 if s["end_reason"] not in ("newton_failed", "max_steps") else 1
