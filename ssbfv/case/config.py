"""``case.toml``: the description of a run, read and checked before any work starts.

A case directory holds ``case.toml`` (and whatever it refers to, e.g. a packing spec)::

    [case]
    name = "quickstart"                  # optional, default: the directory name
    description = "..."                  # optional

    [geometry]                           # exactly one of packing / mesh
    packing = "packing.toml"             # packing spec (ssbfv pack), relative to the case
    mesher = "voxel"                     # "voxel" (default) or "occ" (OpenCASCADE, voxel fallback)
    voxel_size_um = 1.0                  # voxel route: voxel edge [µm]
    element_size_um = 2.0                # occ route: element size [µm] (default 0.3 d_min)
    occ_time_limit_s = 1800              # occ route: wall-clock limit per OCC attempt [s] (default none)
    # mesh = "mesh.msh"                  # or an existing mesh ...
    # mesh_scale = 1e-6                  # ... and its length unit in m (default 1e-6: µm)
    # descriptors = "ct.json"            # or, for `ssbfv p2d` only, the JSON of `ssbfv describe`
    # active_phase = "am"                #   of a CT image, with the names of its phases,
    # electrolyte_phase = "se"           #   the D50 of the active particles [µm] and the
    # d50_um = 5.0                       #   thicknesses (default: the image's x extent, no
    # cathode_thickness_um = 43.0        #   separator)
    # separator_thickness_um = 0.0

    [parameters]
    set = "nvp_peo_nasicon"              # a registered parameter set
    [parameters.overrides]               # optional: "path" = value (SI, see docs/parameters.md)
    "solid.D_s" = 1e-14
    [parameters.materials]               # optional: electrolyte material of a region (default: its name)
    polymer = "filler"                   # e.g. a cathode electrolyte of NaSICON only (100 % filler)
    # polymer = "inert"                  # or pores: a region in neither phase (no current)

    [protocol]
    mode = "discharge"                   # or "charge"
    c_rate = 0.2
    # v_cut_V = 2.5, chi0 = 0.01, chi_end = 0.99, t_end_s = 3600  (defaults: parameter set)

    [numerics]                           # optional, defaults of CouplingOptions / Stepping
    nrmsd_tol = 1e-3
    conc_tol = 1e-5
    max_outer = 40
    dt0_s = 1.0
    dt_max_s = 60.0
    max_retries = 8
    collector = "uniform"                # or "equipotential" (CouplingOptions.collector)

    [output]                             # optional
    directory = "results"                # relative to the case
    progress_interval_s = 10.0           # plain progress lines at most this often
    fields = true                        # fields.h5 + fields.xdmf (ParaView) and x-profiles
    field_interval_s = 360.0             # simulated time between field snapshots [s]
                                         # (default: nominal duration / 20)
    profile_bins = 50                    # y-z slices for the x-profiles (profiles.h5; at most
                                         # one per cell layer)
    checkpoint_interval_s = 60.0         # wall time between checkpoints (0: every step)

Unknown sections or keys, wrong types and out-of-range values raise :class:`CaseError`
naming the file and the key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class CaseError(ValueError):
    """A case directory or case.toml that cannot be run (the message names file and key)."""


_NUM = (int, float)

SCHEMA: dict[str, dict[str, tuple]] = {
    # section: key -> (types, check or None, description of the check)
    "case": {"name": (str,), "description": (str,)},
    "geometry": {
        "packing": (str,), "mesh": (str,), "mesh_scale": (_NUM, lambda v: v > 0, "> 0"),
        "mesher": (str, lambda v: v in ("voxel", "occ"), "'voxel' or 'occ'"),
        "voxel_size_um": (_NUM, lambda v: v > 0, "> 0"), "element_size_um": (_NUM, lambda v: v > 0, "> 0"),
        "occ_time_limit_s": (_NUM, lambda v: v > 0, "> 0"), "seed": (int,),
        "enclosed_electrolyte": (str, lambda v: v in ("inert", "keep"), "'inert' or 'keep'"),
        # P2D-only cases: descriptors from `ssbfv describe IMAGE --json` (a CT image)
        "descriptors": (str,), "cathode_thickness_um": (_NUM, lambda v: v > 0, "> 0"),
        "separator_thickness_um": (_NUM, lambda v: v >= 0, ">= 0"), "active_phase": (str,),
        "electrolyte_phase": (str,), "d50_um": (_NUM, lambda v: v > 0, "> 0"),
    },
    "parameters": {"set": (str,), "overrides": (dict,), "materials": (dict,)},
    "protocol": {
        "mode": (str, lambda v: v in ("discharge", "charge"), "'discharge' or 'charge'"),
        "c_rate": (_NUM, lambda v: 0 < v <= 100, "in (0, 100]"),
        "v_cut_V": (_NUM, lambda v: 0 < v < 10, "in (0, 10) V"),
        "chi0": (_NUM, lambda v: 0 < v < 1, "in (0, 1)"), "chi_end": (_NUM, lambda v: 0 < v < 1, "in (0, 1)"),
        "t_end_s": (_NUM, lambda v: v > 0, "> 0"),
    },
    "numerics": {
        "nrmsd_tol": (_NUM, lambda v: 0 < v < 1, "in (0, 1)"), "conc_tol": (_NUM, lambda v: 0 < v < 1, "in (0, 1)"),
        "max_outer": (int, lambda v: v >= 1, ">= 1"), "min_outer": (int, lambda v: v >= 1, ">= 1"),
        "relaxation": (_NUM, lambda v: 0 < v <= 1, "in (0, 1]"), "correctors": (int, lambda v: v >= 0, ">= 0"),
        "linear_tol": (_NUM, lambda v: 0 < v < 1e-3, "in (0, 1e-3)"),
        "direct_below": (int, lambda v: v >= 0, ">= 0"), "stall_window": (int, lambda v: v >= 0, ">= 0"),
        "dt0_s": (_NUM, lambda v: v > 0, "> 0"), "dt_max_s": (_NUM, lambda v: v > 0, "> 0"),
        "max_retries": (int, lambda v: v >= 0, ">= 0"), "max_steps": (int, lambda v: v >= 1, ">= 1"),
        "collector": (str, lambda v: v in ("uniform", "equipotential"), "'uniform' or 'equipotential'"),
        "collector_tol": (_NUM, lambda v: 0 < v < 1, "in (0, 1) V"),
    },
    "output": {
        "directory": (str,), "progress_interval_s": (_NUM, lambda v: v >= 0, ">= 0"),
        "fields": (bool,), "field_interval_s": (_NUM, lambda v: v > 0, "> 0"),
        "profile_bins": (int, lambda v: 2 <= v <= 10000, "in [2, 10000]"),
        "checkpoint_interval_s": (_NUM, lambda v: v >= 0, ">= 0"),
    },
}
REQUIRED = {"geometry": (), "parameters": ("set",), "protocol": ("mode", "c_rate")}


@dataclass
class CaseConfig:
    """A validated case. Paths are absolute."""

    directory: Path
    name: str
    description: str
    geometry: dict
    parameter_set: str
    overrides: dict
    materials: dict
    protocol: dict
    numerics: dict
    output_dir: Path
    progress_interval_s: float = 10.0
    output: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def case_file(self) -> Path:
        return self.directory / "case.toml"


def _check_table(data: dict, section: str, where: str):
    spec = SCHEMA[section]
    for key, value in data.items():
        if key not in spec:
            raise CaseError(f"{where}: unknown key [{section}] {key!r}; valid keys: {sorted(spec)}")
        types = spec[key][0]
        if (isinstance(value, bool) and types is not bool) or not isinstance(value, types):
            want = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise CaseError(f"{where}: [{section}] {key} must be {want}, got {value!r}")
        if len(spec[key]) > 1 and not spec[key][1](value):
            raise CaseError(f"{where}: [{section}] {key} = {value!r} is out of range (must be {spec[key][2]})")
    for key in REQUIRED.get(section, ()):
        if key not in data:
            raise CaseError(f"{where}: [{section}] {key} is required")


def load_case(path: str | os.PathLike) -> CaseConfig:
    """Read and check ``CASE/case.toml`` (``path`` is the case directory or the file)."""
    path = Path(path).resolve()
    case_file = path / "case.toml" if path.is_dir() else path
    directory = case_file.parent
    if not case_file.is_file():
        raise CaseError(f"{case_file}: no such file (a case directory needs a case.toml)")
    where = str(case_file)
    try:
        data = tomllib.loads(case_file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{where}: not valid TOML: {exc}") from None
    except (UnicodeDecodeError, OSError) as exc:  # TOML is UTF-8 text
        raise CaseError(f"{where}: cannot be read as TOML (UTF-8 text): {exc}") from None
    unknown = set(data) - set(SCHEMA)
    if unknown:
        raise CaseError(f"{where}: unknown section(s) {sorted(unknown)}; valid sections: {sorted(SCHEMA)}")
    for section in SCHEMA:
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise CaseError(f"{where}: [{section}] must be a table")
        if section in REQUIRED and section not in data:
            raise CaseError(f"{where}: section [{section}] is required")
        _check_table(table, section, where)
    geo = dict(data["geometry"])
    if sum(k in geo for k in ("packing", "mesh", "descriptors")) != 1:
        raise CaseError(f"{where}: [geometry] needs exactly one of 'packing' (a packing spec), 'mesh' (a mesh file) "
                        "or 'descriptors' (the JSON of 'ssbfv describe', for P2D only)")
    if "descriptors" in geo:
        for k in ("active_phase", "electrolyte_phase"):
            if k not in geo:
                raise CaseError(f"{where}: [geometry] {k} is required with descriptors (a phase name of the JSON)")
    for key in ("packing", "mesh", "descriptors"):
        if key in geo:
            p = (directory / geo[key]).resolve()
            if not p.is_file():
                raise CaseError(f"{where}: [geometry] {key} = {geo[key]!r}: no such file ({p})")
            geo[key] = p
    params = data["parameters"]
    overrides = dict(params.get("overrides", {}))
    for k, v in overrides.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, dict)):
            raise CaseError(f"{where}: [parameters.overrides] {k!r} must be a number (SI units) or a model table, got {v!r}")
    materials = dict(params.get("materials", {}))
    for k, v in materials.items():
        if not isinstance(v, str):
            raise CaseError(f"{where}: [parameters.materials] {k!r} must name an electrolyte material, got {v!r}")
    out = data.get("output", {})
    return CaseConfig(
        directory=directory,
        name=data.get("case", {}).get("name", directory.name),
        description=data.get("case", {}).get("description", ""),
        geometry=geo,
        parameter_set=params["set"],
        overrides=overrides,
        materials=materials,
        protocol=dict(data["protocol"]),
        numerics=dict(data.get("numerics", {})),
        output_dir=(directory / out.get("directory", "results")).resolve(),
        progress_interval_s=float(out.get("progress_interval_s", 10.0)),
        output=dict(out),
        raw=data,
    )
