"""The Packing: spheres of several species in a half-cell box, and its HDF5 file format.

Geometry conventions (DESIGN.md §1): x is the thickness direction; the anode face is
x = 0, the separator slab spans [0, separator_thickness], the composite cathode spans
[separator_thickness, box[0]] and the current collector is the face x = box[0]. y and z are
periodic with periods box[1], box[2]; sphere centres are stored wrapped into [0, L).
Spheres belong to the cathode: the parts of a sphere outside the cathode slab are cut off
by the mesher (the sphere "is trimmed" by the slab, as in the 3D paper). All lengths in m.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

FORMAT_VERSION = 1


@dataclass
class Packing:
    """Spheres in a periodic half-cell box.

    centres : (n, 3) sphere centres [m], y and z wrapped into [0, box[1]), [0, box[2])
    radii : (n,) sphere radii [m]
    species : (n,) index into ``species_names`` per sphere
    species_names : names of the species, e.g. ("active", "filler"); they become mesh
        region names
    box : (3,) [x extent from the anode to the collector, period in y, period in z] [m]
    separator_thickness : [m]
    seed : random seed used by the generator (None when unknown)
    spec : the generator's inputs and measured results (JSON-serialisable dict)
    """

    centres: np.ndarray
    radii: np.ndarray
    species: np.ndarray
    species_names: tuple
    box: np.ndarray
    separator_thickness: float
    seed: int | None = None
    spec: dict = field(default_factory=dict)

    def __post_init__(self):
        self.centres = np.ascontiguousarray(self.centres, dtype=np.float64).reshape(-1, 3)
        self.radii = np.ascontiguousarray(self.radii, dtype=np.float64).reshape(-1)
        self.species = np.ascontiguousarray(self.species, dtype=np.int64).reshape(-1)
        self.species_names = tuple(self.species_names)
        self.box = np.asarray(self.box, dtype=np.float64).reshape(3)
        self.separator_thickness = float(self.separator_thickness)
        n = self.centres.shape[0]
        if self.radii.shape != (n,) or self.species.shape != (n,):
            raise ValueError("centres, radii and species must describe the same number of spheres")
        if np.any(~np.isfinite(self.radii)) or np.any(self.radii <= 0):
            raise ValueError("sphere radii must be finite and > 0")
        if n and (self.species.min() < 0 or self.species.max() >= len(self.species_names)):
            raise ValueError("species index out of range of species_names")
        if np.any(self.box <= 0) or not 0 <= self.separator_thickness < self.box[0]:
            raise ValueError("box sizes must be > 0 and the separator thinner than the box")

    @property
    def n(self) -> int:
        return self.centres.shape[0]

    @property
    def cathode_bounds(self) -> tuple[float, float]:
        """x range of the composite cathode [m]."""
        return self.separator_thickness, float(self.box[0])

    @property
    def cathode_volume(self) -> float:
        """Volume of the cathode slab [m^3]."""
        x0, x1 = self.cathode_bounds
        return (x1 - x0) * float(self.box[1] * self.box[2])

    def of_species(self, name: str) -> np.ndarray:
        """Indices of the spheres of a species."""
        return np.flatnonzero(self.species == self.species_names.index(name))

    # ------------------------------------------------------------------ file format
    def save(self, path: str | os.PathLike) -> None:
        """Write an HDF5 file (written to a temporary name, then renamed)."""
        import h5py

        path = os.fspath(path)
        tmp = path + ".tmp"
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "ssbfv-packing"
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["units"] = "m"
            f.create_dataset("centres", data=self.centres)
            f.create_dataset("radii", data=self.radii)
            f.create_dataset("species", data=self.species)
            f.attrs["species_names"] = json.dumps(list(self.species_names))
            f.attrs["box"] = self.box
            f.attrs["separator_thickness"] = self.separator_thickness
            f.attrs["seed"] = -1 if self.seed is None else int(self.seed)
            f.attrs["spec"] = json.dumps(self.spec)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Packing":
        import h5py

        with h5py.File(os.fspath(path), "r") as f:
            if f.attrs.get("format") != "ssbfv-packing":
                raise ValueError(f"{path}: not an ssbfv packing file")
            seed = int(f.attrs["seed"])
            return cls(
                centres=f["centres"][...],
                radii=f["radii"][...],
                species=f["species"][...],
                species_names=tuple(json.loads(f.attrs["species_names"])),
                box=f.attrs["box"],
                separator_thickness=float(f.attrs["separator_thickness"]),
                seed=None if seed < 0 else seed,
                spec=json.loads(f.attrs["spec"]),
            )
