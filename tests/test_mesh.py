"""Mesh input and finite-volume geometry."""

import meshio
import numpy as np
import pytest

from ssbfv.mesh import HEX, TET, Mesh, MeshReadError, PeriodicMatchError, pair_periodic, read
from ssbfv.mesh.generate import box_tet_mesh


def reference_faces(mesh):
    """Unique faces by a plain numpy sort (independent of the numba bucket matching)."""
    tet = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    local = np.sort(mesh.cell_nodes[:, :4][:, tet].reshape(-1, 3), axis=1)
    uniq, counts = np.unique(local, axis=0, return_counts=True)
    return uniq, counts


def structured_hex_mesh(n, L=1.0, jitter=0.0, seed=0):
    """n^3 hexahedra on [0, L]^3, interior nodes optionally jittered."""
    g = np.linspace(0.0, L, n + 1)
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])
    if jitter:
        rng = np.random.default_rng(seed)
        inner = np.all((pts > 1e-12) & (pts < L - 1e-12), axis=1)
        pts[inner] += rng.uniform(-jitter, jitter, (inner.sum(), 3)) * L / n
    idx = np.arange((n + 1) ** 3).reshape(n + 1, n + 1, n + 1)
    i, j, k = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    i, j, k = i.ravel(), j.ravel(), k.ravel()
    cells = np.column_stack([
        idx[i, j, k], idx[i + 1, j, k], idx[i + 1, j + 1, k], idx[i, j + 1, k],
        idx[i, j, k + 1], idx[i + 1, j, k + 1], idx[i + 1, j + 1, k + 1], idx[i, j + 1, k + 1],
    ])
    return pts, cells


def test_tet_faces_match_reference_and_are_oriented(meshes):
    mesh = meshes.box(0.15)
    uniq, counts = reference_faces(mesh)
    assert mesh.n_faces == len(uniq)
    assert mesh.n_internal == int(np.sum(counts == 2))
    assert np.all(counts <= 2)
    ours = np.sort(mesh.face_nodes[:, :3], axis=1)
    assert np.array_equal(np.unique(ours, axis=0), uniq)
    assert np.all(mesh.owner[: mesh.n_internal] < mesh.neighbour)
    # area vectors point from owner to neighbour / out of the domain
    d = mesh.cell_centres[mesh.neighbour] - mesh.cell_centres[mesh.owner[: mesh.n_internal]]
    assert np.all(np.einsum("ij,ij->i", d, mesh.face_area[: mesh.n_internal]) > 0)
    b = mesh.face_centre[mesh.n_internal:] - mesh.cell_centres[mesh.owner[mesh.n_internal:]]
    assert np.all(np.einsum("ij,ij->i", b, mesh.face_area[mesh.n_internal:]) > 0)


def test_tet_geometry_exact(meshes):
    mesh = meshes.box(0.15)
    assert mesh.cell_volumes.sum() == pytest.approx(1.0, rel=1e-12)
    p = mesh.points[mesh.cell_nodes[:, :4]]
    vol = np.abs(np.einsum("ij,ij->i", p[:, 1] - p[:, 0], np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]))) / 6
    np.testing.assert_allclose(mesh.cell_volumes, vol, rtol=1e-10)
    np.testing.assert_allclose(mesh.cell_centres, p.mean(axis=1), rtol=0, atol=1e-13)
    # every cell is closed: the outward area vectors sum to zero
    s = np.zeros((mesh.n_cells, 3))
    np.add.at(s, mesh.owner, mesh.face_area)
    np.add.at(s, mesh.neighbour, -mesh.face_area[: mesh.n_internal])
    assert np.abs(s).max() < 1e-14
    # divergence theorem: sum over faces of (x_f . S_f) = 3 V for each cell
    xs = np.einsum("ij,ij->i", mesh.face_centre, mesh.face_area)
    acc = np.zeros(mesh.n_cells)
    np.add.at(acc, mesh.owner, xs)
    np.add.at(acc, mesh.neighbour, -xs[: mesh.n_internal])
    np.testing.assert_allclose(acc, 3 * mesh.cell_volumes, rtol=1e-9)


def test_patches_regions_and_interfaces(meshes):
    mesh = meshes.box(0.15, layers=(("a", 0.4), ("b", 0.6)))
    assert mesh.region_names == ("a", "b")
    assert set(mesh.patch_names) == {"xmin", "xmax", "ymin", "ymax", "zmin", "zmax"}
    for name in mesh.patch_names:
        assert mesh.face_areas[mesh.patch_faces(name)].sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(mesh.face_centre[mesh.patch_faces("xmax"), 0], 1.0)
    assert mesh.cell_volumes[mesh.region_cells("a")].sum() == pytest.approx(0.4, rel=1e-12)
    faces, ca, cb = mesh.interface_faces("a", "b")
    assert mesh.face_areas[faces].sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(mesh.face_centre[faces, 0], 0.4, atol=1e-12)
    assert np.all(mesh.cell_region[ca] == 0) and np.all(mesh.cell_region[cb] == 1)
    with pytest.raises(KeyError, match="unknown patch 'nope'"):
        mesh.patch_faces("nope")


@pytest.mark.parametrize("version", [2.2, 4.1])
def test_read_msh_versions_agree(tmp_path, version):
    path = box_tet_mesh(tmp_path / f"m{version}.msh", h=0.25, msh_version=version, periodic_y=True)
    ref = box_tet_mesh(tmp_path / "ref.msh", h=0.25, msh_version=4.1, periodic_y=True)
    a, b = read(path), read(ref)
    assert a.n_cells == b.n_cells and a.patch_names == b.patch_names
    np.testing.assert_allclose(a.cell_centres, b.cell_centres)


@pytest.mark.parametrize("ext", ["vtu", "xdmf"])
def test_read_vtu_xdmf(tmp_path, meshes, ext):
    mesh = meshes.box(0.25, layers=(("a", 0.5), ("b", 0.5)))
    tets = mesh.cell_nodes[:, :4]
    tris = mesh.face_nodes[mesh.n_internal:, :3]
    out = meshio.Mesh(mesh.points, [("tetra", tets), ("triangle", tris)],
                      cell_data={"region": [mesh.cell_region + 1, mesh.boundary_face_patch + 10]})
    path = tmp_path / f"m.{ext}"
    out.write(path)
    back = read(path)
    assert back.region_names == ("region1", "region2")
    assert len(back.patch_names) == 6
    np.testing.assert_allclose(back.cell_volumes, mesh.cell_volumes)
    assert back.face_areas[back.patch_faces("patch10")].sum() == pytest.approx(1.0)


def test_hex_and_mixed_meshes():
    pts, hexes = structured_hex_mesh(4, jitter=0.3)
    n = len(pts)
    mesh = Mesh(pts, hexes, np.full(len(hexes), HEX), np.zeros(len(hexes)), ["h"])
    assert mesh.n_internal == 3 * 4 * 4 * 3 and mesh.n_faces - mesh.n_internal == 6 * 16
    assert mesh.cell_volumes.sum() == pytest.approx(1.0, rel=1e-12)
    s = np.zeros((mesh.n_cells, 3))
    np.add.at(s, mesh.owner, mesh.face_area)
    np.add.at(s, mesh.neighbour, -mesh.face_area[: mesh.n_internal])
    assert np.abs(s).max() < 1e-14
    # a tet block beside the hex block (disjoint), one mesh with both cell kinds
    tet_pts = np.array([[2.0, 0, 0], [3, 0, 0], [2, 1, 0], [2, 0, 1]])
    cells = np.full((len(hexes) + 1, 8), -1)
    cells[:-1] = hexes
    cells[-1, :4] = np.arange(4) + n
    mixed = Mesh(np.vstack([pts, tet_pts]), cells, np.r_[np.full(len(hexes), HEX), TET],
                 np.r_[np.zeros(len(hexes)), 1], ["h", "t"])
    assert mixed.cell_volumes[-1] == pytest.approx(1 / 6)
    assert mixed.cell_volumes.sum() == pytest.approx(1 + 1 / 6)


def test_periodic_pairing(meshes):
    mesh = meshes.box(0.2, periodic_y=True, periodic_z=True)
    fa, fb = pair_periodic(mesh, "ymin", "ymax", (0, 1, 0))
    np.testing.assert_allclose(mesh.face_centre[fb], mesh.face_centre[fa] + [0, 1, 0], atol=1e-12)
    with pytest.raises(PeriodicMatchError, match=r"\d+ of \d+ faces have no partner"):
        pair_periodic(mesh, "ymin", "ymax", (0, 1.05, 0))
    # move one node inside the ymax face (in plane): its faces lose their partners
    pts = mesh.points.copy()
    on_ymax = np.flatnonzero((np.abs(pts[:, 1] - 1) < 1e-12) & np.all(np.abs(pts[:, [0, 2]] - 0.5) < 0.3, axis=1))
    pts[on_ymax[0], 0] += 0.02
    bad = Mesh(pts, mesh.cell_nodes, mesh.cell_nface, mesh.cell_region, mesh.region_names,
               mesh.face_nodes[mesh.n_internal:], mesh.boundary_face_patch, mesh.patch_names)
    with pytest.raises(PeriodicMatchError, match=r"[1-9]\d* of \d+ faces have no partner"):
        pair_periodic(bad, "ymin", "ymax", (0, 1, 0))


def test_bad_meshes(tmp_path):
    surf = meshio.Mesh(np.eye(3), [("triangle", np.array([[0, 1, 2]]))])
    path = tmp_path / "surface_only.vtu"
    surf.write(path)
    with pytest.raises(MeshReadError, match="no volume cells"):
        read(path)
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "missing.msh")
    pts, hexes = structured_hex_mesh(1)
    with pytest.raises(ValueError, match="no volume cells"):
        Mesh(pts, np.empty((0, 8), dtype=int), np.empty(0, dtype=int), np.empty(0, dtype=int), ["x"])
    # the same tet three times: a face shared by more than two cells
    tets = np.array([[0, 1, 2, 3], [0, 1, 2, 4], [0, 1, 2, 5]])
    p = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, -1], [0.2, 0.2, 1]], float)
    with pytest.raises(ValueError, match="shared by more than two cells"):
        Mesh(p, tets, np.full(3, TET), np.zeros(3), ["x"])


def test_wrap_periodic_stays_below_the_period():
    """-1e-16 % 20.0 is 20.0 in floating point, which scipy's periodic cKDTree rejects; the
    wrap maps it (and every other value) into [0, period)."""
    from scipy.spatial import cKDTree

    from ssbfv.mesh.periodic import wrap_periodic

    v = np.array([-1e-16, -20.0, 0.0, 19.999, 20.0, 45.5, -5e-15])
    w = wrap_periodic(v, 20.0)
    assert np.all((w >= 0.0) & (w < 20.0))
    assert w == pytest.approx([0.0, 0.0, 0.0, 19.999, 0.0, 5.5, 20.0 - 5e-15], abs=1e-12)
    assert np.mod(-1e-16, 20.0) == 20.0  # why the function exists
    cKDTree(np.column_stack([w, w]), boxsize=[20.0, 20.0])  # accepted
