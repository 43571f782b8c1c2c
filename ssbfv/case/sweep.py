"""Parameter sweeps: ``ssbfv sweep BASE --set key=v1,v2 ...`` and ``ssbfv collect SWEEP``.

Keys are dotted paths into case.toml: ``protocol.c_rate``, ``geometry.voxel_size_um``,
``numerics.dt_max_s``. Under ``parameters.overrides.`` and ``parameters.materials.`` the rest of
the key is one name even if it has dots: ``parameters.overrides.solid.D_s=1e-14,2e-14`` sets
the override ``"solid.D_s"``. Values are TOML scalars (``0.2``, ``true``, ``"discharge"``; a
bare word is a string); several ``--set`` options make the Cartesian product.

A sweep directory (default ``BASE_sweep/``) holds one child case per combination, named after
its settings (``c_rate=0.2__D_s=1e-14``), each a complete case.toml whose file references point
to the base case's files (absolute paths), plus ``sweep.json`` (members and their settings) and
``members.txt`` (one child directory per line, for job arrays). Every child is validated with
``ssbfv check``'s checks before anything runs. Each child packs and meshes its own geometry
into its ``build/`` (the voxel route takes seconds; for expensive meshes, point the base case at a
mesh file).

Running: a local process pool (``--jobs N``, one process per child, finished children skipped:
a summary.json newer than the child's case.toml), or a SLURM job array (``--slurm``: one child
per array task, no MPI; ``--submit`` calls sbatch). ``ssbfv collect SWEEP`` gathers the
summaries into ``collect.csv`` and draws ``overlay.png``.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import shutil
import subprocess
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .config import CaseError, load_case

_NESTED = ("parameters.overrides.", "parameters.materials.")


def parse_set(text: str) -> tuple[list[str], list]:
    """'a.b=v1,v2' -> (['a', 'b'], [v1, v2]) with TOML scalar values."""
    if "=" not in text:
        raise CaseError(f"--set {text!r}: expected KEY=V1,V2,... (e.g. protocol.c_rate=0.2,0.5)")
    key, vals = text.split("=", 1)
    key = key.strip()
    path = None
    for pre in _NESTED:
        if key.startswith(pre) and len(key) > len(pre):
            path = pre.rstrip(".").split(".") + [key[len(pre):]]
    if path is None:
        path = key.split(".")
    if len(path) != 2 and path[:2] not in (["parameters", "overrides"], ["parameters", "materials"]):
        raise CaseError(f"--set {text!r}: the key must be SECTION.KEY (or parameters.overrides.NAME)")
    values = [_scalar(v.strip(), text) for v in _split_values(vals)]
    if not values:
        raise CaseError(f"--set {text!r}: no values")
    return path, values


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
        return tomllib.loads(f"v = {v}")["v"]
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", v):
            return v  # a bare word: a string
        raise CaseError(f"--set {text!r}: value {v!r} is not a TOML scalar") from None


def _label(path, value) -> str:
    v = value if not isinstance(value, float) else f"{value:g}"
    return re.sub(r"[^A-Za-z0-9_.=+\-]", "_", f"{path[-1].split('.')[-1]}={v}")


def _absolute_refs(raw: dict, base_dir: Path) -> dict:
    raw = json.loads(json.dumps(raw))
    geo = raw.get("geometry", {})
    for k in ("packing", "mesh"):
        if k in geo:
            geo[k] = str((base_dir / geo[k]).resolve())
    return raw


def make_sweep(base_case, sets: list[str], out_dir=None) -> Path:
    """Write the child cases; returns the sweep directory (CaseError on bad input)."""
    import tomli_w

    from .check import check_case

    base = load_case(base_case)
    if not sets:
        raise CaseError("a sweep needs at least one --set KEY=V1,V2,...")
    parsed = [parse_set(s) for s in sets]
    sweep = Path(out_dir) if out_dir else base.directory.parent / f"{base.directory.name}_sweep"
    sweep.mkdir(parents=True, exist_ok=True)
    members = []
    for combo in itertools.product(*[vals for _, vals in parsed]):
        raw = _absolute_refs(base.raw, base.directory)
        settings = {}
        for (path, _), value in zip(parsed, combo):
            node = raw
            for p in path[:-1]:
                node = node.setdefault(p, {})
                if not isinstance(node, dict):
                    raise CaseError(f"--set {'.'.join(path)}: {p} is not a table in {base.case_file}")
            node[path[-1]] = value
            settings[".".join(path)] = value
        name = "__".join(_label(p, v) for (p, _), v in zip(parsed, combo))
        raw.setdefault("case", {})["name"] = f"{base.name}/{name}"
        child = sweep / name
        child.mkdir(exist_ok=True)
        text = tomli_w.dumps(raw)
        f = child / "case.toml"
        if not f.is_file() or f.read_text() != text:  # unchanged children keep their results
            f.write_text(text)
        try:
            check_case(child)
        except CaseError as exc:
            raise CaseError(f"sweep member {name}: {exc}") from None
        members.append({"name": name, "directory": str(child.resolve()), "settings": settings})
    meta = {"base": str(base.directory), "sets": sets, "members": members}
    (sweep / "sweep.json").write_text(json.dumps(meta, indent=1))
    (sweep / "members.txt").write_text("".join(m["directory"] + "\n" for m in members))
    return sweep


def _members(sweep_dir) -> list[dict]:
    f = Path(sweep_dir) / "sweep.json"
    if not f.is_file():
        raise CaseError(f"{sweep_dir}: not a sweep directory (no sweep.json)")
    return json.loads(f.read_text())["members"]


def finished(child) -> bool:
    """A summary.json newer than the child's case.toml."""
    cfg = load_case(child)
    s = cfg.output_dir / "summary.json"
    return s.is_file() and s.stat().st_mtime >= cfg.case_file.stat().st_mtime


def _run_member(path: str) -> dict:
    from .run import run_case

    try:
        s = run_case(path, quiet=True)
        return {"status": s["end_reason"]}
    except Exception as exc:  # one member's failure must not stop the others
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}


def run_sweep(sweep_dir, jobs: int = 1, log=print) -> dict:
    """Run the unfinished members; {member name: status}."""
    members = _members(sweep_dir)
    status, todo = {}, []
    for m in members:
        if finished(m["directory"]):
            status[m["name"]] = "finished earlier"
        else:
            todo.append(m)
    for name in status:
        log(f"{name}: finished earlier, skipped")
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            for m, r in zip(todo, pool.map(_run_member, [m["directory"] for m in todo])):
                status[m["name"]] = r["status"]
                log(f"{m['name']}: {r['status']}" + (f" ({r['error']})" if "error" in r else ""))
    return status


SLURM = """#!/bin/bash
#SBATCH --job-name={job}
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task={cpus}
#SBATCH --time={time}
#SBATCH --output={log_dir}/%A_%a.out
{extra}
# one sweep member per array task; no MPI. Written by 'ssbfv sweep --slurm'.
set -euo pipefail
export OMP_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}} NUMBA_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
export OPENBLAS_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}
MEMBER=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {members})
echo "array task $SLURM_ARRAY_TASK_ID: $MEMBER"
{ssbfv} run "$MEMBER" --quiet --skip-finished
"""


def write_slurm(sweep_dir, time: str = "24:00:00", cpus: int = 1, partition: str | None = None,
                account: str | None = None, ssbfv: str | None = None) -> Path:
    """Write ``sweep.slurm`` (a job array over members.txt); returns its path."""
    import sys

    sweep = Path(sweep_dir).resolve()
    members = _members(sweep)
    if not re.fullmatch(r"(\d+-)?\d{1,3}:\d{2}:\d{2}", time):
        raise CaseError(f"--time {time!r}: expected [D-]HH:MM:SS")
    extra = "".join(f"#SBATCH --{k}={v}\n" for k, v in (("partition", partition), ("account", account)) if v)
    exe = ssbfv or str(Path(sys.executable).with_name("ssbfv"))
    (sweep / "slurm_logs").mkdir(exist_ok=True)
    text = SLURM.format(job=f"ssbfv-{sweep.name}"[:60], last=len(members) - 1, cpus=int(cpus), time=time,
                        log_dir=sweep / "slurm_logs", extra=extra.rstrip("\n"), members=sweep / "members.txt",
                        ssbfv=exe)
    path = sweep / "sweep.slurm"
    path.write_text(text)
    path.chmod(0o755)
    return path


COLLECT_KEYS = ("end_reason", "utilised_capacity_mAh_per_cm3", "utilised_capacity_mAh_per_cm2", "utilisation",
                "final_soc", "final_voltage_V", "time_s", "steps", "failed_steps", "wall_time_s")


def collect(sweep_dir, out_csv=None, plot: bool = True) -> Path:
    """collect.csv (one row per member: settings, status, results) and overlay.png."""
    sweep = Path(sweep_dir)
    members = _members(sweep)
    setting_keys = list(dict.fromkeys(k for m in members for k in m["settings"]))
    rows, done = [], []
    for m in members:
        cfg = load_case(m["directory"])
        s_path = cfg.output_dir / "summary.json"
        row = {"member": m["name"], **m["settings"]}
        if s_path.is_file():
            s = json.loads(s_path.read_text())
            row.update({"status": "done", **{k: s.get(k) for k in COLLECT_KEYS}})
            done.append(cfg.output_dir)
        else:
            row["status"] = "missing"
        rows.append(row)
    out = Path(out_csv) if out_csv else sweep / "collect.csv"
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["member", *setting_keys, "status", *COLLECT_KEYS])
        w.writeheader()
        w.writerows(rows)
    tmp.replace(out)
    if plot and done:
        from .plots import plot_overlay

        plot_overlay(done, sweep / "overlay.png")
    return out


# ---------------------------------------------------------------------------- command line
def add_sweep_arguments(parser) -> None:
    parser.add_argument("base", help="base case directory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a swept key and its values (repeat for a product)")
    parser.add_argument("--out", help="sweep directory (default BASE_sweep next to the base case)")
    parser.add_argument("--jobs", type=int, default=1, help="members run at a time, locally (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="write the members, run nothing")
    parser.add_argument("--slurm", action="store_true", help="write sweep.slurm (a job array) instead of running")
    parser.add_argument("--time", default="24:00:00", help="SLURM time limit per member (default 24:00:00)")
    parser.add_argument("--cpus", type=int, default=1, help="SLURM cpus per member (default 1)")
    parser.add_argument("--partition")
    parser.add_argument("--account")
    parser.add_argument("--submit", action="store_true", help="submit sweep.slurm with sbatch")


def run_sweep_command(args) -> int:
    sweep = make_sweep(args.base, args.set, args.out)
    n = len(_members(sweep))
    print(f"sweep: {n} members in {sweep}")
    if args.slurm:
        script = write_slurm(sweep, args.time, args.cpus, args.partition, args.account)
        print(f"SLURM job array: {script}")
        if args.submit:
            sbatch = shutil.which("sbatch")
            if sbatch is None:
                raise RuntimeError("sbatch not found on PATH (submit sweep.slurm on the cluster)")
            out = subprocess.run([sbatch, str(script)], capture_output=True, text=True)
            print(out.stdout.strip() or out.stderr.strip())
            return out.returncode
        return 0
    if args.dry_run:
        return 0
    status = run_sweep(sweep, args.jobs)
    print(f"collected: {collect(sweep)}")
    bad = [k for k, v in status.items() if v in ("error", "step_failed", "max_steps")]
    return 0 if not bad else 1


def add_collect_arguments(parser) -> None:
    parser.add_argument("sweep", help="sweep directory (with sweep.json)")
    parser.add_argument("-o", "--output", help="CSV file (default SWEEP/collect.csv)")


def run_collect(args) -> int:
    print(collect(args.sweep, args.output))
    return 0
