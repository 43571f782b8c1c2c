"""OpenFOAM reference runner: steady Laplace problem with laplacianFoam on a gmsh mesh.

Used by the benchmarks to compare ssbfv against OpenFOAM on the *same* mesh.  The module
depends only on numpy/scipy and on the OpenFOAM executables (no dependency on ssbfv).

Environment
-----------
Debian/Ubuntu's ``openfoam`` package (v1912 on Debian 12) installs the binaries in /usr/bin
and the libraries in /usr/lib, so nothing has to be sourced; the executables only need
``WM_PROJECT_DIR=/usr/share/openfoam`` to find ``etc/controlDict`` (without it every
OpenFOAM program aborts with "Could not find mandatory etc entry 'controlDict'").
Sourcing ``/usr/share/openfoam/etc/bashrc`` is not needed and on Debian it even prints
errors (it looks for bin/foamEtcFile, which the package does not ship).  For other
installations (ESI packages under /usr/lib/openfoam/openfoamXXXX, /opt, the
Foundation's /opt/openfoamNN, ...) whose binaries are not on PATH, ``etc/bashrc`` is
sourced in a bash subprocess and the resulting environment is used.  All of this is done
here through the ``env`` of ``subprocess``; callers need nothing.

What is solved
--------------
``laplacianFoam`` (div(DT grad T) = 0 with ``ddtSchemes default steadyState``, one time
step 0 -> 1, so a single steady solve with ``nNonOrthogonalCorrectors`` explicit
non-orthogonal correction passes, i.e. ``n_non_orth_correctors + 1`` linear solves),
``laplacianSchemes default Gauss linear corrected`` (over-relaxed decomposition:
deltaCoeff = 1/(n.d), k = n - d/(n.d)), gradient scheme for the correction
``leastSquares`` by default (same as ssbfv), PCG preconditioned by GAMG, tolerance 0 and
``relTol = rel_tol``.  NB: OpenFOAM's residual is the *normalised L1* residual
sum|b - Ax| / normFactor, not an L2 norm, so relTol is not the same number as a
relative L2 tolerance.

Timing
------
``profiling { active true; }`` in controlDict makes OpenFOAM write
``<time>/uniform/profiling`` with wall-clock totals per instrumented scope.
``solve_time_s`` is the total of ``fvMatrix::solve.T`` (all linear solves of the step,
including construction of the solver/preconditioner and the GAMG agglomeration, excluding
the matrix assembly); ``linear_solver_time_s`` is the nested ``lduMatrix::solver.T``.
If profiling output is missing, ``solve_time_s`` falls back to the ExecutionTime printed
after the time step (CPU time including start-up) and ``solve_time_source`` says so.

Cell order
----------
gmshToFoam (v1912) appends cells in the order of the 3-D elements in the .msh file, so
OpenFOAM cell i is the i-th volume element; this is verified on every call by matching
OpenFOAM's cell centres against the element centroids computed from the .msh
(cKDTree), and if the match is not the identity the returned arrays are permuted
accordingly (``cell_order`` reports "identity" or "permuted").
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

__all__ = [
    "openfoam_available",
    "openfoam_env",
    "match_cells",
    "read_msh2_volume_elements",
    "solve_laplace_openfoam",
]

_REQUIRED = ("laplacianFoam", "gmshToFoam", "postProcess")

# gmsh element type -> number of nodes, for linear 3-D elements (tet, hex, prism, pyramid)
_VOLUME_TYPES = {4: 4, 5: 8, 6: 6, 7: 5}
# gmsh element type -> number of nodes (all types gmshToFoam could meet, first/second order)
_NODES_PER_TYPE = {
    1: 2, 2: 3, 3: 4, 4: 4, 5: 8, 6: 6, 7: 5, 8: 3, 9: 6, 10: 9, 11: 10, 12: 27,
    13: 18, 14: 14, 15: 1, 16: 8, 17: 20, 18: 15, 19: 13,
}


# --------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------

def _runs(env: dict, exe: str = "laplacianFoam") -> bool:
    """True when `exe -help` runs successfully in env (inside a scratch cwd)."""
    path = shutil.which(exe, path=env.get("PATH"))
    if path is None:
        return False
    try:
        r = subprocess.run([path, "-help"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60,
                           cwd=env.get("TMPDIR", "/tmp"))
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and "FATAL" not in r.stdout


def _project_dir_candidates() -> list[str]:
    cands = []
    if os.environ.get("WM_PROJECT_DIR"):
        cands.append(os.environ["WM_PROJECT_DIR"])
    cands += ["/usr/share/openfoam"]
    for pat in ("/usr/lib/openfoam/openfoam*", "/opt/openfoam*", "/opt/OpenFOAM*",
                "/usr/lib/openfoam*", os.path.expanduser("~/OpenFOAM/OpenFOAM-*")):
        cands += sorted(glob.glob(pat), reverse=True)
    return [c for c in dict.fromkeys(cands) if os.path.isfile(os.path.join(c, "etc", "controlDict"))]


def _sourced_env(bashrc: str, base: dict) -> dict | None:
    """Environment after sourcing an OpenFOAM etc/bashrc in a bash subprocess."""
    try:
        r = subprocess.run(["bash", "-c", f'. "{bashrc}" >/dev/null 2>&1; env -0'],
                           env=base, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    env = {}
    for item in r.stdout.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


@functools.lru_cache(maxsize=1)
def _find_env() -> tuple[tuple[str, str], ...] | None:
    base = dict(os.environ)
    base.setdefault("OMP_NUM_THREADS", "1")
    # 1. binaries already usable as they are (a sourced shell, or a working install)
    if all(shutil.which(e, path=base.get("PATH")) for e in _REQUIRED) and _runs(base):
        return tuple(base.items())
    cands = _project_dir_candidates()
    # 2. binaries on PATH (Debian/Ubuntu package): they only need WM_PROJECT_DIR
    if all(shutil.which(e, path=base.get("PATH")) for e in _REQUIRED):
        for d in cands:
            env = dict(base, WM_PROJECT_DIR=d)
            if _runs(env):
                return tuple(env.items())
    # 3. source etc/bashrc of an installation (ESI/Foundation packages, source builds)
    for d in cands:
        bashrc = os.path.join(d, "etc", "bashrc")
        if not os.path.isfile(bashrc):
            continue
        env = _sourced_env(bashrc, base)
        if env and all(shutil.which(e, path=env.get("PATH")) for e in _REQUIRED) and _runs(env):
            env.setdefault("OMP_NUM_THREADS", "1")
            return tuple(env.items())
    return None


def openfoam_env() -> dict:
    """The environment (a fresh dict) under which the OpenFOAM executables run.

    Raises RuntimeError when no usable OpenFOAM installation was found."""
    env = _find_env()
    if env is None:
        raise RuntimeError(
            "OpenFOAM (laplacianFoam, gmshToFoam, postProcess) not found or not runnable; "
            "on Debian/Ubuntu: apt-get install openfoam")
    return dict(env)


def openfoam_available() -> bool:
    """True when laplacianFoam and gmshToFoam (and postProcess) can be run."""
    try:
        return _find_env() is not None
    except Exception:  # never let a probe crash a benchmark
        return False


# --------------------------------------------------------------------------------------
# gmsh .msh (format 2.2 ASCII) reading
# --------------------------------------------------------------------------------------

def _section(text: str, name: str) -> str:
    i = text.find(f"${name}")
    if i < 0:
        raise ValueError(f"no ${name} section in the .msh file")
    i = text.index("\n", i) + 1
    j = text.index(f"$End{name}", i)
    return text[i:j]


def _line_tokens(block: str):
    """All whitespace tokens of block (int64) and, per non-empty line, its first token
    index and token count (vectorised: no Python loop over lines)."""
    raw = np.frombuffer(block.encode("ascii"), dtype=np.uint8)
    ws = (raw == 32) | (raw == 9) | (raw == 10) | (raw == 13)
    prev_ws = np.empty_like(ws)
    prev_ws[0] = True
    prev_ws[1:] = ws[:-1]
    tok_pos = np.flatnonzero(~ws & prev_ws)            # byte offset of each token start
    line_start = np.concatenate(([0], np.flatnonzero(raw == 10) + 1))
    first = np.searchsorted(tok_pos, line_start)       # first token at/after line start
    count = np.diff(np.append(first, tok_pos.size))
    keep = count > 0
    tokens = np.array(block.split(), dtype=np.int64)
    assert tokens.size == tok_pos.size
    return tokens, first[keep], count[keep]


def read_msh2_volume_elements(msh_path):
    """Read a gmsh ASCII 2.x file.

    Returns (points [n_nodes,3], cells) where cells is a list of
    (gmsh_type, connectivity as 0-based point indices, position in the sequence of volume
    elements) and a dict with 'centroids' [n_vol,3] (vertex averages) and
    'physical_names' {(dim, tag): name} -- all in the order of the volume elements in
    the file, which is the order of the returned arrays of solve_laplace_openfoam."""
    raw = Path(msh_path).read_bytes()
    i = raw.find(b"$MeshFormat")
    if i < 0:
        raise ValueError(f"{msh_path}: not a gmsh .msh file (no $MeshFormat)")
    fmt = raw[i:i + 200].split(b"\n")[1].decode("ascii", errors="replace").split()
    version, ftype = fmt[0], int(fmt[1])
    if not version.startswith("2") or ftype != 0:
        raise ValueError(f"{msh_path}: need gmsh ASCII format 2.x (got version {version}, "
                         f"{'binary' if ftype else 'ascii'}); write with "
                         "Mesh.MshFileVersion=2.2 and Mesh.Binary=0")
    text = raw.decode("ascii")
    names = {}
    if "$PhysicalNames" in text:
        for line in _section(text, "PhysicalNames").splitlines()[1:]:
            parts = line.split(None, 2)
            if len(parts) == 3:
                names[(int(parts[0]), int(parts[1]))] = parts[2].strip().strip('"')
    # nodes: "N" then "id x y z" lines
    nblock = _section(text, "Nodes")
    head, _, body = nblock.partition("\n")
    n_nodes = int(head)
    nd = np.array(body.split(), dtype=np.float64).reshape(n_nodes, 4)
    node_ids = nd[:, 0].astype(np.int64)
    points = nd[:, 1:4].copy()
    id_to_idx = np.full(node_ids.max() + 1, -1, dtype=np.int64)
    id_to_idx[node_ids] = np.arange(n_nodes)
    # elements: "N" then "id type ntags tag... node..." lines of varying length
    tokens, first, count = _line_tokens(_section(text, "Elements"))
    first, count = first[1:], count[1:]                 # drop the count line
    etype = tokens[first + 1]
    ntags = tokens[first + 2]
    bad = [int(t) for t in np.unique(etype) if int(t) not in _NODES_PER_TYPE]
    if bad:
        raise ValueError(f"unsupported gmsh element types {bad}")
    is_vol = np.isin(etype, list(_VOLUME_TYPES))
    higher = np.isin(etype, [11, 12, 13, 14, 17, 18, 19])
    if higher.any():
        raise ValueError("second-order volume elements are not supported by gmshToFoam")
    vol_rows = np.flatnonzero(is_vol)
    if vol_rows.size == 0:
        raise ValueError(f"{msh_path}: no 3-D elements")
    cells = []
    centroids = np.empty((vol_rows.size, 3))
    for t, nn in _VOLUME_TYPES.items():
        sel = np.flatnonzero(etype[vol_rows] == t)       # positions among volume elements
        if sel.size == 0:
            continue
        rows = vol_rows[sel]
        if np.any(count[rows] != 3 + ntags[rows] + nn):
            raise ValueError(f"malformed element lines of type {t}")
        start = first[rows] + 3 + ntags[rows]
        conn = id_to_idx[tokens[start[:, None] + np.arange(nn)[None, :]]]
        if np.any(conn < 0):
            raise ValueError("element refers to an undefined node")
        cells.append((t, conn, sel))
        centroids[sel] = points[conn].mean(axis=1)
    return points, cells, {"centroids": centroids, "physical_names": names}


# --------------------------------------------------------------------------------------
# OpenFOAM case files
# --------------------------------------------------------------------------------------

_HEADER = """FoamFile
{{
    version     2.0;
    format      ascii;
    class       {cls};
    location    "{loc}";
    object      {obj};
}}
"""


def _write(path: Path, cls: str, obj: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    loc = path.parent.name
    path.write_text(_HEADER.format(cls=cls, loc=loc, obj=obj) + body)


def _fmt(x: float) -> str:
    return repr(float(x))


def _dict_entries(d: dict, indent: str) -> str:
    return "".join(f"{indent}{k} {v};\n" for k, v in d.items())


def _write_case_dicts(case: Path, *, conductivity, rel_tol, tolerance, max_iter,
                      n_non_orth_correctors, grad_scheme, smoother, precond_options,
                      profiling=True):
    _write(case / "system" / "controlDict", "dictionary", "controlDict", f"""
application     laplacianFoam;
startFrom       startTime;
startTime       0;
stopAt          endTime;
endTime         1;
deltaT          1;
writeControl    timeStep;
writeInterval   1;
purgeWrite      0;
writeFormat     ascii;
writePrecision  17;
writeCompression off;
timeFormat      general;
timePrecision   6;
runTimeModifiable false;

profiling
{{
    active      {"true" if profiling else "false"};
    cpuInfo     false;
    memInfo     false;
    sysInfo     false;
}}
""")
    _write(case / "system" / "fvSchemes", "dictionary", "fvSchemes", f"""
ddtSchemes           {{ default steadyState; }}
gradSchemes          {{ default {grad_scheme}; }}
divSchemes           {{ default none; }}
laplacianSchemes     {{ default Gauss linear corrected; }}
interpolationSchemes {{ default linear; }}
snGradSchemes        {{ default corrected; }}
""")
    pre = {"preconditioner": "GAMG", "smoother": smoother, "tolerance": 0, "relTol": 0}
    pre.update(precond_options or {})
    _write(case / "system" / "fvSolution", "dictionary", "fvSolution", f"""
solvers
{{
    "(T|TFinal)"
    {{
        solver          PCG;
        preconditioner
        {{
{_dict_entries(pre, " " * 12)}        }}
        tolerance       {_fmt(tolerance)};
        relTol          {_fmt(rel_tol)};
        maxIter         {int(max_iter)};
    }}
}}

SIMPLE
{{
    nNonOrthogonalCorrectors {int(n_non_orth_correctors)};
}}
""")
    _write(case / "constant" / "transportProperties", "dictionary", "transportProperties",
           f"\nDT              DT [0 2 -1 0 0 0 0] {_fmt(conductivity)};\n")


def _read_boundary(case: Path) -> dict:
    """{patch name: (type, nFaces)} from constant/polyMesh/boundary."""
    txt = (case / "constant" / "polyMesh" / "boundary").read_text()
    txt = re.sub(r"//.*", "", txt)
    txt = txt[txt.index("}", txt.index("FoamFile")) + 1:]   # skip header dict
    out = {}
    for m in re.finditer(r"([A-Za-z_][\w.:-]*)\s*\{([^{}]*)\}", txt):
        body = m.group(2)
        t = re.search(r"\btype\s+(\w+)\s*;", body)
        n = re.search(r"\bnFaces\s+(\d+)\s*;", body)
        out[m.group(1)] = (t.group(1) if t else "patch", int(n.group(1)) if n else -1)
    return out


_CONSTRAINT_TYPES = {"empty", "wedge", "symmetryPlane", "symmetry", "cyclic", "cyclicAMI",
                     "processor"}


def _write_T(case: Path, patches: dict, fixed: dict, initial_value: float = 0.0) -> None:
    entries = []
    for name, (ptype, _) in patches.items():
        if name in fixed:
            entries.append(f"    {name}\n    {{\n        type            fixedValue;\n"
                           f"        value           uniform {_fmt(fixed[name])};\n    }}\n")
        elif ptype in _CONSTRAINT_TYPES:
            entries.append(f"    {name}\n    {{\n        type            {ptype};\n    }}\n")
        else:
            entries.append(f"    {name}\n    {{\n        type            zeroGradient;\n    }}\n")
    _write(case / "0" / "T", "volScalarField", "T",
           "\ndimensions      [0 0 0 1 0 0 0];\n\n"
           f"internalField   uniform {_fmt(initial_value)};\n\n"
           "boundaryField\n{\n" + "".join(entries) + "}\n")


def _read_internal_field(path: Path, n_cells: int, ncomp: int) -> np.ndarray:
    txt = path.read_text()
    i = txt.index("internalField")
    kind = txt[i:i + 200].split()[1]
    if kind == "uniform":
        val = txt[i:txt.index(";", i)].split("uniform", 1)[1]
        val = np.array(val.replace("(", " ").replace(")", " ").split(), dtype=np.float64)
        out = np.tile(val, (n_cells, 1))
        return out[:, 0] if ncomp == 1 else out
    j = txt.index("(", i)
    n = int(txt[txt.index(">", i) + 1:j].split()[-1])
    k = txt.index("\n)", j)
    vals = np.array(txt[j + 1:k].replace("(", " ").replace(")", " ").split(), dtype=np.float64)
    if n != n_cells or vals.size != n * ncomp:
        raise ValueError(f"{path}: expected {n_cells} x {ncomp} values, got {n} / {vals.size}")
    return vals if ncomp == 1 else vals.reshape(n, ncomp)


def _read_profiling(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for m in re.finditer(r"trigger\d+\s*\{([^{}]*)\}", path.read_text()):
        d = {}
        for k, v in re.findall(r"(\w+)\s+([^;]+);", m.group(1)):
            v = v.strip()
            if v.startswith('"'):
                d[k] = v.strip('"')
            else:
                try:
                    d[k] = float(v) if any(c in v for c in ".eE") else int(v)
                except ValueError:
                    d[k] = v
        out.append(d)
    return out


def _latest_time_dir(case: Path) -> Path:
    best, best_t = None, -np.inf
    for p in case.iterdir():
        try:
            t = float(p.name)
        except ValueError:
            continue
        if p.is_dir() and t > best_t:
            best, best_t = p, t
    if best is None or best_t <= 0:
        raise RuntimeError(f"laplacianFoam wrote no solution time directory in {case}")
    return best


def _run(cmd: list[str], case: Path, log_name: str, env: dict, timeout) -> float:
    """Run cmd with stdout+stderr to case/log_name; returns the wall time."""
    log = case / log_name
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            r = subprocess.run(cmd, cwd=case, env=env, stdout=fh, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"{cmd[0]} timed out after {timeout} s (log: {log})") from e
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    if r.returncode != 0 or "FOAM FATAL" in text:
        tail = "\n".join(text.splitlines()[-30:])
        raise RuntimeError(f"{' '.join(cmd)} failed (rc={r.returncode}); log {log}:\n{tail}")
    return wall


def match_cells(of_centres, msh_centroids):
    """Match OpenFOAM cells to .msh volume elements by centre.

    Returns (dist, perm): dist[i] = distance from element i's centroid to its matched
    OpenFOAM cell centre; perm = None when OpenFOAM cell i is element i, else the index
    array with element i <-> OpenFOAM cell perm[i] (so values_msh = values_of[perm])."""
    from scipy.spatial import cKDTree

    n = msh_centroids.shape[0]
    if of_centres.shape[0] != n:
        raise RuntimeError(f"OpenFOAM has {of_centres.shape[0]} cells, the .msh {n} "
                           "volume elements")
    dist, nearest = cKDTree(of_centres).query(msh_centroids)
    if np.array_equal(nearest, np.arange(n)):
        return dist, None
    if np.unique(nearest).size != n:
        raise RuntimeError("could not match OpenFOAM cells to .msh elements by centroid "
                           "(nearest-centre assignment is not one-to-one)")
    return dist, nearest


# --------------------------------------------------------------------------------------
# main entry point
# --------------------------------------------------------------------------------------

def solve_laplace_openfoam(msh_path, workdir, fixed=None, rel_tol=1e-10, conductivity=1.0,
                           *, n_non_orth_correctors=2, grad_scheme="leastSquares",
                           smoother="GaussSeidel", precond_options=None, tolerance=0.0,
                           max_iter=10000, initial_value=0.0, timeout=None,
                           case_name="openfoam_case") -> dict:
    """Solve div(conductivity grad T) = 0 with laplacianFoam on a gmsh 2.2 ASCII mesh.

    Parameters
    ----------
    msh_path : gmsh ASCII 2.x mesh with named physical surfaces (patch names) and one or
        more physical volumes (cellZones).
    workdir : directory; the case is (re)created in ``workdir/case_name`` and everything
        OpenFOAM writes stays there.
    fixed : {patch name: value} Dirichlet patches; every other patch is zeroGradient.
    rel_tol, tolerance, max_iter : PCG controls (OpenFOAM normalised L1 residual).
    conductivity : DT (uniform).
    n_non_orth_correctors : SIMPLE nNonOrthogonalCorrectors (linear solves = this + 1).
    grad_scheme : gradSchemes default used by the non-orthogonal correction
        ("leastSquares" like ssbfv; "Gauss linear" is OpenFOAM's usual default).
    smoother, precond_options : GAMG preconditioner smoother / extra entries
        (e.g. {"nVcycles": 2, "nCellsInCoarsestLevel": 10}).
    initial_value : uniform initial T.  It matters: the explicit non-orthogonal correction
        of the first pass uses the gradient of this initial field, so with few
        correctors the result depends on it.
    timeout : seconds per OpenFOAM process (None: no limit).
    case_name : sub-directory of workdir holding the case (deleted and recreated).

    Returns a dict with
        solve_time_s        wall time of all linear solves (profiling: fvMatrix::solve.T)
        linear_solver_time_s  profiling lduMatrix::solver.T (solver proper)
        solve_time_source   "profiling" or "ExecutionTime" (fallback)
        total_time_s        wall time of the laplacianFoam process
        execution_time_s    ExecutionTime (CPU s) printed by laplacianFoam after the step
        gmshToFoam_time_s   wall time of gmshToFoam
        iterations          PCG iteration counts, one per linear solve
        initial_residuals, final_residuals
        values              T per cell in .msh volume-element order
        cell_centres        OpenFOAM cell centres in the same order
        msh_centroids       vertex-average centroids from the .msh (same order)
        cell_order          "identity" if OpenFOAM cell i == i-th .msh volume element
        n_cells, patches, case_dir, profiling (raw triggers)
    """
    if fixed is None:
        fixed = {"xmin": 0.0, "xmax": 1.0}
    env = openfoam_env()
    msh_path = Path(msh_path).resolve()
    workdir = Path(workdir).resolve()
    case = workdir / case_name
    if case.exists():
        shutil.rmtree(case)
    case.mkdir(parents=True)

    # the .msh is parsed first: fails early on an unsupported format, and gives centroids
    _, _, mshinfo = read_msh2_volume_elements(msh_path)
    centroids = mshinfo["centroids"]
    n_cells = centroids.shape[0]

    _write_case_dicts(case, conductivity=conductivity, rel_tol=rel_tol, tolerance=tolerance,
                      max_iter=max_iter, n_non_orth_correctors=n_non_orth_correctors,
                      grad_scheme=grad_scheme, smoother=smoother,
                      precond_options=precond_options)
    t_g2f = _run(["gmshToFoam", "-case", str(case), str(msh_path)], case,
                 "log.gmshToFoam", env, timeout)

    patches = _read_boundary(case)
    missing = sorted(set(fixed) - set(patches))
    if missing:
        raise ValueError(f"fixed patches {missing} not in the mesh; patches: {sorted(patches)}")
    _write_T(case, patches, fixed, initial_value)

    t_lap = _run(["laplacianFoam", "-case", str(case)], case, "log.laplacianFoam", env, timeout)
    t_pp = _run(["postProcess", "-case", str(case), "-func", "writeCellCentres", "-time", "0"],
                case, "log.writeCellCentres", env, timeout)

    # ---- log
    log = (case / "log.laplacianFoam").read_text(errors="replace")
    solves = re.findall(r"Solving for T, Initial residual = (\S+), Final residual = (\S+), "
                        r"No Iterations (\d+)", log)
    if not solves:
        raise RuntimeError(f"no linear solve found in {case / 'log.laplacianFoam'}")
    iterations = [int(s[2]) for s in solves]
    exec_times = re.findall(r"ExecutionTime = (\S+) s", log)
    execution_time = float(exec_times[-1]) if exec_times else float("nan")

    # ---- profiling
    tdir = _latest_time_dir(case)
    prof = _read_profiling(tdir / "uniform" / "profiling")
    by_id = {p.get("id"): p for p in prof}
    solve_ids = [p["id"] for p in prof if p.get("description") == "fvMatrix::solve.T"]
    if solve_ids:
        solve_time = float(sum(by_id[i]["totalTime"] for i in solve_ids))
        lin = [p for p in prof if p.get("description") == "lduMatrix::solver.T"
               and p.get("parentId") in solve_ids]
        linear_time = float(sum(p["totalTime"] for p in lin)) if lin else float("nan")
        source = "profiling"
    else:
        solve_time, linear_time, source = execution_time, float("nan"), "ExecutionTime"

    # ---- fields, and the OpenFOAM-cell -> msh-element correspondence
    T = _read_internal_field(tdir / "T", n_cells, 1)
    C = _read_internal_field(case / "0" / "C", n_cells, 3)
    dist, perm = match_cells(C, centroids)
    order = "identity" if perm is None else "permuted"
    values = T if perm is None else T[perm]
    centres = C if perm is None else C[perm]

    return {
        "solve_time_s": solve_time,
        "linear_solver_time_s": linear_time,
        "solve_time_source": source,
        "total_time_s": t_lap,
        "execution_time_s": execution_time,
        "gmshToFoam_time_s": t_g2f,
        "writeCellCentres_time_s": t_pp,
        "iterations": iterations,
        "initial_residuals": [float(s[0]) for s in solves],
        "final_residuals": [float(s[1]) for s in solves],
        "values": values,
        "cell_centres": centres,
        "msh_centroids": centroids,
        "centroid_max_dev": float(dist.max()),
        "cell_order": order,
        "permutation": perm,
        "n_cells": n_cells,
        "patches": patches,
        "case_dir": str(case),
        "profiling": prof,
    }
