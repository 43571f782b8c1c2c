"""Tortuosity factors: voxel solver (exact discrete cases, dead ends, periodic sides), lean AMG,
agreement with the FV solve on meshes of the same image, gmsh meshes."""

import numpy as np
import pytest
from scipy import ndimage

from ssbfv.mesh import from_labels, read
from ssbfv.mesh.generate import box_tet_mesh
from ssbfv.microstructure import mesh_tortuosity, voxel_tortuosity
from ssbfv.microstructure.lean_amg import CoarseSolver, LeanSmoothedAggregationHierarchy, pcg
from ssbfv.microstructure.tortuosity import _number_cells, assemble_voxel_system, percolating_labels
from ssbfv.solver.amg import SmoothedAggregationHierarchy

H = np.array([1.0e-6, 2.0e-6, 0.5e-6])  # anisotropic voxels [m]
TIGHT = dict(tol=1e-12, imbalance_tol=1e-12)


def smooth_phase(shape, fraction, seed, sigma=1.5):
    f = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return f > np.quantile(f, 1.0 - fraction)


def chain(points, shape):
    """Mask of a 1-voxel-wide path through the given voxels (a series chain of links)."""
    m = np.zeros(shape, dtype=bool)
    m[tuple(np.array(points).T)] = True
    return m


def staircase(n_steps, run, k=1, j0=0, dz=0):
    """Voxels of a staircase from x = 0 to x = n_steps * run - 1: `run` voxels along x,
    then one step in y (and in z every step when dz)."""
    pts, j, kk = [], j0, k
    for s in range(n_steps):
        for i in range(s * run, (s + 1) * run):
            pts.append((i, j, kk))
        if s < n_steps - 1:
            j += 1
            pts.append(((s + 1) * run - 1, j, kk))
            if dz:
                kk += 1
                pts.append(((s + 1) * run - 1, j, kk))
    return pts


def chain_resistance(n_x, n_y, n_z, h):
    """Resistance of a 1-voxel chain with n_x x-links (counting the two half links at the
    faces as one), n_y y-links and n_z z-links, k = 1: sum of h_a / (A_a)."""
    return (n_x * h[0] / (h[1] * h[2]) + n_y * h[1] / (h[0] * h[2]) + n_z * h[2] / (h[0] * h[1]))


# ---------------------------------------------------------------------------- exact cases
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_uniform_block_and_straight_channels_have_tau_one(axis):
    block = np.ones((5, 6, 7), dtype=bool)
    r = voxel_tortuosity(block, H, axis, **TIGHT)
    assert r.tau == pytest.approx(1.0, abs=1e-12)
    assert r.conductivity_ratio == pytest.approx(1.0, abs=1e-12)
    chan = np.zeros((9, 8, 7), dtype=bool)
    sl = [slice(2, 4), slice(3, 5), slice(1, 3)]
    sl[axis] = slice(None)
    chan[tuple(sl)] = True
    sl2 = [slice(6, 7), slice(6, 8), slice(5, 6)]
    sl2[axis] = slice(None)
    chan[tuple(sl2)] = True  # a second, separate channel
    r = voxel_tortuosity(chan, H, axis, **TIGHT)
    assert r.tau == pytest.approx(1.0, abs=1e-12)
    assert r.volume_fraction == pytest.approx(chan.mean())
    assert r.imbalance < 1e-12


def test_staircase_chain_matches_series_resistance():
    """A 1-voxel staircase is a chain of links in series: k_eff = L / (A R) exactly, and for
    cubic voxels tau = (voxels in the chain / voxels along x)^2."""
    shape = (12, 8, 3)
    m = chain(staircase(4, 3), shape)  # 12 x-voxels, 3 y-steps: 15 voxels
    r = voxel_tortuosity(m, 1e-6, 0, **TIGHT)
    assert r.tau == pytest.approx((15 / 12) ** 2, rel=1e-10)
    # anisotropic voxels and steps in y and z
    shape = (15, 9, 8)
    m = chain(staircase(5, 3, k=1, dz=1), shape)
    r = voxel_tortuosity(m, H, 0, **TIGHT)
    R = chain_resistance(15, 4, 4, H)
    L, A = shape[0] * H[0], shape[1] * H[1] * shape[2] * H[2]
    ratio = L / (A * R)
    assert r.conductivity_ratio == pytest.approx(ratio, rel=1e-10)
    assert r.tau == pytest.approx(m.mean() / ratio, rel=1e-10)


def test_series_parallel_staircases_and_channel():
    """Chains of different lengths and a straight 2x2 channel in parallel: conductances add."""
    shape = (12, 14, 9)
    m = chain(staircase(4, 3, k=1), shape)  # 15 voxels, 3 y-links
    m |= chain(staircase(2, 6, k=4, j0=2), shape)  # 13 voxels, 1 y-link
    m[:, 10:12, 6:8] = True  # channel, 4 columns
    r = voxel_tortuosity(m, H, 0, **TIGHT)
    g = 1 / chain_resistance(12, 3, 0, H) + 1 / chain_resistance(12, 1, 0, H) + 4 * H[1] * H[2] / (12 * H[0])
    L, A = shape[0] * H[0], shape[1] * H[1] * shape[2] * H[2]
    assert r.conductivity_ratio == pytest.approx(g * L / A, rel=1e-10)
    assert r.current_out == pytest.approx(r.current_in, rel=1e-10)


def test_dead_end_and_isolated_parts():
    shape = (10, 8, 8)
    dead = np.zeros(shape, dtype=bool)
    dead[:7, 2:4, 2:4] = True  # from the inlet, stops before the outlet
    dead[4:, 5:7, 5:7] = True  # from the outlet, stops before the inlet (overlaps in x only)
    r = voxel_tortuosity(dead, 1e-6, 0)
    assert r.tau == np.inf and not r.percolates
    assert r.conductivity_ratio == 0.0 and r.percolating_fraction == 0.0
    assert r.n_cells == 0
    # a straight channel, then the same with a dead-end branch and an isolated blob
    chan = np.zeros(shape, dtype=bool)
    chan[:, 2:4, 2:4] = True
    base = voxel_tortuosity(chan, 1e-6, 0, **TIGHT)
    more = chan.copy()
    more[5, 4:8, 2:4] = True  # dead-end branch sideways
    more[2:5, 6:8, 6:8] = True  # isolated blob
    r = voxel_tortuosity(more, 1e-6, 0, return_potential=True, **TIGHT)
    # the branch carries no current: k_eff unchanged, tau grows with eps only
    assert r.conductivity_ratio == pytest.approx(base.conductivity_ratio, rel=1e-10)
    assert r.tau == pytest.approx(base.tau * more.mean() / chan.mean(), rel=1e-10)
    assert r.percolating_fraction == pytest.approx((chan.sum() + 8) / chan.size)
    # potential: linear along the channel, the branch at its junction value, blob NaN
    phi = r.potential
    assert np.allclose(phi[:, 2, 2], 1.0 - (np.arange(10) + 0.5) / 10, atol=1e-10)
    assert np.allclose(phi[5, 4:8, 2:4], phi[5, 2, 2], atol=1e-10)
    assert np.all(np.isnan(phi[2:5, 6:8, 6:8])) and np.all(np.isnan(phi[~more]))


def test_periodic_sides_connect_a_wrapping_staircase():
    shape = (12, 4, 3)
    pts = [(i, j % 4, 1) for i, j, _ in staircase(4, 3, j0=2)]  # y: 2, 3, 0, 1 (wraps)
    m = chain(pts, shape)
    assert voxel_tortuosity(m, 1e-6, 0).tau == np.inf  # cut at the y side
    r = voxel_tortuosity(m, 1e-6, 0, periodic=True, **TIGHT)
    assert r.tau == pytest.approx((15 / 12) ** 2, rel=1e-10)
    # periodic only along z: still cut
    assert voxel_tortuosity(m, 1e-6, 0, periodic=(False, True)).tau == np.inf


def test_tilted_strip_approaches_the_continuum():
    """A strip tilted by theta (periodic in y) has tau = 1 / cos^2(theta) in the continuum;
    the voxelised strip (16 voxels wide) is within 3 %."""
    nx, w = 80, 16
    for th in (np.arctan(0.5), np.pi / 4):
        ny = int(round(nx * np.tan(th)))
        i = np.arange(nx)[:, None] + 0.5
        j = np.arange(ny)[None, :] + 0.5
        d = ((j - np.tan(th) * i + ny / 2) % ny - ny / 2) * np.cos(th)
        m = np.repeat((np.abs(d) <= w / 2)[:, :, None], 2, axis=2)
        r = voxel_tortuosity(m, 1e-6, 0, periodic=True)
        assert r.tau == pytest.approx(1.0 / np.cos(th) ** 2, rel=0.03)


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        voxel_tortuosity(np.zeros((3, 3, 3), bool), 1e-6, 0)
    with pytest.raises(ValueError, match="axis"):
        voxel_tortuosity(np.ones((3, 3, 3), bool), 1e-6, "w")
    with pytest.raises(ValueError, match="voxel size"):
        voxel_tortuosity(np.ones((3, 3, 3), bool), None, 0)
    with pytest.raises(ValueError, match="voxel size"):
        voxel_tortuosity(np.ones((3, 3, 3), bool), -1.0, 0)


# ---------------------------------------------------------------------------- solvers
def test_lean_hierarchy_is_the_project_hierarchy():
    m = smooth_phase((40, 30, 30), 0.4, 2)
    lab, keep = percolating_labels(m)
    n, _ = _number_cells(lab, keep)
    A, b, x0, _ = assemble_voxel_system(lab, int(n), H)
    ref = SmoothedAggregationHierarchy(A)
    lean = LeanSmoothedAggregationHierarchy(A, rows_per_slab=5000)  # several slabs
    P_ref, P = ref.levels[0].P, lean.levels[0].P
    assert P.shape == P_ref.shape and abs(P - P_ref).max() < 1e-14
    A1_ref, A1 = ref.levels[1].A, lean.levels[1].A
    # equal up to round-off entries (|a_ij| <= 1e-12 sqrt(a_ii a_jj)) that the lean build drops
    assert abs(A1 - A1_ref).max() < 1e-12 * abs(A1_ref).max()
    assert A1.nnz <= A1_ref.nnz
    x, it, res, ok = pcg(A, b, x0.copy(), lean, 1e-10, 100)
    assert ok and res <= 1e-10 and it <= 25
    assert np.linalg.norm(A @ x - b) <= 1e-9 * np.linalg.norm(b)


def test_coarse_solver_cholesky_and_pseudo_inverse():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((30, 30))
    A = B @ B.T + 0.1 * np.eye(30)
    b = rng.standard_normal(30)
    cs = CoarseSolver(A)
    assert cs.L is not None and np.allclose(cs @ b, np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)
    lap = 2 * np.eye(6) - np.eye(6, k=1) - np.eye(6, k=-1)
    lap[0, 0] = lap[-1, -1] = 1.0  # pure Neumann: singular
    cs = CoarseSolver(lap)
    assert cs.L is None
    r = b[:6] - b[:6].mean()
    assert np.allclose(lap @ (cs @ r), r, atol=1e-12)


@pytest.mark.parametrize("amg", ["csr", "pyamg"])
def test_amg_backends_agree(amg):
    m = smooth_phase((30, 20, 20), 0.4, 4)
    ref = voxel_tortuosity(m, H, 1, tol=1e-10)
    r = voxel_tortuosity(m, H, 1, tol=1e-10, amg=amg)
    assert r.tau == pytest.approx(ref.tau, rel=1e-8)
    assert np.isfinite(r.tau) and r.tau > 1.0


# ---------------------------------------------------------------------------- meshes
@pytest.fixture(scope="module")
def image():
    return smooth_phase((14, 12, 10), 0.5, 3)


@pytest.mark.parametrize("periodic", [False, True])
def test_voxel_solver_equals_fv_on_the_hex_mesh(image, periodic):
    """The hexahedral mesh of the image gives the same two-point scheme: same tau."""
    mesh = from_labels(image.astype(np.uint8), H, {0: "rest", 1: "phase"})
    for axis in range(3):
        v = voxel_tortuosity(image, H, axis, periodic=periodic, tol=1e-11, imbalance_tol=1e-11)
        f = mesh_tortuosity(mesh, ["phase"], axis, periodic=periodic)
        assert np.isfinite(v.tau)
        assert f.tau == pytest.approx(v.tau, rel=1e-6)
        assert f.current_in == pytest.approx(v.current_in, rel=1e-6)  # both in A (k = 1 S/m, 1 V)
        assert f.volume_fraction == pytest.approx(v.volume_fraction, rel=1e-12)
        assert f.percolating_fraction == pytest.approx(v.percolating_fraction, rel=1e-12)
        assert f.imbalance < 1e-8


def test_kuhn_tet_mesh_is_close(image):
    """Six tetrahedra per voxel: another discretisation of the same geometry, within 3 %."""
    mesh = from_labels(image.astype(np.uint8), 1e-6, {0: "rest", 1: "phase"}, split_tets=True)
    for axis in range(3):
        v = voxel_tortuosity(image, 1e-6, axis)
        f = mesh_tortuosity(mesh, "phase", axis)
        assert f.tau == pytest.approx(v.tau, rel=0.03)


def test_gmsh_layered_box(tmp_path):
    """Unstructured tets: a slab of phase a (x < 0.4) and b (x > 0.4) in a unit box. a is
    a uniform block along y and z (tau = 1 exactly: the FV scheme reproduces linear
    fields) and does not reach the x = 1 face (tau = inf)."""
    path = box_tet_mesh(tmp_path / "layers.msh", size=(1.0, 0.6, 0.5), h=0.12,
                        layers=(("a", 0.4), ("b", 0.6)))
    mesh = read(path, scale=1e-6)
    assert mesh_tortuosity(mesh, ["a"], "x").tau == np.inf
    for axis in ("y", "z"):
        r = mesh_tortuosity(mesh, ["a"], axis)
        assert r.volume_fraction == pytest.approx(0.4, rel=1e-9)
        assert r.tau == pytest.approx(1.0, rel=1e-7)
    r = mesh_tortuosity(mesh, ["a", "b"], "x")
    assert r.tau == pytest.approx(1.0, rel=1e-7)
    with pytest.raises(ValueError, match="no patches"):
        mesh_tortuosity(from_labels(np.ones((2, 2, 2), np.uint8), 1.0, {1: "a"}, patches={"xmax": "top"}), "a", 0)
