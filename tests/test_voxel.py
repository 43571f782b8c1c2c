"""The voxel route: label image -> hexahedra / Kuhn tetrahedra, packing -> label image, .msh output."""

import numpy as np
import pytest

from ssbfv.mesh import Mesh, pair_periodic, read
from ssbfv.mesh.voxel import from_labels
from ssbfv.mesh.write import write_msh
from ssbfv.microstructure import Packing
from ssbfv.microstructure.voxelize import read_label_image, voxel_counts, voxelize
from ssbfv.solver import Dirichlet, solve_conduction

H = np.array([1.0e-6, 2.0e-6, 0.5e-6])  # anisotropic voxels [m]
NAMES = {3: "active", 7: "filler", 9: "polymer"}


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    return rng.choice(np.array([3, 7, 9], dtype=np.int16), size=(6, 5, 4), p=[0.3, 0.3, 0.4])


def voxel_faces_between(labels, a, b):
    """Number of voxel faces between labels a and b along each axis."""
    out = []
    for axis in range(3):
        lo = np.take(labels, np.arange(labels.shape[axis] - 1), axis=axis)
        hi = np.take(labels, np.arange(1, labels.shape[axis]), axis=axis)
        out.append(int(np.count_nonzero(((lo == a) & (hi == b)) | ((lo == b) & (hi == a)))))
    return np.array(out)


FACE_AREA = np.array([H[1] * H[2], H[0] * H[2], H[0] * H[1]])  # per axis [m^2]


# ---------------------------------------------------------------------------- meshing
@pytest.mark.parametrize("split", [False, True])
def test_volumes_patches_and_interfaces(image, split):
    mesh = from_labels(image, H, NAMES, split_tets=split)
    assert mesh.n_cells == image.size * (6 if split else 1)
    assert mesh.region_names == ("active", "filler", "polymer")  # by label value
    assert np.all(mesh.cell_nface == (4 if split else 6))
    for label, name in NAMES.items():
        vol = mesh.cell_volumes[mesh.region_cells(name)].sum()
        assert vol == pytest.approx(np.count_nonzero(image == label) * H.prod(), rel=1e-12, abs=0)
    box = np.array(image.shape) * H
    for axis, (lo, hi) in enumerate([("xmin", "xmax"), ("ymin", "ymax"), ("zmin", "zmax")]):
        side = box.prod() / box[axis]
        for p in (lo, hi):
            faces = mesh.patch_faces(p)
            assert mesh.face_areas[faces].sum() == pytest.approx(side, rel=1e-12, abs=0)
            assert faces.size == round(side / FACE_AREA[axis]) * (2 if split else 1)
    # boundary = the box surface only (conforming: no hanging faces inside)
    assert mesh.face_areas[mesh.n_internal:].sum() == pytest.approx(2 * (box.prod() / box).sum(), rel=1e-12, abs=0)
    for (a, b), faces in mesh.interfaces.items():
        la = [k for k, v in NAMES.items() if v == a][0]
        lb = [k for k, v in NAMES.items() if v == b][0]
        expected = voxel_faces_between(image, la, lb) @ FACE_AREA
        assert mesh.face_areas[faces].sum() == pytest.approx(expected, rel=1e-12, abs=0)
    if not split:  # exact voxel geometry
        i, j, k = np.unravel_index(np.arange(image.size), image.shape)
        centres = (np.column_stack([i, j, k]) + 0.5) * H
        order = np.concatenate([np.flatnonzero(image.ravel() == lab) for lab in (3, 7, 9)])
        assert np.allclose(mesh.cell_centres, centres[order], rtol=0, atol=1e-18)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("keep", [None, ["active", "polymer"]])
def test_equals_generic_mesh_construction(image, split, keep):
    """The grid-built faces and geometry equal those of Mesh(...) from the same cells
    (which also checks that the tetrahedral split is conforming: Mesh raises otherwise)."""
    fast, arrays = from_labels(image, H, NAMES, split_tets=split, keep=keep, return_arrays=True)
    slow = Mesh(**arrays)
    assert set(vars(fast)) == set(vars(slow))
    for key in ("owner", "neighbour", "face_nodes", "boundary_face_patch", "cell_region"):
        assert np.array_equal(getattr(fast, key), getattr(slow, key)), key
    for key in ("face_area", "face_centre", "cell_volumes", "cell_centres"):
        assert np.allclose(getattr(fast, key), getattr(slow, key), rtol=1e-12, atol=1e-24), key
    assert fast.patch_names == slow.patch_names and fast.n_internal == slow.n_internal


@pytest.mark.parametrize("split", [False, True])
def test_periodic_pairing(image, split):
    mesh = from_labels(image, H, NAMES, split_tets=split, patches={"xmin": "anode", "xmax": "collector"})
    assert {"anode", "collector", "ymin", "ymax", "zmin", "zmax"} == set(mesh.patch_names)
    box = np.array(image.shape) * H
    for a, b, t in [("ymin", "ymax", (0, box[1], 0)), ("zmin", "zmax", (0, 0, box[2])),
                    ("anode", "collector", (box[0], 0, 0))]:
        fa, fb = pair_periodic(mesh, a, b, t, rel_tol=1e-9)
        assert fa.size == fb.size > 0


def test_keep_drops_regions_and_nodes(image):
    mesh = from_labels(image, H, NAMES, keep=["active"])
    assert mesh.region_names == ("active",)
    assert mesh.n_cells == np.count_nonzero(image == 3)
    assert np.array_equal(np.unique(mesh.cell_nodes), np.arange(mesh.n_points))  # no unused node
    # cut faces towards the dropped regions (inside the image; and across the periodic
    # y/z sides where the partner voxel is dropped)
    for label, name in [(7, "filler"), (9, "polymer")]:
        wrapped = [np.concatenate([image, image[:, :1]], axis=1), np.concatenate([image, image[:, :, :1]], axis=2)]
        inner = voxel_faces_between(image, 3, label)
        inner[1] = voxel_faces_between(wrapped[0], 3, label)[1]
        inner[2] = voxel_faces_between(wrapped[1], 3, label)[2]
        cut = mesh.face_areas[mesh.patch_faces(f"active|{name}")].sum()
        assert cut == pytest.approx(inner @ FACE_AREA, rel=1e-12, abs=0)
    # the periodic sides still pair face by face
    box = np.array(image.shape) * H
    pair_periodic(mesh, "ymin", "ymax", (0, box[1], 0), rel_tol=1e-9)
    pair_periodic(mesh, "zmin", "zmax", (0, 0, box[2]), rel_tol=1e-9)


def test_shared_names_and_untagged_faces(image):
    mesh = from_labels(image, H, {3: "solid", 7: "solid", 9: "polymer"}, patches={"ymin": None, "ymax": None})
    assert mesh.region_names == ("solid", "polymer")
    assert mesh.region_cells("solid").size == np.count_nonzero(image != 9)
    assert "ymin" not in mesh.patch_names and "defaultFaces" in mesh.patch_names
    assert mesh.patch_faces("defaultFaces").size == 2 * image.shape[0] * image.shape[2]


def test_input_errors(image):
    with pytest.raises(ValueError, match=r"\[7, 9\].*no region name"):
        from_labels(image, H, {3: "active"})
    for bad in (0.0, -1e-6, np.nan, (1e-6, 1e-6), "big"):
        with pytest.raises(ValueError, match="voxel_size"):
            from_labels(image, bad, NAMES)
    with pytest.raises(ValueError, match="integers"):
        from_labels(image.astype(float), H, NAMES)
    with pytest.raises(ValueError, match="3D"):
        from_labels(image[0], H, NAMES)
    with pytest.raises(ValueError, match="unknown regions"):
        from_labels(image, H, NAMES, keep=["pore"])
    with pytest.raises(ValueError, match="unknown box faces"):
        from_labels(image, H, NAMES, patches={"left": "anode"})


def test_series_conduction_is_exact():
    """Two layers in x on an orthogonal hex mesh: the flux equals the series value."""
    labels = np.zeros((10, 3, 2), dtype=np.uint8)
    labels[4:] = 1
    h = 2e-6
    mesh = from_labels(labels, h, {0: "separator", 1: "cathode"}, patches={"xmin": "anode", "xmax": "collector"})
    k0, k1 = 0.15, 6e-3
    ly, lz = 3 * h, 2 * h
    res = solve_conduction(mesh, {"separator": k0, "cathode": k1},
                           {"anode": Dirichlet(0.0), "collector": Dirichlet(1.0)},
                           periodic=[("ymin", "ymax", (0, ly, 0)), ("zmin", "zmax", (0, 0, lz))], tol=1e-13)
    expected = ly * lz / (4 * h / k0 + 6 * h / k1)
    assert res.patch_flux["anode"] == pytest.approx(expected, rel=1e-8)
    assert res.patch_flux["collector"] == pytest.approx(-expected, rel=1e-8)


# ---------------------------------------------------------------------------- voxelize
def packing(centres, radii, species, box, sep=0.0, names=("active", "filler")):
    return Packing(np.array(centres, dtype=float), np.array(radii, dtype=float), np.array(species),
                   names, np.array(box, dtype=float), sep)


def test_voxelize_sphere_volume():
    h = 1e-6
    p = packing([[20e-6, 20e-6, 20e-6]], [10e-6], [0], [40e-6, 40e-6, 40e-6], names=("active",))
    labels, names = voxelize(p, h)
    assert labels.shape == (40, 40, 40) and labels.dtype == np.uint8
    assert names == {0: "separator", 1: "polymer", 2: "active"}
    vol = np.count_nonzero(labels == 2) * h**3
    assert vol == pytest.approx(4 / 3 * np.pi * (10e-6) ** 3, rel=0.02, abs=0)
    assert set(np.unique(labels)) == {1, 2}


@pytest.mark.parametrize("filler_first", [False, True])
def test_voxelize_priority(filler_first):
    h = 1e-6
    box = [40e-6, 20e-6, 20e-6]
    spheres = [([25e-6, 10e-6, 10e-6], 6e-6, 0), ([31e-6, 10e-6, 10e-6], 4e-6, 1),  # lens near x = 29.5
               ([10.5e-6, 10.5e-6, 10.5e-6], 5e-6, 0)]  # crosses the separator plane x = 8
    if filler_first:
        spheres = spheres[1:2] + spheres[:1] + spheres[2:]
    c, r, s = zip(*spheres)
    labels, names = voxelize(packing(c, r, s, box, sep=8e-6), h)
    code = {v: k for k, v in names.items()}
    at = lambda x, y, z: labels[int(x / h), int(y / h), int(z / h)]  # noqa: E731
    assert at(29.6e-6, 10.1e-6, 10.1e-6) == code["active"]  # in both spheres: active wins
    assert at(34.5e-6, 10.1e-6, 10.1e-6) == code["filler"]
    assert at(38.5e-6, 10.1e-6, 10.1e-6) == code["polymer"]
    # separator below x = 8 um even inside the sphere (centres 7.5 um), the sphere above
    assert at(7.5e-6, 10.5e-6, 10.5e-6) == code["separator"]
    assert at(8.5e-6, 10.5e-6, 10.5e-6) == code["active"]
    assert np.all(labels[:8] == code["separator"]) and not np.any(labels[8:] == code["separator"])


def test_voxelize_periodic_wrap():
    h = 1e-6
    p = packing([[15e-6, 0.0, 9.5e-6]], [4e-6], [0], [30e-6, 20e-6, 20e-6], sep=5e-6, names=("active",))
    labels, _ = voxelize(p, h)
    act = labels == 2
    assert act[:, 0].any() and act[:, -1].any()
    assert np.array_equal(act, act[:, ::-1, :])  # symmetric about y = 0 (= y = L)
    assert np.count_nonzero(act) == pytest.approx(4 / 3 * np.pi * 4**3, rel=0.05)
    mesh = from_labels(labels, h, {0: "separator", 1: "polymer", 2: "active"})
    pair_periodic(mesh, "ymin", "ymax", (0, 20e-6, 0), rel_tol=1e-9)


def test_voxel_counts_must_fit_the_box():
    assert voxel_counts([120e-6, 40e-6, 40e-6], 0.5e-6) == (240, 80, 80)
    with pytest.raises(ValueError, match="whole number of voxels"):
        voxel_counts([120e-6, 40e-6, 40e-6], 0.3e-6)
    with pytest.raises(ValueError, match="voxel_size"):
        voxel_counts([120e-6, 40e-6, 40e-6], 0.0)


# ---------------------------------------------------------------------------- files
def test_read_label_image(tmp_path, image):
    np.save(tmp_path / "a.npy", image)
    assert np.array_equal(read_label_image(tmp_path / "a.npy"), image)
    image.tofile(tmp_path / "a.raw")
    assert np.array_equal(read_label_image(tmp_path / "a.raw", image.shape, image.dtype), image)
    zyx = np.ascontiguousarray(image.transpose(2, 1, 0))
    zyx.tofile(tmp_path / "b.raw")
    assert np.array_equal(read_label_image(tmp_path / "b.raw", zyx.shape, zyx.dtype, axes="zyx"), image)
    with pytest.raises(ValueError, match="shape"):
        read_label_image(tmp_path / "a.raw")
    with pytest.raises(ValueError, match="bytes"):
        read_label_image(tmp_path / "a.raw", (6, 5, 5), image.dtype)
    with pytest.raises(FileNotFoundError):
        read_label_image(tmp_path / "missing.npy")
    try:
        import tifffile
    except ImportError:
        (tmp_path / "a.tif").write_bytes(b"")
        with pytest.raises(ImportError, match="pip install tifffile"):
            read_label_image(tmp_path / "a.tif")
    else:
        tifffile.imwrite(tmp_path / "a.tif", zyx, photometric="minisblack")
        assert np.array_equal(read_label_image(tmp_path / "a.tif"), image)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("version", [4.1, 2.2])
def test_write_msh_round_trip(tmp_path, image, split, version):
    mesh = from_labels(image, H, NAMES, split_tets=split, keep=["active", "polymer"],
                       patches={"xmin": "anode", "xmax": "collector"})
    path = tmp_path / "v.msh"
    order = write_msh(mesh, path, version=version)
    assert np.array_equal(order, np.arange(mesh.n_cells))
    back = read(path)
    assert back.region_names == mesh.region_names and back.patch_names == mesh.patch_names
    assert np.array_equal(back.cell_region, mesh.cell_region)
    assert np.array_equal(back.cell_nface, mesh.cell_nface)
    assert np.allclose(back.cell_centres, mesh.cell_centres, rtol=0, atol=1e-18)
    assert back.n_internal == mesh.n_internal
    for p in mesh.patch_names:
        assert back.face_areas[back.patch_faces(p)].sum() == pytest.approx(mesh.face_areas[mesh.patch_faces(p)].sum(), rel=1e-12, abs=0)


def test_write_msh_interleaved_regions(tmp_path, image):
    """Cells whose regions interleave beyond max_blocks are written sorted by region."""
    _, arrays = from_labels(image, H, NAMES, return_arrays=True)
    perm = np.random.default_rng(0).permutation(image.size)
    arrays["cell_nodes"] = arrays["cell_nodes"][perm]
    arrays["cell_region"] = arrays["cell_region"][perm]
    mesh = Mesh(**arrays)
    with pytest.warns(UserWarning, match="sorted by region"):
        order = write_msh(mesh, tmp_path / "i.msh", max_blocks=5)
    back = read(tmp_path / "i.msh")
    assert np.array_equal(back.cell_region, mesh.cell_region[order])
    assert np.allclose(back.cell_centres, mesh.cell_centres[order], rtol=0, atol=1e-18)
