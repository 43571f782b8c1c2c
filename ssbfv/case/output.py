"""Results of a run: ``timeseries.csv`` written and flushed row by row (a crash loses at
most the step in progress) and ``summary.json`` written atomically (write, then rename)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from ..solver.kinetics import F

COLUMNS = (
    "time_s", "voltage_V", "current_density_A_per_m2", "capacity_mAh_per_cm3", "capacity_mAh_per_cm2",
    "soc", "mean_chi", "outer_iterations", "nrmsd", "dt_s", "linear_iterations", "conservation_error",
    "wall_s",
)


class Capacity:
    """Converts (time, current) to capacities. current [A] total, areas/volumes in SI."""

    def __init__(self, layout, c_s_max, c_s_min=0.0):
        self.area_cm2 = layout.area_yz * 1e4
        self.cathode_cm3 = layout.volume_cathode * 1e6
        self.theoretical_C = F * (c_s_max - c_s_min) * layout.volume_active  # [C]

    def mAh(self, t, current):
        return abs(current) * t / 3.6


class TimeseriesWriter:
    """CSV with one row per accepted step (t = 0 first)."""

    def __init__(self, path: Path, capacity: Capacity, append=False):
        self.path = Path(path)
        self.capacity = capacity
        new = not (append and self.path.is_file())
        self._f = open(self.path, "w" if new else "a", newline="")
        self._w = csv.writer(self._f)
        if new:
            self._w.writerow(COLUMNS)
            self._f.flush()

    def write(self, rec):
        cap = self.capacity
        q = cap.mAh(rec.time_s, rec.current_A)
        self._w.writerow([
            f"{rec.time_s:.10g}", f"{rec.voltage_V:.10g}", f"{rec.current_A / (cap.area_cm2 * 1e-4):.10g}",
            f"{q / cap.cathode_cm3:.10g}", f"{q / cap.area_cm2:.10g}", f"{1.0 - rec.mean_chi:.10g}",
            f"{rec.mean_chi:.10g}", rec.outer_iterations, f"{rec.nrmsd:.4g}", f"{rec.dt_s:.6g}",
            rec.linear_iterations, f"{rec.conservation_error:.3g}", f"{rec.wall_s:.4g}",
        ])
        self._f.flush()

    def close(self):
        self._f.close()


def write_json_atomic(path: Path, data: dict):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=_plain)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _plain(o):
    try:
        return o.item()
    except AttributeError:
        return str(o)
