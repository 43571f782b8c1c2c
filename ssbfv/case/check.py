"""``ssbfv check CASE``: every check of a case that needs no mesh, and nothing else.

load_case (schema: sections, keys, types, ranges, referenced files), then the parameter set
and its overrides, the [parameters.materials] map (materials of the set, or "inert"), the
packing spec (if any) and the protocol against the set (initial and end chi, cut-off).
Every problem is a CaseError naming the file and the key.
"""

from __future__ import annotations

from .config import CaseError, CaseConfig, load_case


def check_case(path) -> CaseConfig:
    """The validated case; CaseError for the first problem found."""
    from ..solver.parameters import get_parameter_set

    cfg = load_case(path)
    where = cfg.case_file
    try:
        params = get_parameter_set(cfg.parameter_set)
    except KeyError as exc:
        raise CaseError(f"{where}: [parameters] set: {exc.args[0]}") from None
    if cfg.overrides:
        try:
            params = params.with_overrides(cfg.overrides)
        except (KeyError, ValueError, TypeError) as exc:
            msg = exc.args[0] if exc.args else exc
            raise CaseError(f"{where}: [parameters.overrides]: {msg}") from None
    _check_override_values(cfg, params)
    materials = sorted({p.split(".")[1] for p in params.paths() if p.startswith("electrolyte.")})
    for region, mat in cfg.materials.items():
        if mat != "inert" and mat not in materials:
            raise CaseError(f"{where}: [parameters.materials] {region} = {mat!r}: not an electrolyte material of "
                            f"set {cfg.parameter_set!r} (materials: {materials}, or 'inert')")
    missing = [k for k in ("solid.c_s_max", "solid.D_s", "kinetics.k", "ocp.model") if params.get(k) is None]
    if missing:
        raise CaseError(f"{where}: parameter set {cfg.parameter_set!r} lacks {missing}; give them in "
                        "[parameters.overrides]")
    if "packing" in cfg.geometry:
        from ..microstructure import load_spec

        try:
            load_spec(cfg.geometry["packing"])
        except (ValueError, OSError) as exc:
            raise CaseError(f"{where}: [geometry] packing: {exc}") from None
    pr = cfg.protocol
    from ..solver.galvanostatic import Protocol

    try:
        prot = Protocol(pr["mode"], float(pr["c_rate"]), chi0=pr.get("chi0"), v_cut=pr.get("v_cut_V"),
                        chi_end=pr.get("chi_end"), t_end=pr.get("t_end_s")).resolved(params)
    except (ValueError, KeyError, TypeError) as exc:
        raise CaseError(f"{where}: [protocol]: {exc}") from None
    if (prot.chi_end - prot.chi0) * (1 if prot.mode == "discharge" else -1) <= 0:
        raise CaseError(f"{where}: [protocol] a {prot.mode} from chi0 = {prot.chi0} cannot reach chi_end = "
                        f"{prot.chi_end} (discharge raises chi, charge lowers it)")
    num = cfg.numerics
    if "dt0_s" in num and "dt_max_s" in num and num["dt0_s"] > num["dt_max_s"]:
        raise CaseError(f"{where}: [numerics] dt0_s = {num['dt0_s']} exceeds dt_max_s = {num['dt_max_s']}")
    if "min_outer" in num and num["min_outer"] > num.get("max_outer", 40):
        raise CaseError(f"{where}: [numerics] min_outer = {num['min_outer']} exceeds max_outer")
    return cfg


def _check_override_values(cfg, params) -> None:
    """Overridden numbers must be finite and physical: > 0 in general, >= 0 for c_s,min, in
    (0, 1] for dimensionless quantities (transfer coefficients, t+, chi), any finite value for
    potentials [V]."""
    import math

    for key, value in cfg.overrides.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        where = f"{cfg.case_file}: [parameters.overrides] {key!r} = {value!r}"
        if not math.isfinite(value):
            raise CaseError(f"{where} is not a finite number")
        try:
            q = params.quantity(key)
            unit = q.unit
        except (KeyError, AttributeError, TypeError):
            continue  # a model field (e.g. "ocp.model.A"): the model validates its own fields
        if unit == "V":
            continue
        if key.startswith("solid.c_s_min"):
            ok, rule = value >= 0, ">= 0"
        elif unit == "1":
            ok, rule = 0 < value <= 1, "in (0, 1]"
        else:
            ok, rule = value > 0, "> 0"
        if not ok:
            raise CaseError(f"{where} is out of range (must be {rule} {unit})")


def add_check_arguments(parser) -> None:
    parser.add_argument("case", nargs="+", help="case directories (or case.toml files)")


def run_check(args) -> int:
    bad = 0
    for c in args.case:
        try:
            cfg = check_case(c)
        except CaseError as exc:
            print(f"{exc}")
            bad += 1
            continue
        geo = "packing " + cfg.geometry["packing"].name if "packing" in cfg.geometry else \
            "mesh " + cfg.geometry["mesh"].name
        print(f"{cfg.directory}: ok ({cfg.name}: {geo}, set {cfg.parameter_set}, {cfg.protocol['mode']} at "
              f"{cfg.protocol['c_rate']:g}C)")
    return 0 if bad == 0 else 2
