"""Finite-volume solver: operators, boundary conditions, linear solvers, conduction.

Public API
----------
solve_conduction(mesh, conductivity, bcs, periodic=(), regions=None, tol=1e-10)
Dirichlet, Neumann, Robin          boundary conditions
FvDomain                           cells of some regions with connections and CSR pattern
DiffusionOperator, solve_diffusion the diffusion operator (time term, sources, correction)
AmgCgSolver, LinearSolver          linear solvers
HalfCellLayout, HalfCellModel      the half-cell on a mesh and its segregated Butler-Volmer step
Galvanostatic, Protocol, Stepping  galvanostatic discharge/charge runs
"""

from .bc import BoundaryCondition, Dirichlet, Neumann, Robin
from .conduction import ConductionResult, solve_conduction
from .diffusion import BoundaryArrays, DiffusionOperator, solve_diffusion
from .domain import FvDomain, interface_name
from .linear import AmgCgSolver, LinearSolveError, LinearSolver

__all__ = [
    "AmgCgSolver", "BoundaryArrays", "BoundaryCondition", "ConductionResult", "Dirichlet",
    "DiffusionOperator", "FvDomain", "LinearSolveError", "LinearSolver", "Neumann", "Robin",
    "interface_name", "solve_conduction", "solve_diffusion",
]

# P2D (pseudo-two-dimensional) model of the half-cell, DESIGN.md §8
from .p2d import P2DElectrolyte, P2DGeometry, P2DModel, P2DResult, electrolyte_from_params, solve_p2d

__all__ += ["P2DElectrolyte", "P2DGeometry", "P2DModel", "P2DResult", "electrolyte_from_params", "solve_p2d"]

# the electrochemical half-cell (DESIGN.md §2-7)
from .coupling import CouplingOptions, HalfCellModel, HalfCellState, StepFailed
from .galvanostatic import Galvanostatic, Protocol, RunResult, Stepping
from .halfcell import HalfCellError, HalfCellLayout

__all__ += ["CouplingOptions", "Galvanostatic", "HalfCellError", "HalfCellLayout", "HalfCellModel",
            "HalfCellState", "Protocol", "RunResult", "StepFailed", "Stepping"]
