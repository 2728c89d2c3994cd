"""The editor's document without Qt: its edits, their undo records, the export state, and the
stage-1 map it starts from (the same as `unmasker unmask`'s)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from app import maskedit
from app.document import FACES, MASK, RESULT, Document
from app.errors import UnmaskerError
from app.imageio import read_photo

from .conftest import EXAMPLE, ROOT


@pytest.fixture(scope="module")
def engine(tiny_models):
    from app.inference.engine import Unmasker

    return Unmasker.from_files(tiny_models / "segmenter.safetensors", tiny_models / "inpainter.safetensors", "cpu")


@pytest.fixture
def doc(finder, engine):
    """The example photo opened as the editor opens it: faces and stage 1's map as the start."""
    from app.pipeline import find_faces, segment_photo

    d = Document(read_photo(EXAMPLE), EXAMPLE)
    faces = find_faces(d.original, finder)
    d.apply(d.found_faces(faces, segment_photo(d.original, faces, engine)), record=False)
    return d


def test_the_document_imports_no_qt():
    code = "import sys, app.document, app.pipeline, app.models; print(any(m.startswith('PySide6') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_starting_map_is_the_one_unmasker_unmask_fills(doc, finder, engine):
    from app.pipeline import unmask_photo

    assert len(doc.faces) == 1 and doc.mask.any() and not doc.has_unexported_changes
    assert np.array_equal(doc.mask, unmask_photo(doc.original, finder, engine).photo_map)


def test_edits_undo_and_redo_without_qt(doc):
    seen = []
    doc.listeners.append(lambda what, rect: seen.append(what))
    start = doc.mask.copy()
    # a stroke as the canvas paints it: into the mask, then its record
    before = doc.mask.copy()
    maskedit.dab(doc.mask, 20, 20, 12, 1.0, erase=False)  # a corner, far from the face
    stroke = doc.stroke(maskedit.diff_patch(before, doc.mask), erase=False)
    doc.apply(stroke)
    painted = doc.mask.copy()
    assert painted[20, 20] == 255 and not start[20, 20] and doc.has_unexported_changes
    grow = doc.grow_mask(3)
    assert np.array_equal(doc.mask, painted)  # computing an edit changes nothing
    doc.apply(grow)
    assert doc.mask.sum() > painted.sum()
    skip = doc.include(0, False)
    doc.apply(skip)
    assert doc.included == [False] and doc.selected_faces() == []
    with pytest.raises(UnmaskerError, match="none is selected"):
        doc.invert_mask()
    with pytest.raises(ValueError):
        doc.revert(grow)  # not the last edit in effect
    for edit in (skip, grow, stroke):
        doc.revert(edit)
    assert np.array_equal(doc.mask, start) and doc.included == [True] and not doc.has_unexported_changes
    doc.apply(stroke)  # redo
    assert np.array_equal(doc.mask, painted)
    assert MASK in seen and FACES in seen
    assert doc.include(0, True) is None and doc.grow_mask(0) is None  # nothing to do: no record


def test_export_state_result_and_files(doc, tmp_path):
    with pytest.raises(UnmaskerError, match="unmask first"):
        doc.export(tmp_path / "out.png")
    seen = []
    doc.listeners.append(lambda what, rect: seen.append(what))
    filled = doc.original.copy()
    filled[doc.mask > 127] = (200, 150, 120)
    unmask = doc.unmasked(filled)
    doc.apply(unmask)
    assert doc.result is filled and doc.has_unexported_changes and seen == [RESULT]
    written = doc.export(tmp_path / "out.png")
    assert np.array_equal(read_photo(written).pixels, filled) and not doc.has_unexported_changes
    doc.revert(unmask)  # undone after the export: a change to export again
    assert doc.result is None and doc.has_unexported_changes
    doc.apply(unmask)
    assert not doc.has_unexported_changes
    with pytest.raises(UnmaskerError, match="original"):
        doc.export(EXAMPLE, overwrite=True)  # never over the original
    # the mask map goes out and comes back through one pair of functions
    doc.export_mask(tmp_path / "m.png")
    clear = doc.clear_mask()
    doc.apply(clear)
    assert not doc.mask.any()
    doc.apply(doc.import_mask(tmp_path / "m.png"))
    assert np.array_equal(doc.mask > 127, read_photo(tmp_path / "m.png").pixels[..., 0] > 127)
    Image.new("L", (10, 10)).save(tmp_path / "small.png")
    with pytest.raises(UnmaskerError, match="must match the photo"):
        doc.import_mask(tmp_path / "small.png")
