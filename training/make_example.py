"""Build the shipped example photo: a public-domain portrait with a mask drawn on by this project.

The source is NASA's portrait of astronaut Eileen Collins (public domain), as shipped inside the
scikit-image wheel (skimage/data/astronaut.png). Usage:

    python -m training.make_example PATH/TO/astronaut.png resources/examples/astronaut_masked.jpg
    python -m training.make_example PATH/TO/astronaut.png docs/images/mask_variety.png --gallery

With --gallery it writes instead a sheet of training pairs drawn on that portrait (input, map),
sixteen seeds, to show the variety of masks training sees without putting dataset photos in the
repository. With --pair, a photo of two faces: the masked portrait beside the same portrait
mirrored and without a mask, the case where one face must be filled and the other left alone:

    python -m training.make_example PATH/TO/astronaut.png resources/examples/two_faces_one_masked.jpg --pair
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from app.faces import make_face_finder
from app.imageio import Photo, read_photo, write_photo
from training.masks import MaskStyle, draw_mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--gallery", action="store_true")
    ap.add_argument("--pair", action="store_true")
    a = ap.parse_args()
    photo = read_photo(a.source)
    faces = make_face_finder("mtcnn").detect(photo.pixels)
    if len(faces) != 1:
        raise SystemExit(f"expected one face in {a.source}, found {len(faces)}")
    if a.gallery:
        from training.pairs import contact_sheet, make_pair, save_png

        f = faces[0]
        cells = []
        for seed in range(16):
            p = make_pair(photo.pixels, f.points5, f.points68, 128, np.random.default_rng(seed))
            cells.append((p.masked, p.map))
        rows = [sum(cells[k:k + 4], ()) for k in range(0, 16, 4)]
        save_png(a.output, contact_sheet(rows, cell=128))
        print(a.output)
        return
    style = MaskStyle(colour=(120, 170, 220), nose_cover=0.7, chin_drop=0.04, pleats=3, straps=True)
    masked, _ = draw_mask(photo.pixels, faces[0].points68, style)
    if a.pair:
        masked = np.concatenate([masked, photo.pixels[:, ::-1]], axis=1)
    write_photo(Photo(pixels=np.ascontiguousarray(masked)), a.output, quality=92, overwrite=True)
    print(a.output)


if __name__ == "__main__":
    main()
