"""Tensor-product layered meshes (ssbfv.mesh.structured)."""

import numpy as np
import pytest

from ssbfv.mesh.periodic import pair_periodic
from ssbfv.mesh.structured import graded_nodes, layered_mesh


def test_graded_nodes_sizes_and_ratio():
    x = graded_nodes(10e-6, 20, 5.0)
    h = np.diff(x)
    assert x[0] == 0.0 and x[-1] == pytest.approx(10e-6, rel=1e-14)
    assert h.max() / h.min() == pytest.approx(5.0, rel=1e-9)
    assert np.argmin(h) in (0, h.size - 1) and h[0] == pytest.approx(h[-1])
    assert np.allclose(graded_nodes(1.0, 4), [0, 0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError):
        graded_nodes(1.0, 0)
    with pytest.raises(ValueError):
        graded_nodes(1.0, 4, grading=0.5)


@pytest.mark.parametrize("split", [True, False])
def test_layered_mesh_regions_volumes_and_periodic_sides(split):
    layers = [("separator", graded_nodes(20e-6, 5, 2.0)), ("active", graded_nodes(30e-6, 6, 3.0))]
    m = layered_mesh(layers, n_yz=2, width=2e-6, split_tets=split)
    assert m.region_names == ("separator", "active")
    assert set(m.patch_names) == {"anode", "collector", "ymin", "ymax", "zmin", "zmax"}
    vol = m.cell_volumes
    assert vol[m.region_cells("separator")].sum() == pytest.approx(20e-6 * 4e-12, rel=1e-12, abs=0)
    assert vol[m.region_cells("active")].sum() == pytest.approx(30e-6 * 4e-12, rel=1e-12, abs=0)
    assert m.n_cells == (5 + 6) * 4 * (6 if split else 1)
    for a, b, t in (("ymin", "ymax", (0, 2e-6, 0)), ("zmin", "zmax", (0, 0, 2e-6))):
        fa, fb = pair_periodic(m, a, b, t)
        assert fa.size == fb.size == m.patch_faces(a).size
    with pytest.raises(ValueError, match="start at 0"):
        layered_mesh([("a", np.array([1e-6, 2e-6]))])
