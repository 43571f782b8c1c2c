"""Microstructures: particle packings of half-cells, label images and their descriptors.

Public API
----------
Packing                 spheres of several species in a periodic half-cell box; HDF5 save/load
PackingSpec, load_spec  the packing spec (TOML, units in the key names) and its validation
pack                    DEM-free packing generator (collective rearrangement, bounded overlap)
measure_fractions       volume fractions of a packing on a voxel grid
InfeasiblePackingError  a target that the generator cannot reach within its limits
voxelize                label image of a packing (priority: first species > others > polymer > separator)
read_label_image        .npy, .raw or TIFF label images (axes x, y, z)
describe                descriptors of an image or mesh: volume fractions, tortuosity factors,
                        contact area per volume, D_SCA (docs/descriptors.md)
voxel_tortuosity        tortuosity factor of a phase of a voxel image (AMG-CG, 10^8 voxels)
mesh_tortuosity         the same on a mesh (solve_conduction in the phase's regions)
"""

from .describe import Descriptors, describe
from .generator import InfeasiblePackingError, pack
from .packing import Packing
from .spec import PackingSpec, load_spec
from .tortuosity import TortuosityResult, mesh_tortuosity, voxel_tortuosity
from .volume import measure_fractions
from .voxelize import read_label_image, voxel_counts, voxelize

__all__ = [
    "Descriptors", "TortuosityResult", "describe", "mesh_tortuosity", "voxel_tortuosity",
    "InfeasiblePackingError", "Packing", "PackingSpec", "load_spec", "measure_fractions", "pack",
    "read_label_image", "voxel_counts", "voxelize",
]
