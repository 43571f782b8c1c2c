"""Checkpoints of a galvanostatic run: everything needed to continue it exactly.

``CASE/results/checkpoint.h5`` (h5py) holds, for the last accepted step:

- the :class:`~ssbfv.solver.coupling.HalfCellState` arrays (c_s [mol/m^3], the solid
  potential as level [V] + deviations [V], c_e [mol/m^3], psi_e [V], their gradients and
  boundary values, the interface current i_if [A/m^2]) and the time t [s];
- every accepted :class:`~ssbfv.solver.galvanostatic.StepRecord` so far (the time series is
  rewritten from them on resume, so rows written after the checkpoint are dropped);
- the step size the run would try next [s], the count of failed steps, the guard counters
  and the wall time spent so far [s];
- a fingerprint of the case (hash of case.toml, cell counts) so that a checkpoint is never
  applied to a different case or mesh.

The file is written to ``checkpoint.h5.tmp``, flushed and fsync'ed, then renamed over the old
one: a process killed at any moment leaves either the previous or the new checkpoint, never a
torn one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or belongs to another case."""


def case_fingerprint(case_file: Path, n_cells: int, n_solid: int, n_electrolyte: int) -> str:
    """sha1 of case.toml's bytes and the mesh's cell counts."""
    h = hashlib.sha1(Path(case_file).read_bytes())
    h.update(f"{n_cells}/{n_solid}/{n_electrolyte}".encode())
    return h.hexdigest()


def save_checkpoint(path: Path, state, records, next_dt: float, failed_steps: int, guards: dict,
                    wall_s: float, fingerprint: str, extra: dict | None = None) -> None:
    """Write the checkpoint atomically (see the module docstring). ``extra``: a JSON-able dict
    of the caller's own (e.g. the time of the last field snapshot, the end reason of a
    finished run)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["fingerprint"] = fingerprint
        f.attrs["next_dt_s"] = float(next_dt)
        f.attrs["failed_steps"] = int(failed_steps)
        f.attrs["wall_s"] = float(wall_s)
        f.attrs["guards"] = json.dumps({k: int(v) for k, v in guards.items()})
        f.attrs["extra"] = json.dumps(extra or {})
        g = f.create_group("state")
        for fld in dataclasses.fields(state):
            v = getattr(state, fld.name)
            if isinstance(v, np.ndarray):
                g.create_dataset(fld.name, data=v)
            else:
                g.attrs[fld.name] = float(v)
        r = f.create_group("records")
        names = [fld.name for fld in dataclasses.fields(records[0])] if records else []
        for name in names:
            r.create_dataset(name, data=np.array([getattr(rec, name) for rec in records]))
        f.flush()
        os.fsync(f.id.get_vfd_handle())
    os.replace(tmp, path)


def load_checkpoint(path: Path, fingerprint: str | None = None) -> dict:
    """Read a checkpoint: {"state": HalfCellState, "records": [StepRecord], "next_dt": float,
    "failed_steps": int, "guards": dict, "wall_s": float, "extra": dict}. Raises CheckpointError if the file is
    missing or unreadable, or if ``fingerprint`` is given and differs (another case or mesh)."""
    from ..solver.coupling import HalfCellState
    from ..solver.galvanostatic import StepRecord

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from (run the case without --resume)")
    try:
        with h5py.File(path, "r") as f:
            if int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
                raise CheckpointError(f"{path}: checkpoint format {f.attrs.get('format_version')} is not "
                                      f"{FORMAT_VERSION} (written by another ssbfv version)")
            if fingerprint is not None and f.attrs["fingerprint"] != fingerprint:
                raise CheckpointError(f"{path}: the checkpoint belongs to another case.toml or mesh "
                                      "(case.toml changed since it was written); run without --resume")
            g = f["state"]
            kw = {}
            for fld in dataclasses.fields(HalfCellState):
                kw[fld.name] = g[fld.name][()] if fld.name in g else float(g.attrs[fld.name])
            state = HalfCellState(**kw)
            r = f["records"]
            names = [fld.name for fld in dataclasses.fields(StepRecord)]
            cols = {n: r[n][()] for n in names}
            ints = {fld.name for fld in dataclasses.fields(StepRecord) if fld.type in ("int", int)}
            records = [StepRecord(**{n: (int(cols[n][i]) if n in ints else float(cols[n][i])) for n in names})
                       for i in range(len(cols[names[0]]))]
            out = {"state": state, "records": records, "next_dt": float(f.attrs["next_dt_s"]),
                   "failed_steps": int(f.attrs["failed_steps"]), "guards": json.loads(f.attrs["guards"]),
                   "wall_s": float(f.attrs["wall_s"]), "extra": json.loads(f.attrs.get("extra", "{}"))}
    except (OSError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from None
    if not out["records"]:
        raise CheckpointError(f"{path}: checkpoint holds no step")
    return out
