"""Case directories: ``case.toml`` (:mod:`.config`), geometry from a packing spec or a mesh
(:mod:`.geometry`), the run and its results (:mod:`.run`, :mod:`.output`)."""

from .config import CaseConfig, CaseError, load_case
from .run import run_case

__all__ = ["CaseConfig", "CaseError", "load_case", "run_case"]
