"""Packing specification: the TOML file read by ``ssbfv pack`` and its validation.

A spec names the box (lateral periods, cathode and separator thicknesses) and the particle
species with their sizes and target volume fractions; an optional ``[packing]`` table holds
the numerics of the generator. Lengths in the file carry their unit in the key name
(``*_um``, micrometres); everything inside :class:`PackingSpec` is SI (m). Validation
errors are :class:`ValueError` naming the offending key, e.g. ``species[1].diameter_um``.

Example (the reference case of the 3D paper, DESIGN.md §1)::

    seed = 1
    [box]
    lateral_um = [40.0, 40.0]            # y, z periods
    cathode_thickness_um = 100.0
    separator_thickness_um = 20.0
    [[species]]
    name = "active"
    diameter_um = 8.0                    # or distribution = {kind = "lognormal", d50_um = 8, sigma = 0.2}
    volume_fraction = 0.54               # of the cathode volume
    [[species]]
    name = "filler"
    diameter_um = 4.0
    electrolyte_fraction = 0.59          # of the electrolyte volume (cathode minus active)
    [packing]                            # optional
    voxel_um = 0.25
    tolerance_active = 0.005
    tolerance_filler = 0.01
    max_overlap = 0.2
    clearance_um = 0.1
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field

import numpy as np

UM = 1e-6  # m per micrometre

#: names that a species may not take (other mesh regions, keys of the measurement dict)
RESERVED_NAMES = frozenset({"polymer", "separator", "electrolyte", "cathode", "slab"})
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_TOP_KEYS = {"seed", "box", "species", "packing"}
_BOX_KEYS = {"lateral_um", "cathode_thickness_um", "separator_thickness_um"}
_SPECIES_KEYS = {"name", "diameter_um", "distribution", "volume_fraction", "electrolyte_fraction"}
_DIST_KEYS = {"lognormal": {"kind", "d50_um", "sigma", "min_um", "max_um"},
              "uniform": {"kind", "min_um", "max_um"}}
_PACKING_DEFAULTS = {  # key: (default, lower bound, upper bound, bounds inclusive?)
    "voxel_um": 0.25,
    "tolerance_active": 0.005,
    "tolerance_filler": 0.01,
    "max_overlap": 0.2,
    "clearance_um": 0.1,
    "max_rounds": 60,
    "max_sweeps": 4000,
}
#: lognormal sizes are truncated to d50 * exp(-+ LOGNORMAL_TAIL * sigma) unless min_um / max_um say otherwise
LOGNORMAL_TAIL = 3.0


# ---------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class SizeDistribution:
    """Particle diameters of one species [m].

    kind : "fixed" (all ``d50``), "lognormal" (median ``d50``, ``sigma`` the standard
        deviation of ln d, truncated to [dmin, dmax], by default d50 exp(-+3 sigma)) or
        "uniform" (in [dmin, dmax]).
    """

    kind: str
    d50: float
    sigma: float = 0.0
    dmin: float = 0.0
    dmax: float = 0.0

    @classmethod
    def fixed(cls, d: float) -> "SizeDistribution":
        return cls("fixed", d, 0.0, d, d)

    @property
    def max_diameter(self) -> float:
        """Largest diameter that :meth:`sample` can return [m]."""
        return self.d50 if self.kind == "fixed" else self.dmax

    @property
    def min_diameter(self) -> float:
        """Smallest diameter that :meth:`sample` can return [m]."""
        return self.d50 if self.kind == "fixed" else self.dmin

    def _lognormal_bounds(self) -> tuple[float, float]:
        """Standard-normal quantiles of dmin and dmax."""
        lo = math.log(self.dmin / self.d50) / self.sigma
        hi = math.log(self.dmax / self.d50) / self.sigma
        return lo, hi

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n diameters [m] drawn with ``rng`` (inverse CDF: one uniform number per particle)."""
        u = rng.random(n)
        if self.kind == "fixed" or (self.kind == "lognormal" and self.sigma == 0):
            return np.full(n, self.d50)
        if self.kind == "uniform":
            return self.dmin + (self.dmax - self.dmin) * u
        from scipy.special import ndtr, ndtri

        lo, hi = self._lognormal_bounds()
        p = ndtr(lo) + u * (ndtr(hi) - ndtr(lo))
        return np.clip(self.d50 * np.exp(self.sigma * ndtri(p)), self.dmin, self.dmax)

    def mean_volume(self) -> float:
        """Expected sphere volume pi d^3 / 6 [m^3]."""
        if self.kind == "fixed" or (self.kind == "lognormal" and self.sigma == 0):
            m3 = self.d50**3
        elif self.kind == "uniform":
            a, b = self.dmin, self.dmax
            m3 = (b**4 - a**4) / (4 * (b - a)) if b > a else a**3
        else:
            from scipy.special import ndtr

            lo, hi = self._lognormal_bounds()
            s = self.sigma
            m3 = (self.d50**3 * math.exp(4.5 * s * s) * (ndtr(hi - 3 * s) - ndtr(lo - 3 * s))
                  / (ndtr(hi) - ndtr(lo)))
        return math.pi * m3 / 6.0

    def to_dict(self) -> dict:
        """TOML-style dict (µm)."""
        if self.kind == "fixed":
            return {"diameter_um": self.d50 / UM}
        if self.kind == "uniform":
            return {"distribution": {"kind": "uniform", "min_um": self.dmin / UM, "max_um": self.dmax / UM}}
        return {"distribution": {"kind": "lognormal", "d50_um": self.d50 / UM, "sigma": self.sigma,
                                 "min_um": self.dmin / UM, "max_um": self.dmax / UM}}


@dataclass(frozen=True)
class SpeciesSpec:
    """One particle species: its name (a mesh region), sizes and target fraction.

    Exactly one of ``volume_fraction`` (of the cathode volume; the first species only) and
    ``electrolyte_fraction`` (of the electrolyte volume = cathode minus the first species)
    is set.
    """

    name: str
    size: SizeDistribution
    volume_fraction: float | None = None
    electrolyte_fraction: float | None = None

    @property
    def target(self) -> float:
        """The target fraction, in the terms it was given in."""
        return self.volume_fraction if self.volume_fraction is not None else self.electrolyte_fraction

    def to_dict(self) -> dict:
        d = {"name": self.name, **self.size.to_dict()}
        if self.volume_fraction is not None:
            d["volume_fraction"] = self.volume_fraction
        else:
            d["electrolyte_fraction"] = self.electrolyte_fraction
        return d


@dataclass(frozen=True)
class PackingNumerics:
    """Numerical settings of the generator (SI).

    voxel : edge of the voxels of the fraction measurement [m]
    tolerance_active : allowed |measured - target| of the first species' volume fraction [-]
    tolerance_filler : allowed |measured - target| of the other species' electrolyte fractions [-]
    max_overlap : largest overlap depth r_i + r_j - |c_i - c_j| allowed, as a fraction of the
        smaller diameter of the pair [-]
    clearance : two surfaces are either >= clearance apart or overlap by >= clearance; a sphere
        surface is >= clearance off each slab plane or crosses it by >= clearance [m]
    max_rounds : bound on the relaxations (each followed by a measurement when it succeeds)
    max_sweeps : bound on the relaxation sweeps of one round
    """

    voxel: float = 0.25 * UM
    tolerance_active: float = 0.005
    tolerance_filler: float = 0.01
    max_overlap: float = 0.2
    clearance: float = 0.1 * UM
    max_rounds: int = 60
    max_sweeps: int = 4000

    def to_dict(self) -> dict:
        return {"voxel_um": self.voxel / UM, "tolerance_active": self.tolerance_active,
                "tolerance_filler": self.tolerance_filler, "max_overlap": self.max_overlap,
                "clearance_um": self.clearance / UM, "max_rounds": self.max_rounds,
                "max_sweeps": self.max_sweeps}


@dataclass(frozen=True)
class PackingSpec:
    """Everything :func:`ssbfv.microstructure.pack` needs (SI units).

    lateral : (y, z) periods [m]
    cathode_thickness, separator_thickness : [m]; the separator spans x in [0, t_sep], the
        cathode [t_sep, t_sep + cathode_thickness] (DESIGN.md §1)
    species : the particle species, the first one given by ``volume_fraction`` and the others
        by ``electrolyte_fraction``; earlier species win shared (overlap) volume
    numerics : generator settings
    seed : default random seed (``pack(spec, seed=...)`` overrides it)
    """

    lateral: tuple[float, float]
    cathode_thickness: float
    separator_thickness: float
    species: tuple[SpeciesSpec, ...]
    numerics: PackingNumerics = field(default_factory=PackingNumerics)
    seed: int | None = None

    def __post_init__(self):
        _validate(self)

    @property
    def box(self) -> np.ndarray:
        """[x extent, y period, z period] of the half-cell [m]."""
        return np.array([self.separator_thickness + self.cathode_thickness, *self.lateral])

    @property
    def cathode_volume(self) -> float:
        """[m^3]"""
        return self.cathode_thickness * self.lateral[0] * self.lateral[1]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.species)

    def tolerance(self, k: int) -> float:
        """Tolerance on the target of species k."""
        return self.numerics.tolerance_active if k == 0 else self.numerics.tolerance_filler

    def to_dict(self) -> dict:
        """The spec as a TOML-style dict (µm), JSON-serialisable; ``from_dict`` reads it back."""
        d = {"box": {"lateral_um": [self.lateral[0] / UM, self.lateral[1] / UM],
                     "cathode_thickness_um": self.cathode_thickness / UM,
                     "separator_thickness_um": self.separator_thickness / UM},
             "species": [s.to_dict() for s in self.species],
             "packing": self.numerics.to_dict()}
        if self.seed is not None:
            d["seed"] = self.seed
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PackingSpec":
        """Parse and validate a TOML-style dict (µm); raises ValueError naming the bad key."""
        return _parse(d)


def load_spec(path: str | os.PathLike) -> PackingSpec:
    """Read and validate a packing spec TOML file."""
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{os.fspath(path)}: not valid TOML: {e}") from None
    try:
        return PackingSpec.from_dict(data)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None


# ---------------------------------------------------------------------------- parsing
def _check_keys(d, allowed: set, where: str) -> None:
    """Unknown keys (with a hint when a unit suffix is missing) -> ValueError."""
    if not isinstance(d, dict):
        raise ValueError(f"{where or 'spec'}: expected a table, got {type(d).__name__}")
    for key in d:
        if key not in allowed:
            hint = ""
            if key + "_um" in allowed:
                hint = f" (lengths need their unit: {key}_um)"
            elif any(key.endswith(s) for s in ("_m", "_mm", "_nm")) and key.rsplit("_", 1)[0] + "_um" in allowed:
                hint = f" (give lengths in micrometres: {key.rsplit('_', 1)[0]}_um)"
            raise ValueError(f"unknown key {where + '.' if where else ''}{key}{hint}; "
                             f"allowed: {', '.join(sorted(allowed))}")


def _number(d: dict, key: str, where: str, *, required=True, default=None, integer=False):
    """A finite number from d[key] (bools rejected)."""
    name = f"{where}.{key}" if where else key
    if key not in d:
        if required:
            raise ValueError(f"missing key {name}")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{name} must be a number, got {v!r}")
    if integer and not (isinstance(v, int) or float(v).is_integer()):
        raise ValueError(f"{name} must be an integer, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return int(v) if integer else float(v)


def _positive(v: float, name: str) -> float:
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {v:g}")
    return v


def _fraction(v: float, name: str) -> float:
    if not 0 <= v < 1:
        raise ValueError(f"{name} must be in [0, 1), got {v:g}")
    return v


def _parse_size(s: dict, where: str) -> SizeDistribution:
    if ("diameter_um" in s) == ("distribution" in s):
        raise ValueError(f"{where}: give exactly one of diameter_um and distribution")
    if "diameter_um" in s:
        return SizeDistribution.fixed(_positive(_number(s, "diameter_um", where), f"{where}.diameter_um") * UM)
    dist = s["distribution"]
    w = f"{where}.distribution"
    if not isinstance(dist, dict):
        raise ValueError(f"{w} must be a table like {{ kind = \"lognormal\", d50_um = 8.0, sigma = 0.2 }}")
    kind = dist.get("kind")
    if kind not in _DIST_KEYS:
        raise ValueError(f"{w}.kind must be one of {sorted(_DIST_KEYS)}, got {kind!r}")
    _check_keys(dist, _DIST_KEYS[kind], w)
    if kind == "uniform":
        lo = _positive(_number(dist, "min_um", w), f"{w}.min_um") * UM
        hi = _positive(_number(dist, "max_um", w), f"{w}.max_um") * UM
        if hi < lo:
            raise ValueError(f"{w}.max_um must be >= {w}.min_um")
        return SizeDistribution("uniform", 0.5 * (lo + hi), 0.0, lo, hi)
    d50 = _positive(_number(dist, "d50_um", w), f"{w}.d50_um") * UM
    sigma = _number(dist, "sigma", w)
    if sigma < 0:
        raise ValueError(f"{w}.sigma must be >= 0, got {sigma:g}")
    lo = _number(dist, "min_um", w, required=False, default=d50 / UM * math.exp(-LOGNORMAL_TAIL * sigma)) * UM
    hi = _number(dist, "max_um", w, required=False, default=d50 / UM * math.exp(LOGNORMAL_TAIL * sigma)) * UM
    _positive(lo, f"{w}.min_um")
    _positive(hi, f"{w}.max_um")
    if not lo <= d50 <= hi:
        raise ValueError(f"{w}: need min_um <= d50_um <= max_um")
    if sigma == 0:
        return SizeDistribution.fixed(d50)
    return SizeDistribution("lognormal", d50, sigma, lo, hi)


def _parse(d: dict) -> PackingSpec:
    _check_keys(d, _TOP_KEYS, "")
    seed = _number(d, "seed", "", required=False, integer=True)
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")

    if "box" not in d:
        raise ValueError("missing table [box]")
    box = d["box"]
    _check_keys(box, _BOX_KEYS, "box")
    lat = box.get("lateral_um")
    if lat is None:
        raise ValueError("missing key box.lateral_um")
    if not isinstance(lat, list) or len(lat) != 2:
        raise ValueError(f"box.lateral_um must be a list of two numbers [y, z], got {lat!r}")
    lateral = tuple(_positive(_number({"v": v}, "v", ""), f"box.lateral_um[{i}]") * UM
                    for i, v in enumerate(lat))
    lc = _positive(_number(box, "cathode_thickness_um", "box"), "box.cathode_thickness_um") * UM
    ls = _number(box, "separator_thickness_um", "box")
    if ls < 0:
        raise ValueError(f"box.separator_thickness_um must be >= 0, got {ls:g}")

    species_in = d.get("species")
    if not isinstance(species_in, list) or not species_in:
        raise ValueError("missing [[species]] tables (at least one species)")
    species = []
    for k, s in enumerate(species_in):
        where = f"species[{k}]"
        _check_keys(s, _SPECIES_KEYS, where)
        name = s.get("name")
        if not isinstance(name, str):
            raise ValueError(f"missing key {where}.name (a string)")
        size = _parse_size(s, where)
        vf = _number(s, "volume_fraction", where, required=False)
        ef = _number(s, "electrolyte_fraction", where, required=False)
        if (vf is None) == (ef is None):
            raise ValueError(f"{where} ({name}): give exactly one of volume_fraction and electrolyte_fraction")
        if vf is not None:
            _fraction(vf, f"{where}.volume_fraction")
        else:
            _fraction(ef, f"{where}.electrolyte_fraction")
        species.append(SpeciesSpec(name, size, vf, ef))

    p = d.get("packing", {})
    _check_keys(p, set(_PACKING_DEFAULTS), "packing")
    vals = {k: _number(p, k, "packing", required=False, default=v, integer=isinstance(v, int))
            for k, v in _PACKING_DEFAULTS.items()}
    numerics = PackingNumerics(
        voxel=vals["voxel_um"] * UM, tolerance_active=vals["tolerance_active"],
        tolerance_filler=vals["tolerance_filler"], max_overlap=vals["max_overlap"],
        clearance=vals["clearance_um"] * UM, max_rounds=vals["max_rounds"], max_sweeps=vals["max_sweeps"])
    return PackingSpec(lateral=lateral, cathode_thickness=lc, separator_thickness=ls * UM,
                       species=tuple(species), numerics=numerics, seed=seed)


# ---------------------------------------------------------------------------- validation
def _validate(spec: PackingSpec) -> None:
    """Consistency checks of a PackingSpec (also for specs built in Python)."""
    if len(spec.lateral) != 2 or not all(v > 0 for v in spec.lateral):
        raise ValueError("box.lateral_um must be two sizes > 0")
    if not spec.cathode_thickness > 0:
        raise ValueError("box.cathode_thickness_um must be > 0")
    if not spec.separator_thickness >= 0:
        raise ValueError("box.separator_thickness_um must be >= 0")
    if not spec.species:
        raise ValueError("at least one [[species]] is needed")
    names = [s.name for s in spec.species]
    for k, s in enumerate(spec.species):
        where = f"species[{k}]"
        if not _NAME_RE.match(s.name) or s.name.lower() in RESERVED_NAMES:
            raise ValueError(f"{where}.name {s.name!r} must be an identifier (letters, digits, _) and not one of "
                             f"{sorted(RESERVED_NAMES)}")
        if s.name in names[:k]:
            raise ValueError(f"{where}.name {s.name!r} is used twice")
        if k == 0 and s.volume_fraction is None:
            raise ValueError(f"{where} ({s.name}): the first species must be given by volume_fraction "
                             f"(of the cathode); the others by electrolyte_fraction")
        if k > 0 and s.volume_fraction is not None:
            raise ValueError(f"{where} ({s.name}).volume_fraction: only the first species may be given by "
                             f"volume_fraction; give the others by electrolyte_fraction")
        if not 0 <= s.target < 1:
            key = "volume_fraction" if k == 0 else "electrolyte_fraction"
            raise ValueError(f"{where}.{key} must be in [0, 1), got {s.target:g}")
        dmax = s.size.max_diameter
        fixed = s.size.kind == "fixed"
        if not s.size.min_diameter > 0:
            raise ValueError(f"{where}.{'diameter_um' if fixed else 'distribution.min_um'}: diameters must be > 0")
        key = f"{where}.diameter_um" if fixed else f"{where}.distribution.max_um"  # names the largest size
        for axis, length in (("box.lateral_um[0]", spec.lateral[0]), ("box.lateral_um[1]", spec.lateral[1]),
                             ("box.cathode_thickness_um", spec.cathode_thickness)):
            if dmax > length * (1 + 1e-12):
                raise ValueError(f"{key}: particles of {dmax / UM:g} um are larger than {axis} = {length / UM:g} um")
    if len(spec.species) > 1 and sum(s.target for s in spec.species[1:]) >= 1:
        raise ValueError("the electrolyte_fraction values of the species must add up to < 1")
    n = spec.numerics
    if not n.voxel > 0:
        raise ValueError(f"packing.voxel_um must be > 0, got {n.voxel / UM:g}")
    dmin = min(s.size.min_diameter for s in spec.species)
    if n.voxel > 0.5 * dmin:
        raise ValueError(f"packing.voxel_um = {n.voxel / UM:g} is too coarse for particles of {dmin / UM:g} um "
                         f"(at most half the smallest diameter)")
    for key, v in (("tolerance_active", n.tolerance_active), ("tolerance_filler", n.tolerance_filler)):
        if not 0 < v < 1:
            raise ValueError(f"packing.{key} must be in (0, 1), got {v:g}")
    if not 0 <= n.max_overlap <= 0.5:
        raise ValueError(f"packing.max_overlap must be in [0, 0.5] (overlap depth / smaller diameter), "
                         f"got {n.max_overlap:g}")
    if not 0 <= n.clearance < 0.25 * dmin:
        raise ValueError(f"packing.clearance_um must be in [0, {0.25 * dmin / UM:g}) (a quarter of the smallest "
                         f"diameter), got {n.clearance / UM:g}")
    if n.max_rounds < 1:
        raise ValueError(f"packing.max_rounds must be >= 1, got {n.max_rounds}")
    if n.max_sweeps < 1:
        raise ValueError(f"packing.max_sweeps must be >= 1, got {n.max_sweeps}")
