"""The photo open in the editor, Qt-free: the photo and its original pixels, the photo-space mask,
the faces and which of them are included, the unmasked result, and whether the current state was
exported.

Every edit is a record with `redo(doc)` and `undo(doc)`. The document's edit methods compute the
record without changing anything; `apply` makes it and `revert` takes it back, so the editor's undo
stack (Qt) only holds records and the document, and the same undo logic runs in tests without Qt
(napari's labels layer is the model: a Qt-free layer that owns its data and its edits). A brush
stroke is the one exception: the canvas paints into `mask` live, and the stroke's record (already
in effect) is applied again when it is pushed, which changes nothing (records are idempotent).

Views follow the document through `listeners`: each is called as fn(what, rect) with what one of
MASK (rect = (x, y, w, h) changed, or None for all), FACES or RESULT.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from app import maskedit
from app.errors import UnmaskerError
from app.faces import Face
from app.imageio import Photo, read_mask, write_mask, write_photo

MASK, FACES, RESULT = "mask", "faces", "result"
_serials = itertools.count(1)


@dataclass
class Edit:
    """One undo step."""
    text: str
    serial: int = field(default_factory=lambda: next(_serials), init=False)

    def redo(self, doc: "Document") -> None:
        raise NotImplementedError

    def undo(self, doc: "Document") -> None:
        raise NotImplementedError


@dataclass
class MaskEdit(Edit):
    """A change of the mask, holding only the changed rectangle."""
    patch: maskedit.Patch | None = None

    def redo(self, doc: "Document") -> None:
        self.patch.apply(doc.mask)
        doc.notify(MASK, self.patch.rect)

    def undo(self, doc: "Document") -> None:
        self.patch.apply(doc.mask, undo=True)
        doc.notify(MASK, self.patch.rect)


@dataclass
class FacesEdit(Edit):
    """Faces found, added, included or skipped, with the mask patch that came with them."""
    before: tuple[list[Face], list[bool]] = ((), ())
    after: tuple[list[Face], list[bool]] = ((), ())
    patch: maskedit.Patch | None = None

    def _set(self, doc: "Document", state: tuple, undo: bool) -> None:
        doc.faces, doc.included = list(state[0]), list(state[1])
        if self.patch is not None:
            self.patch.apply(doc.mask, undo=undo)
            doc.notify(MASK, self.patch.rect)
        doc.notify(FACES)

    def redo(self, doc: "Document") -> None:
        self._set(doc, self.after, undo=False)

    def undo(self, doc: "Document") -> None:
        self._set(doc, self.before, undo=True)


@dataclass
class ResultEdit(Edit):
    before: np.ndarray | None = None
    after: np.ndarray | None = None

    def _set(self, doc: "Document", pixels: np.ndarray | None) -> None:
        doc.result = pixels
        doc.notify(RESULT)

    def redo(self, doc: "Document") -> None:
        self._set(doc, self.after)

    def undo(self, doc: "Document") -> None:
        self._set(doc, self.before)


class Document:
    def __init__(self, photo: Photo, path: Path | None = None) -> None:
        self.photo, self.path = photo, path
        self.original: np.ndarray = photo.pixels
        self.mask = np.zeros(self.original.shape[:2], np.uint8)  # 0 keep .. 255 fill
        self.faces: list[Face] = []
        self.included: list[bool] = []
        self.result: np.ndarray | None = None
        self.export_target: Path | None = None  # where "Open in editor" from a batch re-exports to
        self.listeners: list[Callable[[str, tuple | None], None]] = []
        self._applied: list[int] = []  # serials of the edits in effect, oldest first
        self._exported_state = 0

    # -- history -------------------------------------------------------------------------
    def notify(self, what: str, rect: tuple | None = None) -> None:
        for fn in list(self.listeners):
            fn(what, rect)

    def apply(self, edit: Edit | None, record: bool = True) -> None:
        """Make an edit. With record=False it becomes part of the starting state (what a photo
        opens with), not a change to export."""
        if edit is None:
            return
        edit.redo(self)
        if record:
            self._applied.append(edit.serial)

    def revert(self, edit: Edit) -> None:
        if not self._applied or self._applied[-1] != edit.serial:
            raise ValueError(f"'{edit.text}' is not the last edit in effect")
        edit.undo(self)
        self._applied.pop()

    @property
    def state(self) -> int:
        """Names the current state: the serial of the last edit in effect (0: as opened)."""
        return self._applied[-1] if self._applied else 0

    def mark_exported(self) -> None:
        self._exported_state = self.state

    @property
    def has_unexported_changes(self) -> bool:
        return self.state != self._exported_state

    # -- faces ---------------------------------------------------------------------------
    def selected_faces(self) -> list[Face]:
        return [f for f, inc in zip(self.faces, self.included) if inc]

    def boxes(self, selected_only: bool = False) -> list[tuple[float, float, float, float]]:
        faces = self.selected_faces() if selected_only else self.faces
        return [tuple(float(v) for v in f.box) for f in faces]

    def _faces_edit(self, text: str, faces: list[Face], included: list[bool],
                    mask: np.ndarray | None = None) -> FacesEdit:
        patch = maskedit.diff_patch(self.mask, np.maximum(self.mask, mask)) if mask is not None else None
        return FacesEdit(text, (list(self.faces), list(self.included)), (list(faces), list(included)), patch)

    def found_faces(self, faces: list[Face], mask: np.ndarray | None) -> FacesEdit:
        """Faces detected anew (all included), and stage 1's photo-space mask added to the mask."""
        return self._faces_edit("Find faces again", faces, [True] * len(faces), mask)

    def added_face(self, face: Face, mask: np.ndarray | None) -> FacesEdit:
        return self._faces_edit("Add a face", self.faces + [face], self.included + [True], mask)

    def include(self, index: int, on: bool) -> FacesEdit | None:
        if not 0 <= index < len(self.included) or self.included[index] == on:
            return None
        included = list(self.included)
        included[index] = on
        return self._faces_edit(("Include" if on else "Skip") + f" face {index + 1}", self.faces, included)

    # -- the mask ------------------------------------------------------------------------
    @staticmethod
    def _mask_edit(text: str, patch: maskedit.Patch | None) -> MaskEdit | None:
        return None if patch is None else MaskEdit(text, patch)

    def stroke(self, patch: maskedit.Patch, erase: bool) -> MaskEdit:
        """A brush or eraser stroke the canvas has already painted into `mask`."""
        return MaskEdit("Erase" if erase else "Brush stroke", patch)

    def grow_mask(self, pixels: int) -> MaskEdit | None:
        return self._mask_edit("Grow mask" if pixels > 0 else "Shrink mask", maskedit.grow(self.mask.copy(), pixels))

    def clear_mask(self) -> MaskEdit | None:
        return self._mask_edit("Clear mask", maskedit.clear(self.mask.copy()))

    def invert_mask(self) -> MaskEdit | None:
        boxes = self.boxes(selected_only=True)
        if not boxes:
            raise UnmaskerError("Invert works within the faces, and none is selected.")
        region = maskedit.face_region(self.mask.shape, boxes)
        return self._mask_edit("Invert mask", maskedit.invert_within(self.mask.copy(), region))

    def import_mask(self, path: Path) -> MaskEdit | None:
        """A mask map from a file (white = fill), the size of the photo."""
        m = read_mask(path, (self.mask.shape[1], self.mask.shape[0]))
        return self._mask_edit("Import mask", maskedit.diff_patch(self.mask, m))

    def export_mask(self, path: Path, overwrite: bool = False) -> Path:
        return write_mask(self.mask, path, overwrite=overwrite)

    # -- the result ----------------------------------------------------------------------
    def unmasked(self, pixels: np.ndarray) -> ResultEdit:
        return ResultEdit("Unmask", self.result, pixels)

    def export(self, path: Path, quality: int = 95, overwrite: bool = False) -> Path:
        """The result written with the original's format details (EXIF, ICC, alpha); never over
        the original itself. The current state counts as exported."""
        if self.result is None:
            raise UnmaskerError("Nothing is unmasked yet: unmask first.")
        p = self.photo
        out = Photo(pixels=self.result, format=p.format, exif=p.exif, icc_profile=p.icc_profile, alpha=p.alpha,
                    source_mode=p.source_mode, path=p.path)
        written = write_photo(out, path, quality=quality, overwrite=overwrite)
        self.mark_exported()
        return written
