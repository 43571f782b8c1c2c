"""Microstructures: particle packings of half-cells (and, with later issues, descriptors).

Public API
----------
Packing                 spheres of several species in a periodic half-cell box; HDF5 save/load
PackingSpec, load_spec  the packing spec (TOML, units in the key names) and its validation
pack                    DEM-free packing generator (collective rearrangement, bounded overlap)
measure_fractions       volume fractions of a packing on a voxel grid
InfeasiblePackingError  a target that the generator cannot reach within its limits
voxelize                label image of a packing (priority: first species > others > polymer > separator)
read_label_image        .npy, .raw or TIFF label images (axes x, y, z)
"""

from .generator import InfeasiblePackingError, pack
from .packing import Packing
from .spec import PackingSpec, load_spec
from .volume import measure_fractions
from .voxelize import read_label_image, voxel_counts, voxelize

__all__ = [
    "InfeasiblePackingError", "Packing", "PackingSpec", "load_spec", "measure_fractions", "pack",
    "read_label_image", "voxel_counts", "voxelize",
]
