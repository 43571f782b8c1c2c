"""Descriptors: volume fractions, contact area and D_SCA (spheres, a lens of two spheres, on tet
meshes and voxels), bad input, JSON contract of ``ssbfv describe`` (through run_describe)."""

import argparse
import json

import numpy as np
import pytest

from ssbfv.mesh import read
from ssbfv.mesh.generate import gmsh_session
from ssbfv.microstructure import describe
from ssbfv.microstructure.describe import add_describe_arguments, run_describe
from ssbfv.microstructure.surface import voxel_contact_area


# ---------------------------------------------------------------------------- geometry
def union_of_two_spheres(r1, r2, d):
    """Volume and surface area of the union of two spheres of radii r1, r2 at distance d
    (|r1 - r2| < d < r1 + r2): each sphere loses a cap inside the other."""
    x = (d * d + r1 * r1 - r2 * r2) / (2 * d)  # plane of the intersection circle from centre 1
    h1, h2 = r1 - x, r2 - (d - x)  # cap heights
    cap_v = lambda r, h: np.pi * h * h * (3 * r - h) / 3  # noqa: E731
    v = 4 / 3 * np.pi * (r1**3 + r2**3) - cap_v(r1, h1) - cap_v(r2, h2)
    s = 4 * np.pi * (r1**2 + r2**2) - 2 * np.pi * (r1 * h1 + r2 * h2)
    return v, s


def spheres_in_box_mesh(path, centres, radii, box, h):
    """gmsh tets of spheres (region ``am``, fused) in a box (region ``se``), in the units given."""
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        b = occ.addBox(0, 0, 0, *box)
        balls = [(3, occ.addSphere(*c, r)) for c, r in zip(centres, radii)]
        if len(balls) > 1:
            balls, _ = occ.fuse(balls[:1], balls[1:])
        _, out_map = occ.fragment([(3, b)], balls)
        occ.synchronize()
        am = [t for _, t in balls]
        se = [t for _, t in out_map[0] if t not in am]
        gmsh.model.addPhysicalGroup(3, am, name="am")
        gmsh.model.addPhysicalGroup(3, se, name="se")
        gmsh.option.setNumber("Mesh.MeshSizeMin", h)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(path))
    return read(path)


def ball_image(shape, centres, radii, inside=2, outside=1):
    g = [np.arange(n) + 0.5 for n in shape]
    X, Y, Z = np.meshgrid(*g, indexing="ij")
    img = np.full(shape, outside, dtype=np.uint8)
    for c, r in zip(centres, radii):
        img[(X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2 <= r * r] = inside
    return img


# ---------------------------------------------------------------------------- fractions
def test_volume_fractions_and_units():
    img = np.zeros((4, 5, 6), dtype=np.int16)
    img[:2] = 7
    img[2:, :2] = 3
    img[3, 4, 5] = -2
    d = describe(img, {"a": [7], "b": [0, -2], "c": [3]}, voxel_size=0.5e-6, axes="none")
    assert d.volume_fraction == {"a": 0.5, "b": pytest.approx((2 * 3 * 6) / 120), "c": pytest.approx(24 / 120)}
    assert d.total_volume == pytest.approx(120 * 0.5e-6**3, abs=0)
    assert d.voxel_size == 0.5e-6 and d.shape == [4, 5, 6]
    assert d.tortuosity == {}


# ---------------------------------------------------------------------------- spheres
def test_dsca_of_a_sphere_on_a_tet_mesh(tmp_path):
    """D_SCA = 6 V / S of one sphere is its diameter (exact interface faces; the faceting of
    the gmsh sphere changes V and S by O(h^2 / R^2) and mostly cancels)."""
    mesh = spheres_in_box_mesh(tmp_path / "ball.msh", [(1.5, 1.5, 1.5)], [1.0], (3.0, 3.0, 3.0), 0.15)
    d = describe(mesh, {"am": ["am"], "se": ["se"]}, active="am", axes=None)
    assert d.d_sca == pytest.approx(2.0, rel=0.02)
    assert d.contact_area == pytest.approx(4 * np.pi, rel=0.03)
    assert d.contact_area_per_volume == pytest.approx(d.contact_area / 27.0, rel=1e-12)
    assert d.volume_fraction["am"] == pytest.approx(4 / 3 * np.pi / 27, rel=0.03)


@pytest.mark.parametrize("radius, offset", [(10, 0.0), (10, 0.3), (14, 0.2)])
def test_dsca_of_a_voxel_sphere(radius, offset):
    n = 2 * radius + 8
    c = n / 2 + offset
    img = ball_image((n, n, n), [(c, c, c)], [radius])
    h = 0.25e-6
    d = describe(img, {"am": [2], "se": [1]}, voxel_size=h, active="am", axes=None)
    assert d.d_sca == pytest.approx(2 * radius * h, rel=0.02)
    assert d.contact_area == pytest.approx(4 * np.pi * (radius * h) ** 2, rel=0.02, abs=0)
    # the raw face count is ~1.5x: the estimate must not be that
    faces = sum(np.count_nonzero(np.diff(img.astype(np.int8), axis=a)) for a in range(3)) * h * h
    assert faces / d.contact_area > 1.4


def test_lens_of_two_spheres(tmp_path):
    """Union of two overlapping spheres against the closed form (volume and area)."""
    r1, r2, dist = 1.0, 0.8, 1.2
    v, s = union_of_two_spheres(r1, r2, dist)
    mesh = spheres_in_box_mesh(tmp_path / "lens.msh", [(1.4, 1.5, 1.5), (1.4 + dist, 1.5, 1.5)], [r1, r2],
                               (4.0, 3.0, 3.0), 0.12)
    d = describe(mesh, {"am": ["am"], "se": ["se"]}, active="am", axes=None)
    assert d.active_volume == pytest.approx(v, rel=0.02)
    assert d.contact_area == pytest.approx(s, rel=0.02)
    assert d.d_sca == pytest.approx(6 * v / s, rel=0.02)
    # voxels: 12 voxels per unit length
    k = 12
    img = ball_image((48, 36, 36), [(1.4 * k, 18.1, 18.2), ((1.4 + dist) * k, 18.1, 18.2)], [r1 * k, r2 * k])
    d = describe(img, {"am": [2], "se": [1]}, voxel_size=1.0 / k, active="am", axes=None)
    assert d.active_volume == pytest.approx(v, rel=0.01)
    assert d.contact_area == pytest.approx(s, rel=0.03)
    assert d.d_sca == pytest.approx(6 * v / s, rel=0.03)


def test_contact_counts_only_named_other_phases():
    """A sphere half in phase se, half in unmapped label 5 (ignored) and cut by the image
    side: the contact is the se half only; per-phase areas add up."""
    n, r = 40, 12
    img = ball_image((n, n, n), [(20.2, 20.1, 0.0)], [r])  # centred on the z = 0 side
    img[:20][img[:20] == 1] = 5  # x < 20: the outside of the sphere is label 5
    d = describe(img, {"am": [2], "se": [1]}, voxel_size=1.0, active="am", axes=None, ignore_unmapped=True)
    half_cap = 0.5 * 2 * np.pi * r * r  # half of the hemisphere z > 0
    assert d.contact_area == pytest.approx(half_cap, rel=0.05)
    assert d.contact_area_by_phase == {"se": pytest.approx(d.contact_area)}
    assert d.unmapped_fraction > 0 and any("belong to no phase" in w for w in d.warnings)
    img[img == 5] = 3
    d2 = describe(img, {"am": [2], "se": [1], "pore": [3]}, voxel_size=1.0, active="am", axes=None)
    assert d2.contact_area_by_phase["se"] == pytest.approx(d.contact_area, rel=1e-12)
    assert d2.contact_area_by_phase["pore"] == pytest.approx(half_cap, rel=0.05)
    assert d2.contact_area == pytest.approx(sum(d2.contact_area_by_phase.values()))


def test_voxel_area_independent_of_slabs():
    img = ball_image((30, 24, 24), [(15.2, 12.1, 11.7)], [9])
    idx = (img == 1).astype(np.int8)  # phase 0 = am, 1 = se
    a = voxel_contact_area(idx, 0, (1.0, 1.0, 1.0), slab=64)
    b = voxel_contact_area(idx, 0, (1.0, 1.0, 1.0), slab=5)
    assert b.total == pytest.approx(a.total, rel=1e-7)  # marching cubes works in float32


# ---------------------------------------------------------------------------- tortuosity
def test_non_percolating_phase_gives_null_and_a_warning(tmp_path):
    img = np.ones((8, 6, 6), dtype=np.uint8)
    img[:5, 2:4, 2:4] = 2  # reaches x = 0 only
    d = describe(img, {"am": [2], "se": [1]}, voxel_size=1e-6, active="am")
    assert d.tortuosity["am"]["x"] is None
    assert d.tortuosity["am"]["y"] is None and d.tortuosity["am"]["z"] is None
    assert d.tortuosity["se"]["x"] > 1.0
    table = d.format_table()
    assert "warning: phase am does not percolate along x" in table
    out = tmp_path / "d.json"
    d.write_json(out)
    data = json.loads(out.read_text())
    assert data["tortuosity"]["am"]["x"] is None
    assert data["tortuosity"]["se"]["x"] == pytest.approx(d.tortuosity["se"]["x"])


def test_mesh_and_image_descriptors_agree():
    from ssbfv.mesh import from_labels

    rng = np.random.default_rng(5)
    img = rng.choice(np.array([1, 2, 3], dtype=np.uint8), size=(10, 9, 8), p=[0.5, 0.3, 0.2])
    h = (1e-6, 1.5e-6, 0.8e-6)
    d = describe(img, {"se": [1], "am": [2], "x": [3]}, voxel_size=h, tol=1e-11, imbalance_tol=1e-11)
    mesh = from_labels(img, h, {1: "se", 2: "am", 3: "x"})
    dm = describe(mesh, {"se": ["se"], "am": ["am"], "x": ["x"]})
    for p in ("se", "am"):
        assert dm.volume_fraction[p] == pytest.approx(d.volume_fraction[p], rel=1e-12)
        for a in "xyz":
            t, tm = d.tortuosity[p][a], dm.tortuosity[p][a]
            assert (t is None) == (tm is None)
            if t is not None:
                assert tm == pytest.approx(t, rel=1e-6)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    img = np.ones((5, 5, 5), dtype=np.uint8)
    img[2:] = 2
    with pytest.raises(ValueError, match=r"label values \[2\] occur in the image but belong to no phase"):
        describe(img, {"se": [1]}, voxel_size=1e-6)
    with pytest.raises(ValueError, match=r"label values \[9\] given in the phases do not occur"):
        describe(img, {"se": [1], "am": [2, 9]}, voxel_size=1e-6)
    with pytest.raises(ValueError, match="voxel size is missing"):
        describe(img, {"se": [1], "am": [2]})
    with pytest.raises(ValueError, match="voxel size"):
        describe(img, {"se": [1], "am": [2]}, voxel_size=0.0)
    with pytest.raises(ValueError, match="active phase 'cam' is not one of the phases"):
        describe(img, {"se": [1], "am": [2]}, voxel_size=1e-6, active="cam")
    with pytest.raises(ValueError, match="given for phase 'se' and for phase 'am'"):
        describe(img, {"se": [1], "am": [1, 2]}, voxel_size=1e-6)
    with pytest.raises(ValueError, match="which is empty"):
        describe(img, {"se": [1], "am": [2], "void": [9]}, voxel_size=1e-6, allow_missing=True)
    d = describe(img, {"se": [1], "am": [2], "void": [9]}, voxel_size=1e-6, allow_missing=True,
                 tortuosity_phases=["am"], axes="y")
    assert d.volume_fraction["void"] == 0.0 and d.tortuosity == {"am": {"y": pytest.approx(1.0)}}
    d = describe(img, {"se": [1]}, voxel_size=1e-6, ignore_unmapped=True, axes="y")
    assert d.volume_fraction["se"] == pytest.approx(0.4) and d.tortuosity["se"]["y"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="axis"):
        describe(img, {"se": [1], "am": [2]}, voxel_size=1e-6, axes="x,q")


# ---------------------------------------------------------------------------- command line
def parser():
    p = argparse.ArgumentParser(prog="ssbfv describe")
    add_describe_arguments(p)
    return p


def test_cli_json_contract(tmp_path, capsys):
    img = ball_image((24, 20, 20), [(12.3, 10.1, 9.8)], [7])
    img[:, :, 15:] = 3  # a slab of another electrolyte along x
    src = tmp_path / "img.npy"
    np.save(src, img)
    out = tmp_path / "out.json"
    args = parser().parse_args([str(src), "--voxel-size", "0.5e-6", "--phase", "am=2", "--phase", "se=1,3",
                                "--active", "am", "--axes", "x,y,z", "--json", str(out)])
    assert run_describe(args) == 0
    table = capsys.readouterr().out
    assert "D_SCA" in table and "tau_x" in table
    data = json.loads(out.read_text())
    assert data["voxel_size"] == 0.5e-6
    assert set(data["volume_fraction"]) == {"am", "se"}
    assert data["volume_fraction"]["am"] == pytest.approx(np.mean(img == 2))
    assert set(data["tortuosity"]["se"]) == {"x", "y", "z"}
    assert data["tortuosity"]["am"]["x"] is None  # a single particle does not percolate
    assert data["tortuosity"]["se"]["x"] > 1.0
    v = np.count_nonzero(img == 2) * 0.5e-6**3
    assert data["d_sca"] == pytest.approx(6 * v / data["contact_area"], rel=1e-12)
    assert data["d_sca"] == pytest.approx(14 * 0.5e-6, rel=0.03)
    assert data["contact_area_per_volume"] == pytest.approx(data["contact_area"] / (img.size * 0.5e-6**3))

    # raw file with its shape and dtype, axes z, y, x as stored
    raw = tmp_path / "img.raw"
    np.ascontiguousarray(np.transpose(img, (2, 1, 0))).astype("<u2").tofile(raw)
    out2 = tmp_path / "out2.json"
    args = parser().parse_args([str(raw), "--voxel-size", "0.5e-6", "--phase", "am=2", "--phase", "se=1,3",
                                "--active", "am", "--raw-shape", "20,20,24", "--raw-dtype", "<u2",
                                "--image-axes", "zyx", "--axes", "none", "--json", str(out2), "--quiet"])
    assert run_describe(args) == 0
    data2 = json.loads(out2.read_text())
    assert data2["d_sca"] == pytest.approx(data["d_sca"], rel=1e-12)
    assert data2["tortuosity"] == {}


def test_cli_tiff_stack(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    img = ball_image((16, 14, 12), [(8.1, 7.2, 6.3)], [5])
    tifffile.imwrite(tmp_path / "img.tif", np.ascontiguousarray(np.transpose(img, (2, 1, 0))))
    out = tmp_path / "t.json"
    args = parser().parse_args([str(tmp_path / "img.tif"), "--voxel-size", "1e-6", "--phase", "am=2",
                                "--phase", "se=1", "--active", "am", "--axes", "x", "--json", str(out), "--quiet"])
    run_describe(args)
    d = describe(img, {"am": [2], "se": [1]}, voxel_size=1e-6, active="am", axes="x")
    assert json.loads(out.read_text())["d_sca"] == pytest.approx(d.d_sca, rel=1e-12)


def test_cli_errors(tmp_path):
    src = tmp_path / "img.npy"
    np.save(src, np.ones((3, 3, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="--voxel-size"):
        run_describe(parser().parse_args([str(src), "--phase", "a=1"]))
    with pytest.raises(ValueError, match="NAME=L1"):
        run_describe(parser().parse_args([str(src), "--voxel-size", "1e-6", "--phase", "a"]))
    with pytest.raises(ValueError, match="integers"):
        run_describe(parser().parse_args([str(src), "--voxel-size", "1e-6", "--phase", "a=one"]))
    with pytest.raises(ValueError, match="at least one phase"):
        run_describe(parser().parse_args([str(src), "--voxel-size", "1e-6"]))
    with pytest.raises(ValueError, match="--voxel-size"):
        run_describe(parser().parse_args([str(src), "--voxel-size", "1e-6,2e-6", "--phase", "a=1"]))
    with pytest.raises(ValueError, match="given twice"):
        run_describe(parser().parse_args([str(src), "--voxel-size", "1e-6", "--phase", "a=1", "--phase", "a=2"]))
    with pytest.raises(SystemExit):  # argparse: the image is required
        parser().parse_args([])


def test_mesh_phases_are_region_names(tmp_path):
    mesh = spheres_in_box_mesh(tmp_path / "b.msh", [(1.0, 1.0, 1.0)], [0.6], (2.0, 2.0, 2.0), 0.25)
    with pytest.raises(ValueError, match=r"mesh regions \['se'\] belong to no phase"):
        describe(mesh, {"am": ["am"]}, axes=None)
    with pytest.raises(ValueError, match=r"regions \['pore'\] given in the phases are not in the mesh"):
        describe(mesh, {"am": ["am"], "se": ["se", "pore"]}, axes=None)
    with pytest.raises(ValueError, match="no patches"):  # this mesh has no xmin/xmax patches
        describe(mesh, {"am": ["am"], "se": ["se"]}, axes="x")
