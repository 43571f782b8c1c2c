"""Microstructures: particle packings of half-cells (and, with later issues, descriptors).

Public API
----------
Packing       spheres of several species in a periodic half-cell box; HDF5 save/load
"""

from .packing import Packing

__all__ = ["Packing"]
