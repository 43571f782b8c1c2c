"""Result of a P2D galvanostatic run."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["P2DResult", "CSV_COLUMNS"]

CSV_COLUMNS = ("time_s", "voltage_V", "current_density_A_per_m2", "capacity_mAh_per_cm3",
               "capacity_mAh_per_cm2", "soc")


@dataclass
class P2DResult:
    """Output of :func:`ssbfv.solver.p2d.solve_p2d`. Arrays over the recorded points (t = 0 first).

    time_s [s]; voltage_V [V]; current_density [A/m^2] signed (> 0 discharge, < 0 charge);
    capacity_mAh_per_cm2 = |I| t / 36000 and capacity_mAh_per_cm3 (per cm^3 of cathode);
    chi_mean: mean c_s / c_s,max of the active material; soc = (c_s,max - mean c_s) /
    (c_s,max - c_s,min) (1 = charged, 0 = discharged); c_e_min: smallest electrolyte
    concentration [mol/m^3]; conservation_error: |dNa - I dt/F| / |I dt/F| per step (NaN at
    t = 0); newton_iterations, dt_s per point. reason: "voltage_cutoff", "chi_end", "t_end",
    "newton_failed" or "max_steps"; message: details (e.g. of a failure). n_steps accepted
    steps, n_newton total Newton iterations (rejected tries and the cut-off search included),
    n_failed Newton failures (each followed by a halved step); n_floor: electrolyte cells below
    the conductivity floor c_floor, summed over the accepted steps (DESIGN.md §2 guard). Final profiles: x_centres [m],
    c_e, phi_e (all cells), phi_s, c_s_surface (cathode cells), c_s (n_x_cat x n_r), r_centres.
    profiles: per recorded point a dict of those arrays when requested (``store_profiles``).
    """

    time_s: np.ndarray
    voltage_V: np.ndarray
    current_density: float
    capacity_mAh_per_cm2: np.ndarray
    capacity_mAh_per_cm3: np.ndarray
    chi_mean: np.ndarray
    soc: np.ndarray
    c_e_min: np.ndarray
    conservation_error: np.ndarray
    newton_iterations: np.ndarray
    dt_s: np.ndarray
    mode: str
    c_rate: float
    reason: str
    message: str
    v_cut: float
    n_steps: int
    n_newton: int
    n_failed: int
    n_floor: int
    wall_time_s: float
    x_centres: np.ndarray
    c_e: np.ndarray
    phi_e: np.ndarray
    phi_s: np.ndarray
    c_s_surface: np.ndarray
    c_s: np.ndarray
    r_centres: np.ndarray
    grid: dict = field(default_factory=dict)
    profiles: list = field(default_factory=list)

    @property
    def t(self) -> np.ndarray:
        return self.time_s

    @property
    def V(self) -> np.ndarray:
        return self.voltage_V

    @property
    def I(self) -> float:
        return self.current_density

    @property
    def capacity(self) -> np.ndarray:
        """Alias of capacity_mAh_per_cm2."""
        return self.capacity_mAh_per_cm2

    @property
    def final_capacity_mAh_per_cm2(self) -> float:
        return float(self.capacity_mAh_per_cm2[-1])

    @property
    def final_capacity_mAh_per_cm3(self) -> float:
        return float(self.capacity_mAh_per_cm3[-1])

    def voltage_at(self, capacity_mAh_per_cm2) -> np.ndarray:
        """Voltage linearly interpolated at capacities [mAh/cm^2]."""
        return np.interp(capacity_mAh_per_cm2, self.capacity_mAh_per_cm2, self.voltage_V)

    def to_csv(self, path) -> Path:
        """Write time_s, voltage_V, current_density_A_per_m2, capacity_mAh_per_cm3,
        capacity_mAh_per_cm2, soc (one row per recorded point); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        n = self.time_s.size
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS)
            for i in range(n):
                w.writerow([f"{self.time_s[i]:.10g}", f"{self.voltage_V[i]:.10g}", f"{self.current_density:.10g}",
                            f"{self.capacity_mAh_per_cm3[i]:.10g}", f"{self.capacity_mAh_per_cm2[i]:.10g}",
                            f"{self.soc[i]:.10g}"])
        return path

    def summary(self) -> str:
        return (f"P2D {self.mode} at {self.c_rate:.4g}C ({self.current_density:.4g} A/m^2): "
                f"{self.final_capacity_mAh_per_cm2:.4g} mAh/cm^2 = {self.final_capacity_mAh_per_cm3:.4g} mAh/cm^3, "
                f"V_end {self.voltage_V[-1]:.4f} V, reason {self.reason}; {self.n_steps} steps, "
                f"{self.n_newton} Newton iterations, {self.wall_time_s:.3f} s")
