"""ssbfv: particle-resolved 3D finite-volume simulation of solid-state battery cathodes.

Subpackages
-----------
mesh            mesh input, finite-volume geometry (numba kernels), periodic pairing
solver          finite-volume operators, boundary conditions, linear solvers, conduction
microstructure  packings and microstructure descriptors (later issues)

All quantities inside the package are SI (m, s, mol, A, V, K).
"""

__version__ = "0.1.0"
