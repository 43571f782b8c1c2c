"""Microstructure descriptors of a label image or a mesh: volume fractions, tortuosity
factors, active/electrolyte contact area and D_SCA (DESIGN.md §8, docs/descriptors.md).

    d = describe("cathode.npy", {"am": [2], "se": [1, 3]}, voxel_size=0.5e-6, active="am")
    print(d.format_table()); d.write_json("descriptors.json")

Command line (wired into ``ssbfv`` as ``ssbfv describe``)::

    ssbfv describe IMAGE --voxel-size S --phase NAME=L1[,L2...] [--phase ...]
                   [--active NAME] [--axes x,y,z] --json OUT.json

Conventions and units
---------------------
- Image array axes 0, 1, 2 are x, y, z; the voxel size is in metres (one number, or three
  "hx,hy,hz"). Meshes are read with ``--scale`` (default 1e-6: files in µm) and their
  phases are lists of region names instead of label values.
- Volume fractions and the contact area per volume refer to the whole image (or mesh)
  volume, unmapped labels included.
- Tortuosity tau = eps k / k_eff per phase and axis (``ssbfv.microstructure.tortuosity``),
  eps the phase's volume fraction; null in JSON (None here) when the phase does not
  connect the two faces of that axis.
- Contact area: between the active phase and every other named phase (their union; per
  phase in ``contact_area_by_phase``), not towards unnamed labels and not on the image
  sides; exact on meshes, a smoothed marching-cubes estimate on images
  (``ssbfv.microstructure.surface``). contact_area_per_volume = S / V_total [1/m],
  d_sca = 6 V_active / S [m].
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .surface import DEFAULT_SIGMA, mesh_contact_area, voxel_contact_area
from .tortuosity import AXES, axis_index, mesh_tortuosity, voxel_size3, voxel_tortuosity

MESH_EXTENSIONS = (".msh", ".vtu", ".xdmf", ".vtk")


@dataclass
class Descriptors:
    """Descriptors of one image or mesh; see the module docstring for the conventions.

    Lengths in m, areas in m^2, volumes in m^3; ``tortuosity[phase][axis]`` None when the
    phase does not percolate along that axis.
    """

    source: str
    kind: str  # "voxel image" or "mesh"
    phases: dict  # {name: [labels or region names]}
    total_volume: float
    volume_fraction: dict
    tortuosity: dict = field(default_factory=dict)
    conductivity_ratio: dict = field(default_factory=dict)  # k_eff / k = eps / tau
    percolating_fraction: dict = field(default_factory=dict)
    tortuosity_solver: dict = field(default_factory=dict)  # per phase, axis: solver figures
    periodic: bool = False
    shape: list | None = None
    n_cells: int | None = None
    voxel_size: float | list | None = None
    active: str | None = None
    active_volume: float | None = None
    contact_area: float | None = None
    contact_area_by_phase: dict | None = None
    contact_area_per_volume: float | None = None
    d_sca: float | None = None
    area_method: str | None = None
    unmapped_fraction: float = 0.0
    warnings: list = field(default_factory=list)

    def to_json(self) -> dict:
        """JSON-ready dict (the contract of docs/descriptors.md)."""
        out = asdict(self)
        out["units"] = {"voxel_size": "m", "total_volume": "m^3", "active_volume": "m^3",
                        "contact_area": "m^2", "contact_area_per_volume": "1/m", "d_sca": "m",
                        "tortuosity": "1", "volume_fraction": "1"}
        return out

    def write_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=1)
            f.write("\n")

    def format_table(self) -> str:
        """Readable summary: one row per phase, then the contact figures and warnings."""
        lines = [f"{self.source} ({self.kind}"
                 + (f", {'x'.join(map(str, self.shape))} voxels of {_fmt_h(self.voxel_size)} m" if self.shape else "")
                 + (f", {self.n_cells} cells" if self.n_cells else "")
                 + (", periodic sides" if self.periodic else "") + ")"]
        axes = sorted({a for t in self.tortuosity.values() for a in t}, key=AXES.index)
        head = f"  {'phase':<14} {'labels':<16} {'fraction':>9}" + "".join(f" {'tau_' + a:>9}" for a in axes)
        lines.append(head)
        for name, labels in self.phases.items():
            row = f"  {name:<14} {','.join(map(str, labels)):<16} {self.volume_fraction[name]:9.4f}"
            for a in axes:
                t = self.tortuosity.get(name, {}).get(a, "-")
                row += f" {'-' if t == '-' else ('inf' if t is None else f'{t:.4f}'):>9}"
            lines.append(row)
        if self.unmapped_fraction:
            lines.append(f"  {'(unmapped)':<14} {'':<16} {self.unmapped_fraction:9.4f}")
        if self.active is not None:
            lines.append(f"  active phase {self.active}: volume {self.active_volume:.6g} m^3, contact area "
                         f"{self.contact_area:.6g} m^2 ({self.area_method})")
            per = ", ".join(f"{k} {v:.6g}" for k, v in (self.contact_area_by_phase or {}).items())
            lines.append(f"    by phase [m^2]: {per}")
            lines.append(f"    contact area per volume S_AM-SE = {self.contact_area_per_volume:.6g} 1/m, "
                         f"D_SCA = 6 V_AM / S = "
                         + ("n/a" if self.d_sca is None else f"{self.d_sca:.6g} m ({self.d_sca * 1e6:.4g} um)"))
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)


def _fmt_h(h):
    return f"{h:g}" if isinstance(h, float) else "x".join(f"{v:g}" for v in h)


# ---------------------------------------------------------------------------- inputs
def _check_phases(phases, active):
    if not isinstance(phases, dict) or not phases:
        raise ValueError("name at least one phase: {name: [labels]} (on the command line --phase NAME=L1,L2)")
    out, seen = {}, {}
    for name, labels in phases.items():
        labels = [labels] if isinstance(labels, (int, np.integer, str)) else list(labels)
        if not labels:
            raise ValueError(f"phase {name!r} has no labels")
        for lab in labels:
            if lab in seen:
                raise ValueError(f"label {lab!r} is given for phase {seen[lab]!r} and for phase {name!r}")
            seen[lab] = name
        out[str(name)] = labels
    if active is not None and active not in out:
        raise ValueError(f"the active phase {active!r} is not one of the phases {list(out)}")
    return out


def _parse_axes(axes):
    if axes is None:
        return []
    if isinstance(axes, str):
        axes = [a for a in axes.replace(" ", "").split(",") if a and a.lower() != "none"]
    return [AXES[axis_index(a)] for a in axes]


def _phase_index(labels, phases, ignore_unmapped, allow_missing):
    """int8 phase number per voxel (-1: unmapped), and the labels present."""
    flat = labels.reshape(-1)
    if flat.dtype == np.bool_:
        flat = flat.view(np.uint8)
    lo, hi = int(flat.min()), int(flat.max())
    for name, labs in phases.items():
        for lab in labs:
            if not isinstance(lab, (int, np.integer)):
                raise ValueError(f"phase {name!r}: label values of an image are integers, got {lab!r}")
    if hi - lo < (1 << 24):  # table look-up, in chunks (bounded temporaries)
        shift = lo < 0 or not np.issubdtype(flat.dtype, np.unsignedinteger)
        base = lo if shift else 0
        lut = np.full(hi - base + 1, -1, dtype=np.int8)
        for p, (name, labs) in enumerate(phases.items()):
            for lab in labs:
                if base <= lab <= hi:
                    lut[lab - base] = p
        counts = np.zeros(hi - base + 1, dtype=np.int64)
        index = np.empty(flat.size, dtype=np.int8)
        chunk = 1 << 24
        for a in range(0, flat.size, chunk):
            c = flat[a:a + chunk]
            if shift:
                c = c.astype(np.int64) - base
            counts += np.bincount(c, minlength=counts.size)
            index[a:a + chunk] = lut[c]
        present = np.flatnonzero(counts) + base
    else:
        present = np.unique(flat)
        keys = np.array(sorted(l for labs in phases.values() for l in labs))
        vals = np.array([p for l in keys for p, labs in enumerate(phases.values()) if l in labs], dtype=np.int8)
        pos = np.clip(np.searchsorted(keys, flat), 0, len(keys) - 1)
        index = np.where(keys[pos] == flat, vals[pos], np.int8(-1)).astype(np.int8)
    present_set = {int(p) for p in present}
    given = {int(l) for labs in phases.values() for l in labs}
    unmapped = sorted(present_set - given)
    if unmapped and not ignore_unmapped:
        shown = unmapped[:20] + (["..."] if len(unmapped) > 20 else [])
        raise ValueError(f"label values {shown} occur in the image but belong to no phase; map them with "
                         f"--phase NAME=... or pass --ignore-unmapped (ignore_unmapped=True) to leave them out")
    missing = sorted(given - present_set)
    if missing and not allow_missing:
        raise ValueError(f"label values {missing} given in the phases do not occur in the image "
                         f"(labels present: {sorted(present_set)[:20]}); pass --allow-missing to accept")
    return index.reshape(labels.shape), unmapped, missing


def _load(source, mesh_scale, raw_shape, raw_dtype, image_axes, raw_order):
    from ..mesh import Mesh

    if isinstance(source, Mesh):
        return "mesh", source, "<mesh>"
    if isinstance(source, np.ndarray):
        return "voxel image", source, "<array>"
    path = os.fspath(source)
    if os.path.splitext(path)[1].lower() in MESH_EXTENSIONS:
        from ..mesh import read

        return "mesh", read(path, scale=mesh_scale), path
    from .voxelize import read_label_image

    return "voxel image", read_label_image(path, shape=raw_shape, dtype=raw_dtype, axes=image_axes,
                                           order=raw_order), path


# ---------------------------------------------------------------------------- describe
def describe(source, phases, voxel_size=None, active=None, axes=("x", "y", "z"), tortuosity_phases=None,
             periodic=False, ignore_unmapped=False, allow_missing=False, *, mesh_scale=1e-6,
             raw_shape=None, raw_dtype=None, image_axes=None, raw_order="C", sigma=DEFAULT_SIGMA,
             tol=1e-6, imbalance_tol=1e-5, amg="lean") -> Descriptors:
    """Volume fractions, tortuosity factors, contact area and D_SCA of an image or a mesh.

    Parameters
    ----------
    source : label image (path: .npy, .raw/.bin/.dat, .tif/.tiff or a folder of TIFF
        slices; or an integer array, axes x, y, z), or a mesh (path .msh/.vtu/.xdmf, or a
        ``ssbfv.mesh.Mesh``)
    phases : {name: [label values]} for images, {name: [region names]} for meshes
    voxel_size : voxel edge [m], one number or (hx, hy, hz); required for images
    active : name of the active phase (contact area, D_SCA); None: no contact figures
    axes : axes to solve the tortuosity along ("x,y,z", a list, or None/"none": none)
    tortuosity_phases : phases to solve (default all named phases)
    periodic : couple the opposite sides of the two lateral axes in the tortuosity solves
    ignore_unmapped : allow labels (regions) that belong to no phase (they count in the
        total volume, conduct nothing and are not contact)
    allow_missing : allow labels (regions) given in ``phases`` that do not occur
    mesh_scale : coordinate scale of a mesh file to m (default 1e-6: files in µm)
    raw_shape, raw_dtype, image_axes, raw_order : see ``read_label_image``
    sigma : smoothing of the voxel contact-area estimate [voxels]
    tol, imbalance_tol : voxel CG solves stop when the relative residual is below tol and
        the inlet/outlet current imbalance below imbalance_tol (mesh solves: 1e-10)
    amg : AMG of the voxel solves ("lean", "csr", "pyamg")

    Raises ValueError (with what is wrong) for a missing voxel size, unmapped or missing
    labels, unknown phases, a requested tortuosity of an empty phase, bad axes.
    """
    phases = _check_phases(phases, active)
    axes = _parse_axes(axes)
    tau_phases = list(phases) if tortuosity_phases is None else list(tortuosity_phases)
    bad = [p for p in tau_phases if p not in phases]
    if bad:
        raise ValueError(f"tortuosity asked for unknown phases {bad}; the phases are {list(phases)}")
    kind, obj, name = _load(source, mesh_scale, raw_shape, raw_dtype, image_axes, raw_order)
    if kind == "mesh":
        return _describe_mesh(obj, name, phases, active, axes, tau_phases, periodic, ignore_unmapped, allow_missing)
    return _describe_image(obj, name, phases, voxel_size, active, axes, tau_phases, periodic, ignore_unmapped,
                           allow_missing, sigma, tol, imbalance_tol, amg)


def _tortuosity_entries(d, name, results):
    d.tortuosity[name], d.conductivity_ratio[name], d.percolating_fraction[name], d.tortuosity_solver[name] = {}, {}, {}, {}
    for r in results:
        s = r.summary()
        d.tortuosity[name][r.axis] = s["tau"]
        d.conductivity_ratio[name][r.axis] = s["conductivity_ratio"]
        d.percolating_fraction[name][r.axis] = s["percolating_fraction"]
        d.tortuosity_solver[name][r.axis] = {k: s[k] for k in ("n_cells", "iterations", "residual", "imbalance", "times_s")}
        if s["tau"] is None:
            d.warnings.append(f"phase {name} does not percolate along {r.axis}: no part of it connects "
                              f"both {r.axis} faces (tortuosity null)")


def _contact(d, active_volume, contact):
    d.active_volume = float(active_volume)
    d.contact_area = float(contact.total)
    d.contact_area_per_volume = float(contact.total / d.total_volume)
    d.area_method = contact.method
    if contact.total > 0.0:
        d.d_sca = float(6.0 * active_volume / contact.total)
    else:
        d.warnings.append(f"the active phase {d.active} has no contact with the other named phases: D_SCA null")


def _describe_image(labels, name, phases, voxel_size, active, axes, tau_phases, periodic, ignore_unmapped,
                    allow_missing, sigma, tol, imbalance_tol, amg):
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.size == 0:
        raise ValueError(f"a label image must be a non-empty 3D array, got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise ValueError(f"label images hold integers, got dtype {labels.dtype}")
    if voxel_size is None:
        raise ValueError("the voxel size is missing: a label image needs --voxel-size in metres (e.g. 0.5e-6)")
    h = voxel_size3(voxel_size)
    if len(phases) > 127:
        raise ValueError("at most 127 phases")
    index, unmapped, missing = _phase_index(labels, phases, ignore_unmapped, allow_missing)
    n = index.size
    counts = np.array([0] + [np.count_nonzero(index == i) for i in range(len(phases))])
    counts[0] = n - counts.sum()  # unmapped
    hval = float(h[0]) if np.all(h == h[0]) else [float(v) for v in h]
    d = Descriptors(name, "voxel image", {k: [int(v) for v in vs] for k, vs in phases.items()},
                    float(n * np.prod(h)), {p: float(counts[i + 1] / n) for i, p in enumerate(phases)},
                    periodic=bool(periodic), shape=[int(s) for s in labels.shape], voxel_size=hval,
                    active=active, unmapped_fraction=float(counts[0] / n))
    if unmapped:
        d.warnings.append(f"labels {unmapped[:20]} belong to no phase (ignored: they conduct nothing)")
    if missing:
        d.warnings.append(f"labels {missing} of the phases do not occur in the image")
    names = list(phases)
    for p in tau_phases:
        if axes and counts[names.index(p) + 1] == 0:
            raise ValueError(f"tortuosity asked for phase {p!r}, which is empty (none of its labels "
                             f"{phases[p]} occurs in the image)")
    for p in tau_phases:
        if not axes:
            break
        mask = index == names.index(p)
        _tortuosity_entries(d, p, [voxel_tortuosity(mask, h, a, periodic=periodic, tol=tol,
                                                    imbalance_tol=imbalance_tol, amg=amg) for a in axes])
        del mask
    if active is not None:
        ia = names.index(active)
        c = voxel_contact_area(index, ia, h, sigma=sigma)
        c.by_phase = {names[k]: v for k, v in c.by_phase.items()}
        d.contact_area_by_phase = c.by_phase
        _contact(d, counts[ia + 1] * np.prod(h), c)
    return d


def _describe_mesh(mesh, name, phases, active, axes, tau_phases, periodic, ignore_unmapped, allow_missing):
    regions = set(mesh.region_names)
    given = {r for rs in phases.values() for r in rs}
    for p, rs in phases.items():
        for r in rs:
            if not isinstance(r, str):
                raise ValueError(f"phase {p!r}: mesh phases are lists of region names, got {r!r}")
    missing = sorted(given - regions)
    if missing and not allow_missing:
        raise ValueError(f"regions {missing} given in the phases are not in the mesh (its regions: "
                         f"{list(mesh.region_names)}); pass --allow-missing to accept")
    unmapped = sorted(regions - given)
    if unmapped and not ignore_unmapped:
        raise ValueError(f"mesh regions {unmapped} belong to no phase; map them with --phase NAME=REGION,... "
                         f"or pass --ignore-unmapped")
    phases = {p: [r for r in rs if r in regions] for p, rs in phases.items()}
    vol = mesh.cell_volumes
    total = float(vol.sum())
    pvol = {p: float(sum(vol[mesh.region_cells(r)].sum() for r in rs)) for p, rs in phases.items()}
    d = Descriptors(name, "mesh", {p: list(rs) for p, rs in phases.items()}, total,
                    {p: v / total for p, v in pvol.items()}, periodic=bool(periodic), n_cells=int(mesh.n_cells),
                    active=active, unmapped_fraction=float(1.0 - sum(pvol.values()) / total) if unmapped else 0.0)
    if unmapped:
        d.warnings.append(f"regions {unmapped} belong to no phase (ignored: they conduct nothing)")
    if missing:
        d.warnings.append(f"regions {missing} of the phases are not in the mesh")
    for p in tau_phases:
        if axes and not phases[p]:
            raise ValueError(f"tortuosity asked for phase {p!r}, which is empty (none of its regions is in the mesh)")
    for p in tau_phases:
        if axes:
            _tortuosity_entries(d, p, [mesh_tortuosity(mesh, phases[p], a, periodic=periodic) for a in axes])
    if active is not None:
        c = mesh_contact_area(mesh, phases[active], {p: rs for p, rs in phases.items() if p != active},
                              periodic=periodic)
        d.contact_area_by_phase = c.by_phase
        _contact(d, pvol[active], c)
    return d


# ---------------------------------------------------------------------------- command line
def add_describe_arguments(parser) -> None:
    """Arguments of ``ssbfv describe`` on an argparse (sub)parser."""
    parser.add_argument("source", metavar="MESH_OR_IMAGE",
                        help="label image (.npy, .raw/.bin/.dat, .tif/.tiff, folder of TIFF slices) or mesh (.msh, .vtu, .xdmf)")
    parser.add_argument("--voxel-size", metavar="S",
                        help="voxel edge in metres, e.g. 0.5e-6, or hx,hy,hz (required for images)")
    parser.add_argument("--phase", action="append", metavar="NAME=L1[,L2...]", default=[],
                        help="a phase and its label values (images) or region names (meshes); repeat per phase")
    parser.add_argument("--active", metavar="NAME", help="the active phase: contact area per volume and D_SCA")
    parser.add_argument("--axes", default="x,y,z", help="tortuosity directions (default x,y,z; 'none' to skip)")
    parser.add_argument("--tortuosity", metavar="NAME[,NAME...]",
                        help="phases whose tortuosity is solved (default all named phases)")
    parser.add_argument("--periodic", action="store_true", help="periodic lateral sides in the tortuosity solves")
    parser.add_argument("--ignore-unmapped", action="store_true",
                        help="allow labels/regions that belong to no phase (non-conducting, not contact)")
    parser.add_argument("--allow-missing", action="store_true", help="allow phase labels/regions that do not occur")
    parser.add_argument("--raw-shape", metavar="N0,N1,N2", help="shape of a .raw image as stored")
    parser.add_argument("--raw-dtype", metavar="DTYPE", help="numpy dtype of a .raw image (uint8, <u2, ...)")
    parser.add_argument("--raw-order", default="C", choices=["C", "F"], help="memory order of a .raw image")
    parser.add_argument("--image-axes", metavar="AXES",
                        help="stored axes of the image, a permutation of xyz (default xyz; zyx for TIFF)")
    parser.add_argument("--scale", type=float, default=1e-6, help="mesh coordinates to metres (default 1e-6: um)")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA,
                        help=f"smoothing of the voxel contact-area estimate in voxels (default {DEFAULT_SIGMA})")
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="relative residual tolerance of the voxel CG solves (default 1e-6)")
    parser.add_argument("--imbalance-tol", type=float, default=1e-5,
                        help="voxel solves also iterate until |I_in - I_out| / I_in is below this (default 1e-5)")
    parser.add_argument("--json", metavar="OUT.json", help="write the descriptors as JSON")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")


def _parse_phase(text: str, is_mesh: bool):
    if "=" not in text:
        raise ValueError(f"--phase {text!r}: expected NAME=L1[,L2...]")
    name, _, rest = text.partition("=")
    name = name.strip()
    items = [s.strip() for s in rest.split(",") if s.strip()]
    if not name or not items:
        raise ValueError(f"--phase {text!r}: expected NAME=L1[,L2...] with a name and at least one label")
    if is_mesh:
        return name, items
    try:
        return name, [int(s) for s in items]
    except ValueError:
        raise ValueError(f"--phase {text!r}: label values of an image must be integers") from None


def _parse_numbers(text, what, count=None, kind=float):
    try:
        vals = [kind(s) for s in str(text).split(",")]
    except ValueError:
        raise ValueError(f"{what} {text!r}: expected numbers separated by commas") from None
    if count is not None and len(vals) not in count:
        raise ValueError(f"{what} {text!r}: expected {' or '.join(map(str, count))} numbers")
    return vals


def run_describe(args) -> int:
    """Run ``ssbfv describe`` from parsed arguments: print the table, write the JSON.
    Raises ValueError (etc.) with a message on bad input; returns 0."""
    is_mesh = os.path.splitext(os.fspath(args.source))[1].lower() in MESH_EXTENSIONS
    if not args.phase:
        raise ValueError("name at least one phase with --phase NAME=L1[,L2...]")
    phases = {}
    for text in args.phase:
        name, labels = _parse_phase(text, is_mesh)
        if name in phases:
            raise ValueError(f"phase {name!r} is given twice")
        phases[name] = labels
    h = None
    if not is_mesh:
        if args.voxel_size is None:
            raise ValueError("the voxel size is missing: a label image needs --voxel-size in metres (e.g. 0.5e-6)")
        hs = _parse_numbers(args.voxel_size, "--voxel-size", (1, 3))
        h = hs[0] if len(hs) == 1 else hs
    raw_shape = _parse_numbers(args.raw_shape, "--raw-shape", (3,), int) if args.raw_shape else None
    tau_phases = [s.strip() for s in args.tortuosity.split(",")] if args.tortuosity else None
    d = describe(args.source, phases, voxel_size=h, active=args.active, axes=args.axes,
                 tortuosity_phases=tau_phases, periodic=args.periodic, ignore_unmapped=args.ignore_unmapped,
                 allow_missing=args.allow_missing, mesh_scale=args.scale, raw_shape=raw_shape,
                 raw_dtype=args.raw_dtype, image_axes=args.image_axes, raw_order=args.raw_order,
                 sigma=args.sigma, tol=args.tol, imbalance_tol=args.imbalance_tol)
    if not args.quiet:
        print(d.format_table())
    if args.json:
        d.write_json(args.json)
        if not args.quiet:
            print(f"descriptors written to {args.json}")
    return 0
