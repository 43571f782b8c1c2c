"""Label images: rasterising a Packing on a voxel grid, and reading images from files.

    labels, names = voxelize(packing, 0.5e-6)
    mesh = ssbfv.mesh.voxel.from_labels(labels, 0.5e-6, names,
                                        patches={"xmin": "anode", "xmax": "collector"})

The grid covers the half-cell box [0, box[0]] x [0, box[1]) x [0, box[2]) with array axes
0, 1, 2 = x, y, z; voxel (i, j, k) is sampled at its centre ((i, j, k) + 0.5) * h. A voxel
takes the label of the highest-priority phase at its centre (DESIGN.md §1):

    species 0 (active) > species 1 > ... > polymer (rest of the cathode) > separator

and every voxel whose centre lies below the separator plane (x < separator_thickness) is
separator, also inside a sphere (the spheres are trimmed by the cathode slab). Spheres
wrap periodically in y and z (a sphere centred at y = 0 shows at both y sides of the
image), so the image is periodic in y and z. Label values: 0 = separator, 1 = polymer,
2 + s = species s. All lengths in m.
"""

from __future__ import annotations

import glob
import os

import numba as nb
import numpy as np

SEPARATOR_LABEL = 0
POLYMER_LABEL = 1


@nb.njit(cache=True)
def _paint(labels, centres, radii, values, h, i_first):
    """Paint spheres into ``labels`` in the given order (later spheres win).

    A voxel is inside when the squared distance from its centre to the sphere centre (or
    to one of its periodic images in y, z) is <= r^2; voxels with i < i_first (separator)
    are never painted. Work per sphere: its bounding box of voxels.
    """
    nx, ny, nz = labels.shape
    for s in range(centres.shape[0]):
        cx, cy, cz = centres[s, 0], centres[s, 1], centres[s, 2]
        r = radii[s]
        r2 = r * r
        v = values[s]
        i0 = max(i_first, int(np.floor((cx - r) / h[0] - 0.5)))
        i1 = min(nx - 1, int(np.ceil((cx + r) / h[0] - 0.5)))
        j0 = int(np.floor((cy - r) / h[1] - 0.5))
        j1 = int(np.ceil((cy + r) / h[1] - 0.5))
        k0 = int(np.floor((cz - r) / h[2] - 0.5))
        k1 = int(np.ceil((cz + r) / h[2] - 0.5))
        for i in range(i0, i1 + 1):
            dx = (i + 0.5) * h[0] - cx
            rx = r2 - dx * dx
            if rx < 0.0:
                continue
            for j in range(j0, j1 + 1):
                dy = (j + 0.5) * h[1] - cy
                ry = rx - dy * dy
                if ry < 0.0:
                    continue
                jj = j % ny
                for k in range(k0, k1 + 1):
                    dz = (k + 0.5) * h[2] - cz
                    if dz * dz <= ry:
                        labels[i, jj, k % nz] = v
    return labels


def voxel_counts(box, voxel_size, rel_tol: float = 1e-6) -> tuple[int, int, int]:
    """Voxels per axis for a box [m] and a voxel edge [m]; ValueError unless every box
    extent is a whole number of voxels (within rel_tol), naming sizes that fit."""
    h = float(voxel_size)
    if not np.isfinite(h) or h <= 0.0:
        raise ValueError(f"voxel_size must be finite and > 0 [m], got {voxel_size!r}")
    out = []
    for axis, length in zip("xyz", np.asarray(box, dtype=np.float64)):
        n = length / h
        m = max(1, int(round(n)))
        if abs(n - m) > rel_tol * max(1.0, n):
            lo, hi = max(1, int(np.floor(n))), int(np.ceil(n))
            raise ValueError(
                f"box {axis} extent {length:.6g} m is not a whole number of voxels of {h:.6g} m "
                f"({n:.4f}); voxel sizes that fit: {length / hi:.6g} or {length / lo:.6g} m"
            )
        out.append(m)
    return tuple(out)


def voxelize(packing, voxel_size: float, polymer: str = "polymer", separator: str = "separator"):
    """Rasterise a Packing on a cubic voxel grid.

    Parameters
    ----------
    packing : Packing (box, separator_thickness, spheres; m)
    voxel_size : voxel edge [m]; every box extent must be a whole number of voxels
    polymer, separator : region names of the cathode rest and of the separator slab

    Returns (labels, names): labels (nx, ny, nz) uint8 with axes x, y, z, and names
    {label: region name} = {0: separator, 1: polymer, 2 + s: species_names[s]}.
    """
    names = {SEPARATOR_LABEL: separator, POLYMER_LABEL: polymer}
    for s, sp in enumerate(packing.species_names):
        names[2 + s] = sp
    if len(set(names.values())) != len(names):
        raise ValueError(f"region names must be distinct, got {list(names.values())}")
    if len(names) > 255:
        raise ValueError("at most 253 species fit a uint8 label image")
    nx, ny, nz = voxel_counts(packing.box, voxel_size)
    h = np.asarray(packing.box, dtype=np.float64) / np.array([nx, ny, nz])
    labels = np.empty((nx, ny, nz), dtype=np.uint8)
    # separator: voxel centres below the separator plane (same test as in _paint)
    i_first = int(np.count_nonzero((np.arange(nx) + 0.5) * h[0] < packing.separator_thickness))
    labels[:i_first] = SEPARATOR_LABEL
    labels[i_first:] = POLYMER_LABEL
    # paint the last species first so that species 0 (active) ends on top
    order = np.argsort(-packing.species, kind="stable")
    values = (2 + packing.species[order]).astype(np.uint8)
    _paint(labels, packing.centres[order], packing.radii[order], values, h, i_first)
    return labels, names


# ---------------------------------------------------------------------------- files
def _to_xyz(arr: np.ndarray, axes: str) -> np.ndarray:
    """Transpose an array whose axes are named by ``axes`` (a permutation of "xyz") to
    (x, y, z)."""
    axes = axes.lower()
    if sorted(axes) != ["x", "y", "z"]:
        raise ValueError(f"axes must be a permutation of 'xyz', got {axes!r}")
    if arr.ndim != 3:
        raise ValueError(f"a label image must be 3D, got shape {arr.shape}")
    return np.ascontiguousarray(np.transpose(arr, [axes.index(a) for a in "xyz"]))


def read_label_image(path, shape=None, dtype=None, axes=None, order="C"):
    """Read a 3D label image and return it with axes (x, y, z).

    Parameters
    ----------
    path : .npy file; .raw (or .bin/.dat) headerless file, which needs ``shape`` and
        ``dtype``; .tif/.tiff multi-page stack, or a folder of single-page .tif/.tiff
        slices (sorted by name), read with the optional package ``tifffile``
    shape, dtype : shape and numpy dtype of a raw file (e.g. (nz, ny, nx), "uint8", "<u2")
    axes : what the stored axes are, a permutation of "xyz"; default "xyz" for .npy and
        raw files, "zyx" for TIFF (pages = z slices of rows y and columns x)
    order : "C" (last axis fastest) or "F" memory order of a raw file

    Raises FileNotFoundError, ValueError (missing shape/dtype, size mismatch, not 3D,
    non-integer data) and ImportError for TIFF without tifffile.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"label image not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if os.path.isdir(path) or ext in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError:
            raise ImportError(
                "reading TIFF label images needs the tifffile package: pip install tifffile"
            ) from None
        if os.path.isdir(path):
            files = sorted(glob.glob(os.path.join(path, "*.tif")) + glob.glob(os.path.join(path, "*.tiff")))
            if not files:
                raise ValueError(f"no .tif/.tiff files in folder {path}")
            arr = np.stack([tifffile.imread(f) for f in files]) if len(files) > 1 else tifffile.imread(files[0])
        else:
            arr = tifffile.imread(path)
        axes = axes or "zyx"
    elif ext == ".npy":
        arr = np.load(path)
        axes = axes or "xyz"
    elif ext in (".raw", ".bin", ".dat"):
        if shape is None or dtype is None:
            raise ValueError(f"{path}: a raw image needs shape=(n0, n1, n2) and dtype (e.g. 'uint8')")
        dt = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        expected = int(np.prod(shape)) * dt.itemsize
        size = os.path.getsize(path)
        if size != expected:
            raise ValueError(
                f"{path}: file has {size} bytes, shape {shape} of {dt} needs {expected}"
            )
        arr = np.fromfile(path, dtype=dt).reshape(shape, order=order)
        axes = axes or "xyz"
    else:
        raise ValueError(f"{path}: unknown label image format {ext!r} (use .npy, .raw, .tif/.tiff)")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise ValueError(f"{path}: label images hold integers, got dtype {arr.dtype}")
    return _to_xyz(arr, axes)
