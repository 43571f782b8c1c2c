"""Parameter sweeps: ``ssbfv sweep BASE --set key=v1,v2 ...`` and ``ssbfv collect SWEEP``.

Keys are dotted paths into case.toml: ``protocol.c_rate``, ``geometry.voxel_size_um``,
``numerics.dt_max_s``. A name that contains dots (a parameter override) is written in one of
three equivalent ways:

- ``parameters.overrides.solid.D_s=1e-14,2e-14``: under ``parameters.overrides.`` and
  ``parameters.materials.`` the rest of the key is one name, dots and all;
- ``parameters.overrides[solid.D_s]=1e-14,2e-14``: brackets around the name;
- ``'parameters.overrides."solid.D_s"=1e-14,2e-14'``: a TOML dotted key with a quoted part.

Values are TOML scalars separated by commas (``0.2``, ``1e-14``, ``true``, ``"discharge"``; a
bare word is a string; a comma inside a quoted string stays). Several ``--set`` options make
the Cartesian product, in the order given.

A sweep directory (default ``BASE_sweep/`` next to the base case) holds one child case per
combination, named after its settings (``c_rate=0.2__D_s=1e-14``; the full key where the last
parts would clash, ``repr`` values where ``%g`` would), each a complete case.toml (tomli_w)
whose file references (``geometry.packing``, ``mesh``, ``descriptors``; also ones given with
``--set``, relative to the base case) are absolute paths to the base case's files, plus
``sweep.json`` (base, --set options, members and their settings) and ``members.txt`` (one child
directory per line, for job arrays). Every child is checked with ``ssbfv check``'s checks
before anything runs; a bad key or value is a CaseError naming the ``--set`` option. A base
case whose ``[output] directory`` is absolute gives each child ``DIRECTORY/MEMBER``.

Geometry: children of one packing geometry (the same [geometry] table) share one build: before
the runs, each distinct geometry is packed and meshed once (or taken from the base case's
``build/`` when its cache key matches) and copied into the children's ``build/`` (copies, not
links: a child that rebuilds never touches another's files). All children of a geometry
therefore run on the same microstructure even when the packing has no seed.

Running: a local process pool (``run_sweep``, ``--jobs N``): each member runs in a fresh
process (a crash of one, even a segfault or an out-of-memory kill, is that member's status
"crashed"); finished members (a complete summary.json newer than the child's case.toml) are
skipped. Or a SLURM job array (``write_slurm``, ``--slurm``): one member per array task, no
MPI, thread counts from SLURM_CPUS_PER_TASK, finished members skipped; ``--submit`` calls
sbatch; ``--prebuild`` builds the shared geometries here first (otherwise each array task
builds its own). ``ssbfv collect SWEEP`` gathers the summaries into ``collect.csv`` and, when
:mod:`ssbfv.case.plots` is importable, draws ``overlay.png``.
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import re
import shlex
import shutil
import subprocess
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .config import CaseError, load_case

_NESTED = ("parameters.overrides", "parameters.materials")
_FILE_KEYS = ("packing", "mesh", "descriptors")


# ---------------------------------------------------------------------------- --set parsing
def parse_set(text: str) -> tuple[list[str], list]:
    """``'a.b=v1,v2'`` -> ``(['a', 'b'], [v1, v2])`` with TOML scalar values (see the module
    docstring for the key forms); CaseError naming the option on bad syntax."""
    if "=" not in text:
        raise CaseError(f"--set {text!r}: expected KEY=V1,V2,... (e.g. protocol.c_rate=0.2,0.5)")
    key, vals = _split_key(text)
    path = _key_path(key.strip(), text)
    nested = ".".join(path[:2]) in _NESTED
    if not ((len(path) == 2 and not nested) or (len(path) == 3 and nested)) or not all(path):
        raise CaseError(f"--set {text!r}: the key must be SECTION.KEY (e.g. protocol.c_rate) or "
                        "parameters.overrides.NAME / parameters.materials.NAME")
    values = [_scalar(v.strip(), text) for v in _split_values(vals)]
    if not values:
        raise CaseError(f"--set {text!r}: no values")
    seen = set()
    for v in values:
        k = (type(v), v)
        if k in seen:
            raise CaseError(f"--set {text!r}: value {v!r} is given twice")
        seen.add(k)
    return path, values


def _split_key(text: str) -> tuple[str, str]:
    """Split at the first '=' outside quotes (a quoted key part may contain '=')."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return text[:i], text[i + 1:]
    raise CaseError(f"--set {text!r}: expected KEY=V1,V2,... (e.g. protocol.c_rate=0.2,0.5)")


def _key_path(key: str, text: str) -> list[str]:
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.]*)\[([^\]]+)\]", key)
    if m:  # parameters.overrides[solid.D_s]
        return m.group(1).split(".") + [m.group(2)]
    if '"' in key or "'" in key:  # a TOML dotted key with quoted parts
        try:
            node = tomllib.loads(f"{key} = 0")
        except tomllib.TOMLDecodeError:
            raise CaseError(f"--set {text!r}: {key!r} is not a TOML key") from None
        path = []
        while isinstance(node, dict):
            (k, node), = node.items()
            path.append(k)
        return path
    for pre in _NESTED:
        if key.startswith(pre + ".") and len(key) > len(pre) + 1:
            return pre.split(".") + [key[len(pre) + 1:]]
    return key.split(".")


def _split_values(s: str) -> list[str]:
    out, cur, quote = [], "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch == ",":
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [v for v in out if v.strip()]


def _scalar(v: str, text: str):
    try:
        value = tomllib.loads(f"v = {v}")["v"]
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z_./][A-Za-z0-9_./\-]*", v):
            return v  # a bare word (or file name): a string
        raise CaseError(f"--set {text!r}: value {v!r} is not a TOML scalar (number, true/false or string)") from None
    if not isinstance(value, (bool, int, float, str)):
        raise CaseError(f"--set {text!r}: value {v!r} is not a scalar (number, true/false or string)")
    return value


# ---------------------------------------------------------------------------- making a sweep
def _fmt(value, exact: bool) -> str:
    if isinstance(value, float) and not exact:
        return f"{value:g}"
    return repr(value) if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def _names(paths: list[list[str]], combos: list[tuple]) -> list[str]:
    """Readable, unique directory names for the combinations."""
    def short(path):
        return path[-1].split(".")[-1]

    shorts = [short(p) for p in paths]
    labels = [s if shorts.count(s) == 1 else ".".join(p) for s, p in zip(shorts, paths)]
    for exact in (False, True):
        names = ["__".join(f"{lab}={_fmt(v, exact)}" for lab, v in zip(labels, combo)) for combo in combos]
        names = [re.sub(r"[^A-Za-z0-9_.=+\-]", "_", n) for n in names]
        if len(set(names)) == len(names):
            return names
    return [f"{i:04d}__{n}" for i, n in enumerate(names)]


def _resolve_refs(raw: dict, base_dir: Path) -> dict:
    """File references of [geometry] made absolute (relative ones are relative to the base)."""
    geo = raw.get("geometry")
    if isinstance(geo, dict):
        for k in _FILE_KEYS:
            if isinstance(geo.get(k), str):
                geo[k] = str((base_dir / geo[k]).resolve())
    return raw


def make_sweep(base_case, sets: list[str], out_dir=None) -> Path:
    """Write one child case per combination of the ``--set`` values; returns the sweep
    directory (members in its ``sweep.json``). CaseError on bad input, before anything runs.

    base_case: the base case directory (or its case.toml); sets: ``KEY=V1,V2,...`` strings;
    out_dir: the sweep directory (default ``BASE_sweep`` next to the base case). Children whose
    case.toml is unchanged keep their results (a re-made sweep re-runs nothing finished).
    """
    import tomli_w

    from .check import check_case

    base = load_case(base_case)
    if not sets:
        raise CaseError("a sweep needs at least one --set KEY=V1,V2,...")
    parsed = [parse_set(s) for s in sets]
    keys = [".".join(p) for p, _ in parsed]
    for k in keys:
        if keys.count(k) > 1:
            raise CaseError(f"--set: key {k!r} is given twice (put all its values in one --set)")
    sweep = Path(out_dir) if out_dir else base.directory.parent / f"{base.directory.name}_sweep"
    combos = list(itertools.product(*[vals for _, vals in parsed]))
    names = _names([p for p, _ in parsed], combos)
    children = []
    for name, combo in zip(names, combos):
        raw = _resolve_refs(json.loads(json.dumps(base.raw)), base.directory)
        settings = {}
        for (path, _), value, text in zip(parsed, combo, sets):
            node = raw
            for p in path[:-1]:
                node = node.setdefault(p, {})
                if not isinstance(node, dict):
                    raise CaseError(f"--set {text!r}: [{p}] is not a table in {base.case_file}")
            node[path[-1]] = value
            settings[".".join(path)] = value
        _resolve_refs(raw, base.directory)  # a swept file name is relative to the base case
        out = raw.get("output", {})
        if isinstance(out.get("directory"), str) and Path(out["directory"]).is_absolute():
            out["directory"] = str(Path(out["directory"]) / name)
        raw.setdefault("case", {})["name"] = f"{base.name}/{name}"
        children.append((name, raw, settings))
    created = [] if sweep.exists() else [sweep]
    sweep.mkdir(parents=True, exist_ok=True)
    members = []
    for name, raw, settings in children:
        child = sweep / name
        if not child.exists():
            created.append(child)
        child.mkdir(exist_ok=True)
        text = tomli_w.dumps(raw)
        f = child / "case.toml"
        if not f.is_file() or f.read_text() != text:  # unchanged children keep their results
            f.write_text(text)
        try:
            check_case(child)
        except CaseError as exc:
            for c in reversed(created):  # leave no half-made sweep behind
                shutil.rmtree(c, ignore_errors=True)
            opts = " ".join(f"--set {s}" for s in sets)
            raise CaseError(f"sweep member {name} (from {opts}): {exc}") from None
        members.append({"name": name, "directory": str(child.resolve()), "settings": settings})
    meta = {"base": str(base.directory), "sets": list(sets), "members": members}
    (sweep / "sweep.json").write_text(json.dumps(meta, indent=1))
    (sweep / "members.txt").write_text("".join(m["directory"] + "\n" for m in members))
    return sweep


def _members(sweep_dir) -> list[dict]:
    f = Path(sweep_dir) / "sweep.json"
    if not f.is_file():
        raise CaseError(f"{sweep_dir}: not a sweep directory (no sweep.json)")
    return json.loads(f.read_text())["members"]


def finished(child) -> bool:
    """A complete summary.json (valid JSON with an end_reason) newer than the child's case.toml."""
    cfg = load_case(child)
    s = cfg.output_dir / "summary.json"
    if not (s.is_file() and s.stat().st_mtime >= cfg.case_file.stat().st_mtime):
        return False
    try:
        return "end_reason" in json.loads(s.read_text())
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------- shared geometry
def _geometry_id(cfg) -> str | None:
    """Members with the same id build the same mesh (packing cases only)."""
    if "packing" not in cfg.geometry:
        return None
    return json.dumps(cfg.raw.get("geometry", {}), sort_keys=True)


def _build_ok(build: Path, cfg) -> bool:
    from .geometry import _key

    kf = build / "key.json"
    try:
        ok = json.loads(kf.read_text()).get("key") == _key(cfg)
    except (OSError, ValueError):
        return False
    return ok and (build / "packing.h5").is_file() and (build / "mesh.msh").is_file()


def _copy_build(src: Path, dst: Path) -> None:
    """Copy a build/ directory (key.json last, so a torn copy is never taken as valid)."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "key.json").unlink(missing_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "key.json":
            shutil.copy2(f, dst / f.name)
    shutil.copy2(src / "key.json", dst / "key.json")


def share_geometry(sweep_dir, members=None, jobs: int = 1, log=print) -> dict:
    """Build each distinct packing geometry of the (given) members once and copy it into the
    other members' ``build/``; returns {member name: "shared" | "built" | "own"}.

    The source of a geometry is, in this order: a member or the base case whose build/ already
    matches (cache key of :mod:`.geometry`), else one member, built in a fresh process (at most
    ``jobs`` geometries at a time; a geometry of a single member is left to its run). A geometry
    that fails to build is left to its members (each then fails, or builds, on its own)."""
    sweep = Path(sweep_dir)
    meta = json.loads((sweep / "sweep.json").read_text()) if (sweep / "sweep.json").is_file() else {}
    members = members if members is not None else _members(sweep)
    groups: dict[str, list[dict]] = {}
    out = {}
    for m in members:
        gid = _geometry_id(load_case(m["directory"]))
        if gid is None:
            out[m["name"]] = "own"
        else:
            groups.setdefault(gid, []).append(m)
    sources, to_build = {}, []
    for gid, ms in groups.items():
        cfg = load_case(ms[0]["directory"])
        candidates = [Path(m["directory"]) / "build" for m in ms]
        if meta.get("base"):
            candidates.append(Path(meta["base"]) / "build")
        src = next((c for c in candidates if _build_ok(c, cfg)), None)
        if src is None and len(ms) > 1:  # a geometry of one member is built by its run
            to_build.append(gid)
            src = Path(ms[0]["directory"]) / "build"
        sources[gid] = src
    if to_build:
        log(f"geometry: building {len(to_build)} shared geometr{'y' if len(to_build) == 1 else 'ies'}")
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(to_build))), mp_context=ctx,
                                 initializer=_warm) as pool:
            results = list(pool.map(_isolated, [str(sources[g].parent) for g in to_build],
                                    ["geometry"] * len(to_build)))
        for gid, r in zip(to_build, results):
            if r["status"] != "built":
                log(f"geometry of {sources[gid].parent.name}: {r['status']} ({r.get('error', '')}); "
                    "its members build their own")
                sources[gid] = None
    for gid, ms in groups.items():
        src = sources[gid]
        for m in ms:
            dst = Path(m["directory"]) / "build"
            if src is None:
                out[m["name"]] = "own"
            elif dst.resolve() == src.resolve():
                out[m["name"]] = "built" if gid in to_build else "shared"
            else:
                if not _build_ok(dst, load_case(m["directory"])):
                    _copy_build(src, dst)
                out[m["name"]] = "shared"
    return out


# ---------------------------------------------------------------------------- local runs
OK_STATUS = ("voltage_cutoff", "soc_limit", "t_end", "voltage_collapse", "depletion", "finished earlier")
def _member_main(path: str, conn, task: str) -> None:
    """In the member's own process: run the case (or build its geometry), send the status."""
    try:
        if task == "geometry":
            from .geometry import build_mesh

            build_mesh(load_case(path), log=lambda *a, **k: None)
            res = {"status": "built"}
        else:
            from .run import run_case

            res = {"status": run_case(path, quiet=True)["end_reason"]}
    except BaseException as exc:  # noqa: BLE001 -- reported as the member's status
        res = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    conn.send(res)
    conn.close()


def _warm() -> None:
    """Pool worker initializer: import the solver once; members fork from this clean worker
    (which never runs a case itself, so no solver threads or state are inherited)."""
    import importlib

    for mod in ("geometry", "run"):
        importlib.import_module(f"{__package__}.{mod}")


def _isolated(path: str, task: str = "run") -> dict:
    """Run one member in a fresh process (forked from the pool worker where fork exists, else
    spawned); a process that dies (segfault, out-of-memory kill) is status 'crashed'."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_member_main, args=(path, send, task), daemon=False)
    p.start()
    send.close()
    try:
        res = recv.recv()
    except EOFError:
        res = None
    p.join()
    if res is None:
        return {"status": "crashed", "error": f"the member's process died (exit code {p.exitcode})"}
    return res


def run_sweep(sweep_dir, jobs: int = 1, quiet: bool = True, log=print) -> dict:
    """Run the unfinished members of a sweep; returns {member name: status}.

    jobs: members run at a time (a local ProcessPoolExecutor; each member in a fresh process).
    Status: the run's end_reason ("t_end", "cutoff", ...), "finished earlier" (skipped),
    "error" or "crashed". quiet: no line per skipped member. A failing member does not stop
    the others. Shared geometries are built first (:func:`share_geometry`)."""
    members = _members(sweep_dir)
    status, todo = {}, []
    for m in members:
        if finished(m["directory"]):
            status[m["name"]] = "finished earlier"
            if not quiet:
                log(f"{m['name']}: finished earlier, skipped")
        else:
            todo.append(m)
    if quiet and status:
        log(f"{len(status)} member(s) finished earlier, skipped")
    if todo:
        share_geometry(sweep_dir, todo, jobs, log=log)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx, initializer=_warm) as pool:
            for m, r in zip(todo, pool.map(_isolated, [m["directory"] for m in todo])):
                status[m["name"]] = r["status"]
                log(f"{m['name']}: {r['status']}" + (f" ({r['error']})" if "error" in r else ""))
    return status


# ---------------------------------------------------------------------------- SLURM
SLURM = """#!/bin/bash
#SBATCH --job-name={job}
#SBATCH --array=0-{last}
#SBATCH --ntasks=1
#SBATCH --cpus-per-task={cpus}
#SBATCH --time={time}
#SBATCH --output={log_dir}/%A_%a.out
{extra}
# One sweep member per array task (members.txt, line SLURM_ARRAY_TASK_ID + 1); no MPI.
# Finished members (summary.json newer than case.toml) are skipped. Written by 'ssbfv sweep --slurm'.
set -euo pipefail
export OMP_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
export NUMBA_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
export OPENBLAS_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
export MKL_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
MEMBER=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {members})
if [ -z "$MEMBER" ]; then
    echo "array task $SLURM_ARRAY_TASK_ID: no such member in {members}" >&2
    exit 1
fi
echo "array task $SLURM_ARRAY_TASK_ID: $MEMBER"
{ssbfv} run "$MEMBER" --quiet --skip-finished
"""


def _ssbfv_command() -> str:
    import sys

    exe = Path(sys.executable).with_name("ssbfv")
    if exe.is_file():
        return shlex.quote(str(exe))
    found = shutil.which("ssbfv")
    return shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m ssbfv.cli"


def write_slurm(sweep_dir, time: str = "24:00:00", cpus: int = 1, partition: str | None = None,
                account: str | None = None, ssbfv: str | None = None) -> Path:
    """Write ``SWEEP/sweep.slurm``, a SLURM job array over ``members.txt`` (one member per
    task, ``#SBATCH --array=0-(N-1)``); returns its path.

    time: wall-time limit per member, ``[D-]HH:MM:SS``; cpus: --cpus-per-task (also the OMP,
    NUMBA, OpenBLAS and MKL thread counts); partition, account: passed through when given;
    ssbfv: the command that runs a case (default: the ``ssbfv`` next to this Python). Logs go
    to ``SWEEP/slurm_logs/JOB_TASK.out``."""
    sweep = Path(sweep_dir).resolve()
    members = _members(sweep)
    if not members:
        raise CaseError(f"{sweep}: the sweep has no members")
    if not re.fullmatch(r"(\d+-)?\d{1,3}:\d{2}:\d{2}", str(time)):
        raise CaseError(f"--time {time!r}: expected [D-]HH:MM:SS")
    if int(cpus) < 1:
        raise CaseError(f"--cpus {cpus}: must be >= 1")
    for opt, v in (("partition", partition), ("account", account)):
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_.,:+\-]+", v):
            raise CaseError(f"--{opt} {v!r}: not a SLURM {opt} name")
    if re.search(r"\s", str(sweep)):
        raise CaseError(f"{sweep}: a SLURM sweep directory must not contain white space (#SBATCH --output)")
    extra = "".join(f"#SBATCH --{k}={v}\n" for k, v in (("partition", partition), ("account", account)) if v)
    (sweep / "slurm_logs").mkdir(exist_ok=True)
    text = SLURM.format(job=re.sub(r"[^A-Za-z0-9_.\-]", "_", f"ssbfv-{sweep.name}")[:60], last=len(members) - 1,
                        cpus=int(cpus), time=time, log_dir=sweep / "slurm_logs", extra=extra.rstrip("\n"),
                        members=shlex.quote(str(sweep / "members.txt")), ssbfv=ssbfv or _ssbfv_command())
    path = sweep / "sweep.slurm"
    path.write_text(text)
    path.chmod(0o755)
    return path


def submit(script) -> tuple[int, str]:
    """``sbatch SCRIPT``: (return code, its output). CaseError when sbatch is not on PATH."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise CaseError("sbatch not found on PATH (submit sweep.slurm on the cluster: sbatch sweep.slurm)")
    out = subprocess.run([sbatch, str(script)], capture_output=True, text=True)
    return out.returncode, (out.stdout.strip() or out.stderr.strip())


# ---------------------------------------------------------------------------- collecting
COLLECT_KEYS = ("end_reason", "utilised_capacity_mAh_per_cm3", "utilised_capacity_mAh_per_cm2", "utilisation",
                "final_soc", "final_voltage_V", "time_s", "steps", "failed_steps", "wall_time_s")


def collect(sweep_dir, out_csv=None, plot: bool = True, log=None) -> Path:
    """Write ``collect.csv`` (or ``out_csv``): one row per member with its settings, a status
    ("done"; "stale": a summary older than the member's case.toml; "missing": no summary) and
    from summary.json the end reason, utilised capacity [mAh/cm^3 cathode, mAh/cm^2], utilisation
    [-], final SOC [-], final voltage [V], simulated time [s], steps, failed steps and wall time
    [s]. With ``plot``, ``overlay.png`` of the done members when :mod:`ssbfv.case.plots` imports
    (skipped otherwise). Returns the CSV path."""
    sweep = Path(sweep_dir)
    members = _members(sweep)
    setting_keys = list(dict.fromkeys(k for m in members for k in m["settings"]))
    rows, done = [], []
    for m in members:
        cfg = load_case(m["directory"])
        s_path = cfg.output_dir / "summary.json"
        row = {"member": m["name"], **m["settings"]}
        try:
            s = json.loads(s_path.read_text()) if s_path.is_file() else None
        except ValueError:
            s = None
        if s is None:
            row["status"] = "missing"
        else:
            row.update({"status": "done" if finished(m["directory"]) else "stale",
                        **{k: s.get(k) for k in COLLECT_KEYS}})
            if row["status"] == "done":
                done.append(cfg.output_dir)
        rows.append(row)
    out = Path(out_csv) if out_csv else sweep / "collect.csv"
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["member", *setting_keys, "status", *COLLECT_KEYS])
        w.writeheader()
        w.writerows(rows)
    tmp.replace(out)
    if plot and done:
        try:
            from .plots import plot_overlay
        except ImportError as exc:  # plotting is optional (matplotlib)
            (log or print)(f"overlay plot skipped: {exc}")
        else:
            plot_overlay(done, out.with_name("overlay.png"))
    return out


# ---------------------------------------------------------------------------- command line
def add_sweep_arguments(parser) -> None:
    parser.add_argument("base", help="base case directory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a swept key and its values, e.g. protocol.c_rate=0.2,0.5 or "
                             "parameters.overrides[solid.D_s]=1e-14,2e-14 (repeat for a Cartesian product)")
    parser.add_argument("--out", help="sweep directory (default BASE_sweep next to the base case)")
    parser.add_argument("--jobs", type=int, default=1, help="members run at a time, locally (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="write and check the members, run nothing")
    parser.add_argument("--slurm", action="store_true", help="write sweep.slurm (a SLURM job array) instead of running")
    parser.add_argument("--time", default="24:00:00", help="SLURM time limit per member (default 24:00:00)")
    parser.add_argument("--cpus", type=int, default=1, help="SLURM cpus per member (default 1)")
    parser.add_argument("--partition", help="SLURM partition")
    parser.add_argument("--account", help="SLURM account")
    parser.add_argument("--prebuild", action="store_true",
                        help="with --slurm: build the shared geometries here first (else each task builds its own)")
    parser.add_argument("--submit", action="store_true", help="with --slurm: submit sweep.slurm with sbatch")


def run_sweep_command(args) -> int:
    sweep = make_sweep(args.base, args.set, args.out)
    n = len(_members(sweep))
    print(f"sweep: {n} members in {sweep}")
    if args.slurm:
        if args.prebuild:
            share_geometry(sweep, jobs=args.jobs)
        script = write_slurm(sweep, args.time, args.cpus, args.partition, args.account)
        print(f"SLURM job array: {script}")
        if args.submit:
            rc, text = submit(script)
            print(text)
            return 0 if rc == 0 else 1
        return 0
    if args.dry_run:
        return 0
    status = run_sweep(sweep, args.jobs, quiet=False)
    print(f"collected: {collect(sweep)}")
    bad = [k for k, v in status.items() if v not in OK_STATUS]
    return 0 if not bad else 1


def add_collect_arguments(parser) -> None:
    parser.add_argument("sweep", help="sweep directory (with sweep.json)")
    parser.add_argument("-o", "--output", help="CSV file (default SWEEP/collect.csv)")
    parser.add_argument("--no-plot", action="store_true", help="no overlay.png")


def run_collect(args) -> int:
    print(collect(args.sweep, args.output, plot=not args.no_plot))
    return 0


__all__ = ["parse_set", "make_sweep", "finished", "share_geometry", "run_sweep", "write_slurm", "submit", "collect",
           "add_sweep_arguments", "run_sweep_command", "add_collect_arguments", "run_collect"]
