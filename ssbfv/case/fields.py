"""Field output for ParaView: XDMF 3 + HDF5, written so that a killed run leaves readable files.

Files in the results directory:

- ``fields.h5``: the mesh, written once: ``/mesh/points`` (n, 3) [m], ``/mesh/topology`` (cell
  connectivity; a flat XDMF "Mixed" array when tets and hexes are mixed), ``/mesh/region``
  (region index per cell), ``/interface/topology`` (the solid/electrolyte interface faces as
  triangles/quadrilaterals on the same points) and ``/interface/face`` (their mesh face ids);
- ``fields/step_NNNNNN.h5``: one file per snapshot, attribute ``time_s``; datasets per cell
  (NaN in cells where the field does not live): ``c_s`` [mol/m^3], ``chi`` = c_s / c_s,max [-],
  ``phi_s`` [V] (solid cells), ``c_e`` [mol/m^3], ``phi_e`` [V] (electrolyte cells); per
  interface face: ``i_bv`` [A/m^2] (> 0 anodic);
- ``fields.xdmf`` (cells) and ``interface.xdmf`` (interface faces): temporal collections of the
  snapshots, built with xml.etree and replaced atomically (temporary file + rename) after each
  snapshot file is complete.

HDF5 is not safe against a kill in the middle of a write, so no file is ever appended to: a
snapshot is written to its own file first and only then referenced; a kill leaves at worst an
unreferenced partial snapshot file, which the next writer (``append=True``) deletes.
ParaView opens ``fields.xdmf`` with its XDMF3 reader; meshio's ``TimeSeriesReader`` reads both.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np

XDMF_TET, XDMF_HEX, XDMF_TRI, XDMF_QUAD = 6, 9, 4, 5
CELL_FIELDS = {"c_s": "mol/m^3", "chi": "1", "phi_s": "V", "c_e": "mol/m^3", "phi_e": "V"}


def _topology(nodes: np.ndarray, n_nodes: np.ndarray, kinds: dict) -> tuple[str, np.ndarray, int]:
    """(XDMF topology type, array, number of elements) for rows of -1-padded node lists."""
    n = nodes.shape[0]
    sizes = np.unique(n_nodes)
    if sizes.size == 1:
        k = int(sizes[0])
        return kinds[k][0], np.ascontiguousarray(nodes[:, :k], dtype=np.int64), n
    flat = np.empty(int(n + n_nodes.sum()), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(n_nodes + 1)[:-1]])
    flat[starts] = np.array([kinds[int(k)][1] for k in sizes])[np.searchsorted(sizes, n_nodes)]
    for k in sizes:
        rows = np.flatnonzero(n_nodes == k)
        idx = starts[rows][:, None] + 1 + np.arange(k)[None, :]
        flat[idx] = nodes[rows, :k]
    return "Mixed", flat, n


def _data_item(parent, h5file: str, path: str, shape, dtype):
    kind = "Float" if np.issubdtype(dtype, np.floating) else "Int"
    el = ET.SubElement(parent, "DataItem", DataType=kind, Dimensions=" ".join(map(str, shape)),
                       Format="HDF", Precision=str(np.dtype(dtype).itemsize))
    el.text = f"{h5file}:{path}"
    return el


class FieldWriter:
    """Writes snapshots of a half-cell state (see the module docstring).

    directory : results directory; layout : HalfCellLayout; model : HalfCellModel (for
    phi_e and c_s,max). append : keep existing snapshots (a resumed run), dropping those
    later than ``truncate_after`` [s] and any unreferenced partial file.
    """

    def __init__(self, directory, layout, model, append: bool = False, truncate_after: float | None = None):
        self.dir = Path(directory)
        self.steps_dir = self.dir / "fields"
        self.layout, self.model = layout, model
        mesh = layout.mesh
        self.n_cells = mesh.n_cells
        self.solid_cells = layout.solid.cells
        self.electrolyte_cells = layout.electrolyte.cells
        self.if_faces = layout.solid.b_face[layout.solid_b]
        cn = mesh.cell_nodes
        self.cell_topo = _topology(cn, np.where(mesh.cell_nface == 4, 4, 8), {4: ("Tetrahedron", XDMF_TET),
                                                                          8: ("Hexahedron", XDMF_HEX)})
        fn = mesh.face_nodes[self.if_faces]
        self.face_topo = _topology(fn, np.where(fn[:, 3] >= 0, 4, 3), {3: ("Triangle", XDMF_TRI),
                                                                      4: ("Quadrilateral", XDMF_QUAD)})
        self.points_shape = mesh.points.shape
        self._steps: list[tuple[float, str]] = []
        self.steps_dir.mkdir(parents=True, exist_ok=True)
        drop = sorted(self.steps_dir.glob("step_*.h5*"))
        if append:
            self._steps, drop = self._existing(truncate_after)
        # the XDMF stops referencing what is dropped before it is deleted: a kill in between
        # leaves at worst unreferenced files
        self._write_mesh(mesh)
        self._write_xdmf()
        for f in drop:
            f.unlink(missing_ok=True)

    # ------------------------------------------------------------------ files
    def _existing(self, truncate_after):
        """(snapshots to keep [(t, name)], files to delete: partial ones and those after
        ``truncate_after``)."""
        steps, drop = [], []
        for f in sorted(self.steps_dir.glob("step_*.h5*")):
            try:
                if f.suffix != ".h5":
                    raise OSError("partial")
                with h5py.File(f, "r") as h:
                    t = float(h.attrs["time_s"])
            except (OSError, KeyError):
                drop.append(f)  # a partial snapshot of a killed run
                continue
            if truncate_after is not None and t > truncate_after * (1 + 1e-12) + 1e-12:
                drop.append(f)
                continue
            steps.append((t, f.name))
        return steps, drop

    def _write_mesh(self, mesh):
        tmp = self.dir / "fields.h5.tmp"
        with h5py.File(tmp, "w") as h:
            g = h.create_group("mesh")
            g.create_dataset("points", data=mesh.points).attrs["unit"] = "m"
            g.create_dataset("topology", data=self.cell_topo[1]).attrs["type"] = self.cell_topo[0]
            g.create_dataset("region", data=mesh.cell_region.astype(np.int32))
            g.attrs["region_names"] = ",".join(mesh.region_names)
            i = h.create_group("interface")
            i.create_dataset("topology", data=self.face_topo[1]).attrs["type"] = self.face_topo[0]
            i.create_dataset("face", data=self.if_faces.astype(np.int64))
        os.replace(tmp, self.dir / "fields.h5")

    def write(self, state) -> None:
        """One snapshot at ``state.t`` [s]."""
        name = f"step_{len(self._steps):06d}.h5"
        part = self.steps_dir / (name + ".part")
        cells = {k: np.full(self.n_cells, np.nan) for k in CELL_FIELDS}
        cells["c_s"][self.solid_cells] = state.c_s
        cells["chi"][self.solid_cells] = state.c_s / self.model.c_s_max
        cells["phi_s"][self.solid_cells] = state.phi_s_absolute()
        cells["c_e"][self.electrolyte_cells] = state.c_e
        cells["phi_e"][self.electrolyte_cells] = self.model.phi_e(state)
        with h5py.File(part, "w") as h:
            h.attrs["time_s"] = float(state.t)
            for k, v in cells.items():
                h.create_dataset(k, data=v).attrs["unit"] = CELL_FIELDS[k]
            h.create_dataset("i_bv", data=np.asarray(state.i_if, dtype=np.float64)).attrs["unit"] = "A/m^2"
        os.replace(part, self.steps_dir / name)
        self._steps.append((float(state.t), name))
        self._write_xdmf()

    def _write_xdmf(self):
        self._xdmf("fields.xdmf", "mesh", self.cell_topo, [(k, "Cell") for k in CELL_FIELDS] + [("region", "Cell")],
                   self.n_cells)
        self._xdmf("interface.xdmf", "interface", self.face_topo, [("i_bv", "Cell")], self.if_faces.size)

    def _xdmf(self, fname, group, topo, attrs, n_items):
        root = ET.Element("Xdmf", Version="3.0")
        dom = ET.SubElement(root, "Domain")
        coll = ET.SubElement(dom, "Grid", Name="TimeSeries", GridType="Collection", CollectionType="Temporal")
        for t, step in self._steps:
            g = ET.SubElement(coll, "Grid", Name=f"t={t:.6g}", GridType="Uniform")
            ET.SubElement(g, "Time", Value=repr(float(t)))
            top = ET.SubElement(g, "Topology", TopologyType=topo[0], NumberOfElements=str(topo[2]))
            _data_item(top, "fields.h5", f"/{group}/topology", topo[1].shape, np.int64)
            geo = ET.SubElement(g, "Geometry", GeometryType="XYZ")
            _data_item(geo, "fields.h5", "/mesh/points", self.points_shape, np.float64)
            for name, centre in attrs:
                a = ET.SubElement(g, "Attribute", Name=name, AttributeType="Scalar", Center=centre)
                if name == "region":
                    _data_item(a, "fields.h5", "/mesh/region", (n_items,), np.int32)
                else:
                    _data_item(a, f"fields/{step}", f"/{name}", (n_items,), np.float64)
        tree = ET.ElementTree(root)
        ET.indent(tree)
        tmp = self.dir / (fname + ".tmp")
        tree.write(tmp, xml_declaration=True, encoding="utf-8")
        os.replace(tmp, self.dir / fname)

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self._steps]

    def close(self) -> None:
        """Nothing is held open between snapshots; kept for symmetry with the other writers."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
