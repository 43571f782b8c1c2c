"""Run one OCC meshing attempt (clean-up + gmsh) in a child process, with a time limit.

gmsh and OpenCASCADE run in-process C++: a crash (segmentation fault, abort), the kernel's
out-of-memory kill or a geometry on which they run for hours would otherwise take the
caller's process, and with it the fallback to the voxel route, down. Here the attempt is a
separate ``python -m ssbfv.mesh.occ_worker JOB_DIR`` process (a fresh interpreter: no
fork of a process that holds threads, and no re-import of the caller's script):

- the job directory holds ``input.npz`` (spheres, box; m) and ``input.json`` (names,
  element size, clearance, options for ``mesh_spheres_occ``);
- the child writes ``result.json`` (write-then-rename): the clean-up and meshing details
  and its peak resident memory, or the error it met (type and message);
- while it works, the child keeps ``stage.json`` (write-then-rename) up to date: the stage
  it is in (clean-up, volume restoration, final clean-up, add spheres and fragment per
  slab, import, ..., 3D meshing per slab) and when each began, so that progress lines,
  time-limit and crash messages say where the time went;
- the parent waits at most ``time_limit_s``, then kills the child; a child that dies
  without a result (signal, exit code) is reported with the tail of its output.

Either way the failure is an ``OccMeshError`` and the caller goes on with the next route;
the mesh file is only ever written by rename (``mesh_spheres_occ``), so a killed attempt
leaves no partial mesh behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..memory import peak_rss_mb
from .occ import OccMeshError


def _write_json(path, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class StageLog:
    """Stages of an attempt and when each began [s since the log was made]; written to
    ``path`` (JSON, write-then-rename) at every new stage when a path is given."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.t0 = time.perf_counter()
        self.stages: list[list] = []

    def __call__(self, name: str) -> None:
        self.stages.append([name, round(time.perf_counter() - self.t0, 2)])
        if self.path is not None:
            _write_json(self.path, {"stages": self.stages})


def read_stages(path: str) -> list:
    """[[stage, start s], ...] from a ``stage.json`` (empty if there is none yet)."""
    try:
        with open(path) as f:
            return json.load(f)["stages"]
    except (OSError, ValueError, KeyError):
        return []


def describe_stages(stages: list) -> str:
    """"in stage 'X' (begun at N s; before: a 1.0 s, b 2.0 s)" from [[stage, start s], ...]
    (times of the child; "" when no stage was recorded)."""
    if not stages:
        return ""
    name, start = stages[-1]
    done = ", ".join(f"{a} {tb - ta:.1f} s" for (a, ta), (_, tb) in zip(stages[:-1], stages[1:]))
    return f"in stage '{name}' (begun at {start:.0f} s" + (f"; before: {done})" if done else ")")


def attempt(job: dict, arrays: dict, stage=None) -> dict:
    """The attempt itself (in whatever process calls it), in four steps; returns the route
    details recorded in the mesh report.

    0. the slab planes (:func:`slab_count` slabs, one per ``occ_options['spheres_per_slab']``
       spheres, default :data:`SPHERES_PER_SLAB`; ``cleanup.slab_planes`` places them),
       which the clean-ups keep clear like the separator plane;
    1. clean-up at ``clearance`` [m] of the spheres with faceting-compensated radii
       (``occ.compensated_radii``: r + a^2 / (8 r), a = min(h, 2 pi r / curvature_points)),
       so that the clearances hold with a margin for the radii meshed below;
    2. volume restoration (``cleanup.restore_volumes``): one radius factor per species that
       gives the cleaned spheres the share of the cathode they had before the clean-up
       (its moves bury spheres deeper in each other: 5-10 % of the filler volume on the
       54 % NVP / 59 % filler packings);
    3. a final clean-up at ``clearance / 2`` with the restored radii: the restoration
       changes the radii the first clean-up checked (filler by 3-6 %), which brings
       configurations back within the clearance (seed 2 of the reference cell: 1635 at
       the clearance, 15 at half of it, 2 at a fifth); this pass moves the few spheres
       concerned by ~0.1 um and leaves the shares unchanged to ~2e-4 (the reference cell's
       periodic surface mismatch remains: docs/meshing.md);
    4. ``mesh_spheres_occ`` of the cleaned centres with the restored radii into
       ``job['path']``.

    The restored radii are not faceting-compensated unless ``job['faceting_compensation']``:
    that estimate assumes surface edges of min(h, 2 pi r / curvature_points), while in
    packings the intersection curves make them about half as long, and the compensation
    then overshoots (benchmarks/RESULTS.md); without it the triangulated surfaces lie inside
    the spheres and the mesh's fractions are slightly below the packing's.

    ``stage``: optional callable, called with the name of each stage as it begins."""
    from .cleanup import clean_spheres, restore_volumes, slab_planes
    from .occ import compensated_radii, mesh_spheres_occ

    opts = dict(job.get("occ_options") or {})
    h = float(job["h"])
    sep = float(job["separator_thickness"])
    box = np.asarray(arrays["box"], dtype=np.float64)
    species = np.asarray(arrays["species"])
    r = np.asarray(arrays["radii"], dtype=np.float64)
    curvature_points = opts.get("curvature_points", 12)
    n_slabs = slab_count(len(r), box[0] - sep, 2.0 * r.max(initial=0.0),
                         opts.pop("spheres_per_slab", SPHERES_PER_SLAB))
    planes = slab_planes(arrays["centres"], compensated_radii(r, h, curvature_points), box, sep, n_slabs)
    stage = stage or (lambda name: None)
    stage("clean-up")
    c, cleanup = clean_spheres(arrays["centres"], compensated_radii(r, h, curvature_points), species, box, sep,
                               float(job["clearance"]), x_planes=planes)
    stage("volume restoration")
    radii, restoration = restore_volumes(c, r, species, len(job["species_names"]), (sep, box[0]), box[1:],
                                         arrays["centres"], voxel=float(job.get("measure_voxel", 0.25e-6)))
    if job.get("faceting_compensation", False):
        radii = compensated_radii(radii, h, curvature_points)
    stage("final clean-up")
    c, final = clean_spheres(c, radii, species, box, sep, 0.5 * float(job["clearance"]), x_planes=planes,
                             max_rounds=FINAL_CLEANUP_ROUNDS)
    res = mesh_spheres_occ(job["path"], c, radii, species, tuple(job["species_names"]), box, sep, h,
                           preserve_volume=False, slab_planes=planes, stage=stage, **opts)
    return {"cleanup": cleanup.__dict__, "volume_restoration": restoration.__dict__,
            "final_cleanup": final.__dict__,
            "occ": {"tets": res.n_tets, "times": res.times, "periodic_refinement": res.periodic_refinement,
                    "pole_clearance_m": res.pole_clearance, "slab_planes_m": list(planes)}}


SPHERES_PER_SLAB = 400
# the final clean-up moves few spheres by little, but the rules can trade a violation back
# and forth for a while (seed 4 of the reference cell with 4 slab planes: 259 rounds)
FINAL_CLEANUP_ROUNDS = 1000


def slab_count(n_spheres: int, cathode_thickness: float, max_diameter: float, spheres_per_slab) -> int:
    """Number of slabs the OCC route cuts the cathode into: one per ``spheres_per_slab``
    spheres (rounded up; None or 0: one slab), but no slab thinner than two of the largest
    diameters (lengths in any one unit)."""
    if not spheres_per_slab:
        return 1
    if spheres_per_slab < 0:
        raise ValueError(f"spheres_per_slab must be positive, got {spheres_per_slab}")
    n = int(np.ceil(n_spheres / float(spheres_per_slab)))
    thickest = int(cathode_thickness // (2.0 * max_diameter)) if max_diameter > 0 else n
    return max(1, min(n, thickest))


def _rss_mb(pid: int) -> float | None:
    """Resident memory [MB] of process ``pid`` from /proc (None where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_isolated(job: dict, arrays: dict, time_limit_s: float | None = None, progress=None,
                 progress_interval_s: float = 60.0, memory_limit_mb: float | None = None,
                 memory_poll_s: float = 0.2) -> dict:
    """Run :func:`attempt` in a child process; return its details (plus ``peak_rss_mb`` and
    ``wall_s`` of the child) or raise OccMeshError for a failure, a crash or the time limit.

    job : JSON-serialisable inputs (``path``, ``h`` [m], ``clearance`` [m],
        ``separator_thickness`` [m], ``species_names``, ``occ_options``, optional
        ``measure_voxel`` [m] for the volume restoration, ``faceting_compensation``)
    arrays : ``centres`` (n, 3), ``radii`` (n,), ``species`` (n,), ``box`` (3,) [m]
    time_limit_s : wall-clock limit [s] for the child (None: no limit)
    progress : called with the elapsed seconds and the child's stage (text from
        :func:`describe_stages`, "" before the first) every ``progress_interval_s`` while the
        child runs (a long attempt is not silent)
    memory_limit_mb : resident memory [MB] at which the child is stopped (read from /proc
        every ``memory_poll_s``; None: no limit). OpenCASCADE's fragment of one packing
        (357 NVP spheres, benchmarks/RESULTS.md) grew to 23 GB and took the machine's memory
        with it; the limit turns that into a failed route.
    """
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0 (or None), got {time_limit_s}")
    if memory_limit_mb is not None and not memory_limit_mb > 0:
        raise ValueError(f"memory_limit_mb must be > 0 (or None), got {memory_limit_mb}")
    with tempfile.TemporaryDirectory(prefix="ssbfv_occ_") as d:
        np.savez(os.path.join(d, "input.npz"), **{k: np.asarray(v) for k, v in arrays.items()})
        _write_json(os.path.join(d, "input.json"), job)
        log_path = os.path.join(d, "output.log")
        stage_path = os.path.join(d, "stage.json")
        t0 = time.perf_counter()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "ssbfv.mesh.occ_worker", d], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            last_progress = 0.0
            try:
                while True:
                    elapsed = time.perf_counter() - t0
                    wait = progress_interval_s if progress is not None else None
                    if time_limit_s is not None:
                        left = time_limit_s - elapsed
                        if left <= 0:
                            proc.kill()
                            proc.wait()
                            where = describe_stages(read_stages(stage_path))
                            raise OccMeshError(f"time limit: the OCC attempt was stopped after {time_limit_s:g} s"
                                               + (f", {where}" if where else ""))
                        wait = left if wait is None else min(wait, left)
                    if memory_limit_mb is not None:
                        wait = memory_poll_s if wait is None else min(wait, memory_poll_s)
                    try:
                        proc.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        now = time.perf_counter() - t0
                        rss = _rss_mb(proc.pid) if memory_limit_mb is not None else None
                        if rss is not None and rss > memory_limit_mb:
                            proc.kill()
                            proc.wait()
                            where = describe_stages(read_stages(stage_path))
                            raise OccMeshError(f"memory limit: the OCC attempt was stopped at {rss:.0f} MB resident "
                                               f"(limit {memory_limit_mb:.0f} MB) after {now:.0f} s"
                                               + (f", {where}" if where else ""))
                        if progress is not None and (time_limit_s is None or now < time_limit_s) and \
                                now - last_progress >= progress_interval_s:
                            last_progress = now
                            progress(now, describe_stages(read_stages(stage_path)))
            except BaseException:  # KeyboardInterrupt, SystemExit: never leave gmsh running
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                raise
        wall = time.perf_counter() - t0
        result_path = os.path.join(d, "result.json")
        if not os.path.isfile(result_path):
            with open(log_path, "rb") as f:
                tail = f.read()[-2000:].decode("utf-8", "replace").strip()
            rc = proc.returncode
            how = (f"was killed by signal {-rc} ({signal.Signals(-rc).name})" if rc < 0
                   else f"exited with code {rc}")
            hint = " (the kernel's out-of-memory killer sends SIGKILL)" if rc == -signal.SIGKILL else ""
            where = describe_stages(read_stages(stage_path))
            where = f", {where}" if where else ""
            raise OccMeshError(f"the OCC meshing process {how}{hint} without a result{where}; its last output:\n{tail}")
        with open(result_path) as f:
            result = json.load(f)
        stages = read_stages(stage_path)
    if "error" in result:
        where = describe_stages(stages)
        raise OccMeshError(result["error"] + (f" ({where})" if where else ""))
    details = result["details"]
    details["stages"] = stages
    details["process"] = {"peak_rss_mb": result.get("peak_rss_mb"), "wall_s": wall}
    return details


def main(job_dir: str) -> int:
    with open(os.path.join(job_dir, "input.json")) as f:
        job = json.load(f)
    with np.load(os.path.join(job_dir, "input.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    out = os.path.join(job_dir, "result.json")
    # scratch files (the slabs' BREP files) go into the job directory, which the parent
    # removes even when it has to kill this process
    tempfile.tempdir = job_dir
    try:
        details = attempt(job, arrays, stage=StageLog(os.path.join(job_dir, "stage.json")))
    except (OccMeshError, ValueError, RuntimeError) as exc:
        _write_json(out, {"error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, OccMeshError) else str(exc),
                          "peak_rss_mb": peak_rss_mb()})
        return 2
    _write_json(out, {"details": details, "peak_rss_mb": peak_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
