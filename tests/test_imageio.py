"""Reading every kind of photo as 8-bit RGB, keeping metadata for export, refusing bad files."""
import time

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.errors import ImageReadError, ImageWriteError
from app.imageio import default_output_path, read_photo, write_photo

from .conftest import EXAMPLE


def _gradient(w=64, h=48):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)


def test_exif_orientation_is_applied_and_reset(tmp_path):
    img = Image.fromarray(_gradient())
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    exif[0x010F] = "TestCam"
    img.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    photo = read_photo(tmp_path / "r.jpg")
    assert photo.pixels.shape == (64, 48, 3)  # width and height swapped
    out = write_photo(photo, tmp_path / "r_out.jpg")
    back = Image.open(out)
    assert back.getexif().get(0x0112) == 1 and back.getexif().get(0x010F) == "TestCam"
    assert back.size == (48, 64)


@pytest.mark.parametrize("mode", ["I;16", "L", "P", "LA", "RGBA", "1"])
def test_modes_become_rgb8(tmp_path, mode):
    base = Image.fromarray(_gradient())
    if mode == "I;16":
        arr = (np.arange(64 * 48).reshape(48, 64) * 21).astype(np.uint16)
        img = Image.fromarray(arr)
    else:
        img = base.convert(mode)
    img.save(tmp_path / "m.png")
    photo = read_photo(tmp_path / "m.png")
    assert photo.pixels.dtype == np.uint8 and photo.pixels.shape == (48, 64, 3)
    if mode == "I;16":
        assert photo.pixels.max() > 200  # scaled from 16 bits, not clipped to 255 raw
    if mode in ("LA", "RGBA"):
        assert photo.alpha is None  # fully opaque alpha is dropped


def test_transparency_is_kept_for_png(tmp_path):
    rgba = np.dstack([_gradient(), np.full((48, 64), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    photo = read_photo(tmp_path / "a.png")
    assert photo.alpha is not None and photo.alpha[0, 0] == 128
    write_photo(photo, tmp_path / "a_out.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a_out.png")), rgba)


def test_cmyk_jpeg_and_icc_profile(tmp_path):
    Image.fromarray(_gradient()).convert("CMYK").save(tmp_path / "c.jpg")
    photo = read_photo(tmp_path / "c.jpg")
    assert photo.pixels.shape == (48, 64, 3) and photo.source_mode == "CMYK"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(_gradient()).save(tmp_path / "p.png", icc_profile=icc)
    p = read_photo(tmp_path / "p.png")
    assert p.icc_profile == icc
    write_photo(p, tmp_path / "p_out.jpg")
    assert Image.open(tmp_path / "p_out.jpg").info.get("icc_profile") == icc


def test_bad_files_give_clear_errors(tmp_path):
    (tmp_path / "text.jpg").write_text("not a photo")
    (tmp_path / "empty.jpg").write_bytes(b"")
    data = EXAMPLE.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="not an image"):
        read_photo(tmp_path / "text.jpg")
    with pytest.raises(ImageReadError, match="empty"):
        read_photo(tmp_path / "empty.jpg")
    with pytest.raises(ImageReadError, match="damaged or truncated"):
        read_photo(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="no such file"):
        read_photo(tmp_path / "missing.jpg")


def test_decompression_bomb_is_refused_quickly(tmp_path):
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")  # 400 MP in a few kB
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    t = time.perf_counter()
    with pytest.raises(ImageReadError, match="400 megapixels"):
        read_photo(tmp_path / "bomb.png")
    assert time.perf_counter() - t < 2.0  # refused from the header, nothing decoded


def test_writes_never_replace_the_original_and_are_atomic(tmp_path):
    src = tmp_path / "photo.jpg"
    src.write_bytes(EXAMPLE.read_bytes())
    photo = read_photo(src)
    before = src.read_bytes()
    with pytest.raises(ImageWriteError, match="refusing to overwrite the original"):
        write_photo(photo, src, overwrite=True)
    out = default_output_path(src)
    assert out.name == "photo_unmasked.jpg"
    write_photo(photo, out)
    with pytest.raises(ImageWriteError, match="already exists"):
        write_photo(photo, out)
    assert default_output_path(src).name == "photo_unmasked-2.jpg"
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg", "photo_unmasked.jpg"]  # no temp files
    # An export is readable like any file the user saves (not the temporary file's private 0600).
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    assert out.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
    probe.unlink()
    with pytest.raises(ImageWriteError, match="cannot write .gif"):
        write_photo(photo, tmp_path / "x.gif")


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    photo = read_photo(EXAMPLE)
    import app.fileutil as fu

    real_fsync = fu.os.fsync

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fu.os, "fsync", full_disk)
    with pytest.raises(ImageWriteError, match="No space left"):
        write_photo(photo, tmp_path / "out.png")
    monkeypatch.setattr(fu.os, "fsync", real_fsync)
    assert list(tmp_path.iterdir()) == []


def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    photo = read_photo(tmp_path / "a.gif")
    assert tuple(photo.pixels[0, 0]) == (255, 0, 0)
