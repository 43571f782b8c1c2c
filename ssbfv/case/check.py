"""``ssbfv check CASE``: every check of a case that needs no mesh, and nothing else.

load_case (schema: sections, keys, types, ranges, referenced files), then: every number
finite, the parameter set and its overrides (each override applied on its own first, so an
error names its key; a replaced model must be of the same kind, OCP or conductivity, with
finite numeric fields), the [parameters.materials] map (materials of the set, or "inert"),
the packing spec (if any), the packing seed (0 <= seed < 2^63) and the voxel or element size
against the packing's box (at least 2 cells across each box edge, at most 1e9 voxels), and
the protocol against the set (initial and end chi, the cut-off against the OCP at chi0).
Every problem is a CaseError naming the file and the key.
"""

from __future__ import annotations

from .config import CaseError, CaseConfig, load_case


def check_case(path) -> CaseConfig:
    """The validated case; CaseError for the first problem found."""
    from ..solver.parameters import get_parameter_set

    cfg = load_case(path)
    where = cfg.case_file
    _check_finite(cfg)
    try:
        params = get_parameter_set(cfg.parameter_set)
    except KeyError as exc:
        raise CaseError(f"{where}: [parameters] set: {exc.args[0]}") from None
    if cfg.overrides:
        params = _apply_overrides(cfg, params)
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
            spec = load_spec(cfg.geometry["packing"])
        except (ValueError, OSError) as exc:
            raise CaseError(f"{where}: [geometry] packing: {exc}") from None
        _check_sizes(cfg, spec)
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
    ocp = params.get("ocp.model")
    if hasattr(ocp, "U"):
        u0 = float(ocp.U(prot.chi0))
        dis = prot.mode == "discharge"
        if (prot.v_cut >= u0) if dis else (prot.v_cut <= u0):
            raise CaseError(f"{where}: [protocol] v_cut_V = {prot.v_cut:g} V is {'above' if dis else 'below'} the "
                            f"open-circuit potential {u0:.4g} V at chi0 = {prot.chi0:g}: the {prot.mode} would "
                            "end at once")
    num = cfg.numerics
    if "dt0_s" in num and "dt_max_s" in num and num["dt0_s"] > num["dt_max_s"]:
        raise CaseError(f"{where}: [numerics] dt0_s = {num['dt0_s']} exceeds dt_max_s = {num['dt_max_s']}")
    if "min_outer" in num and num["min_outer"] > num.get("max_outer", 40):
        raise CaseError(f"{where}: [numerics] min_outer = {num['min_outer']} exceeds max_outer")
    return cfg


def _check_finite(cfg) -> None:
    """Every number of the schema's sections finite (NaN and inf pass the range checks of
    load_case where a bound is one-sided); the packing seed in [0, 2^63) (numpy, HDF5)."""
    import math

    for section, table in cfg.raw.items():
        if section == "parameters" or not isinstance(table, dict):
            continue
        for key, value in table.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise CaseError(f"{cfg.case_file}: [{section}] {key} = {value!r} is not a finite number")
    seed = cfg.geometry.get("seed")
    if seed is not None and not 0 <= seed < 2**63:
        raise CaseError(f"{cfg.case_file}: [geometry] seed = {seed} is out of range (must be in [0, 2^63))")


def _apply_overrides(cfg, params):
    """The set with [parameters.overrides] applied. Each override is first applied alone (so
    an error names its key), then all together (as the run does: a thermal.T override also sets
    the OCP model's T unless ocp.model is overridden too)."""
    where = f"{cfg.case_file}: [parameters.overrides]"
    errors = (KeyError, ValueError, TypeError, AttributeError)
    for key, value in cfg.overrides.items():
        if isinstance(value, dict):
            if not isinstance(value.get("model"), str):
                raise CaseError(f"{where} {key!r}: a model table needs model = \"NAME\" (e.g. \"constant\", "
                                f"\"margules2\"), got {value.get('model')!r}")
            if "units" in value and not isinstance(value["units"], dict):
                raise CaseError(f"{where} {key!r}: units must be a table (field = \"unit\"), "
                                f"got {value['units']!r}")
        try:
            one = params.with_overrides({key: value})
        except errors as exc:
            raise CaseError(f"{where} {key!r}: {exc.args[0] if exc.args else exc}") from None
        _check_models(f"{where} {key!r}", params, one)
    try:
        return params.with_overrides(cfg.overrides)
    except errors as exc:
        raise CaseError(f"{where}: {exc.args[0] if exc.args else exc}") from None


def _check_models(where: str, old, new) -> None:
    """Models replaced between two parameter sets: the same kind (OCP or conductivity) and
    every field a finite number (or a non-empty tuple of them, e.g. Redlich-Kister A_k)."""
    import dataclasses
    import math
    import numbers

    from ..solver.ocp import OcpModel

    def finite(v) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)

    for path in new.paths():
        a, b = old.get(path), new.get(path)
        if not dataclasses.is_dataclass(b) or a is b:
            continue
        if dataclasses.is_dataclass(a) and isinstance(a, OcpModel) != isinstance(b, OcpModel):
            kind = "an OCP" if isinstance(a, OcpModel) else "a conductivity"
            raise CaseError(f"{where}: {path} is {kind} model, got {type(b).__name__}")
        for f in dataclasses.fields(b):
            v = getattr(b, f.name)
            ok = (isinstance(v, tuple) and len(v) > 0 and all(map(finite, v))) or finite(v)
            if not ok:
                raise CaseError(f"{where}: {path} field {f.name} = {v!r} must be a finite number")


def _check_sizes(cfg, spec) -> None:
    """The voxel (or element) size against the packing's box: at least 2 cells across each
    edge of the box; for voxels at most 1e9 of them."""
    import numpy as np

    geo = cfg.geometry
    box_um = np.asarray(spec.box) * 1e6
    key = "voxel_size_um" if geo.get("mesher", "voxel") == "voxel" else "element_size_um"
    if key not in geo:
        return
    h = float(geo[key])
    if np.any(box_um / h < 2.0):
        raise CaseError(f"{cfg.case_file}: [geometry] {key} = {h:g} is too coarse for the packing's box "
                        f"{' x '.join(f'{b:g}' for b in box_um)} um (at least 2 cells across each edge)")
    n = float(np.prod(np.ceil(box_um / h)))
    if key == "voxel_size_um" and n > 1e9:
        raise CaseError(f"{cfg.case_file}: [geometry] {key} = {h:g} is too fine for the packing's box "
                        f"{' x '.join(f'{b:g}' for b in box_um)} um ({n:.3g} voxels, at most 1e9)")


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
    """``ssbfv check CASE [CASE ...]``."""
    parser.add_argument("case", nargs="+", help="case directories (or case.toml files)")


def run_check(args) -> int:
    """Print ``CASE: ok (name: geometry, set, protocol)`` or the one-line CaseError per case;
    0 when all are ok, else 2. Nothing is built or run."""
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
