"""P2D (pseudo-two-dimensional) model of the cathode half-cell (DESIGN.md §8).

1D in x (separator + composite cathode) with a spherical particle in every cathode cell; see
:mod:`ssbfv.solver.p2d.model` for the equations, boundary conditions and discretisation, and
docs/p2d.md for the verification and performance figures.

    from ssbfv.solver.parameters import get_parameter_set
    from ssbfv.solver.p2d import P2DGeometry, P2DModel, solve_p2d
    geo = P2DGeometry(L_sep=20e-6, L_cat=100e-6, eps_AM=0.54, tau_AM=1.5, eps_e_cat=0.46,
                      tau_e_cat=2.0, particle_diameter=8e-6)
    res = solve_p2d(P2DModel(get_parameter_set("nvp_peo_nasicon"), geo), c_rate=0.2)
    res.to_csv("p2d.csv")
"""

from .electrolyte import CallableConductivity, P2DElectrolyte, electrolyte_from_params
from .geometry import P2DGeometry
from .model import P2DModel, P2DSystem, graded_faces
from .result import CSV_COLUMNS, P2DResult
from .solve import solve_p2d

__all__ = ["CallableConductivity", "CSV_COLUMNS", "P2DElectrolyte", "P2DGeometry", "P2DModel", "P2DResult",
           "P2DSystem", "electrolyte_from_params", "graded_faces", "solve_p2d"]
