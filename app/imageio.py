"""Reading and writing photos.

Reading gives 8-bit RGB pixels with the EXIF orientation applied, whatever the file held (16-bit,
grey, palette, RGBA, CMYK, first frame of an animation), and keeps what export needs: the EXIF
block (orientation reset to normal), the ICC profile, the alpha channel and the source format.
A pixel limit refuses decompression bombs before any pixel is decoded. Writing is atomic and
never replaces the source photo.
"""
from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from app.errors import ImageReadError, ImageWriteError
from app.fileutil import atomic_writer

log = logging.getLogger(__name__)

MAX_PIXELS = 250_000_000  # 250 MP: above any camera's frame, far below a bomb's
ORIENTATION_TAG = 0x0112
FORMATS = {  # file extension -> Pillow format
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP",
    ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
}
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
# read_photo checks the pixel count from the header itself (MAX_PIXELS) and says so in its own
# words; Pillow's global check would only duplicate it with a different limit.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Photo:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, EXIF orientation applied
    format: str | None = None  # Pillow's name of the source format, e.g. "JPEG"
    exif: bytes | None = None  # orientation reset to 1
    icc_profile: bytes | None = None
    alpha: np.ndarray | None = None  # (H, W) uint8 when the source had transparency
    source_mode: str = "RGB"
    path: Path | None = None
    info: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


def _to_rgb8(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels of any Pillow mode as (RGB uint8, alpha uint8 or None)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if mode == "F" and a.max(initial=0) <= 1.0:
            top = 1.0
        grey = np.clip(np.round(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2), None
    if mode == "CMYK":
        icc = img.info.get("icc_profile")
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                img = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            except (ImageCms.PyCMSError, OSError) as e:
                log.warning("CMYK profile not usable (%s); converting naively", e)
                img = img.convert("RGB")
        else:
            img = img.convert("RGB")
        return np.asarray(img, dtype=np.uint8).copy(), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        alpha = rgba[..., 3].copy()
        return np.ascontiguousarray(rgba[..., :3]), (None if alpha.min() == 255 else alpha)
    rgb = img if mode == "RGB" else img.convert("RGB")  # (convert to the same mode would copy)
    return np.array(rgb, dtype=np.uint8), None


def read_photo(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Photo:
    """Read any common photo as 8-bit RGB; ImageReadError in plain words if it cannot be."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path.name}: the file is empty")
    try:
        img = Image.open(path)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path.name}: not an image Unmasker can read (unknown or damaged format)") from None
    except OSError as e:
        raise ImageReadError(f"{path.name}: cannot be opened: {e}") from None
    with img:
        w, h = img.size
        if w * h > max_pixels:
            raise ImageReadError(
                f"{path.name}: refused, {w}x{h} is {w * h / 1e6:.0f} megapixels, over the "
                f"{max_pixels / 1e6:.0f} MP limit (a real photo or a decompression bomb)"
            )
        if w < 1 or h < 1:
            raise ImageReadError(f"{path.name}: the image has no pixels")
        fmt = img.format
        try:
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # first frame of an animation
            img.load()
            # exif_transpose copies the whole image even when there is nothing to turn: only call
            # it when the orientation says so (a 100 MP photo saves 400 MB of peak memory).
            turned = img.getexif().get(ORIENTATION_TAG, 1) not in (1, None)
            upright = ImageOps.exif_transpose(img) if turned else img
            pixels, alpha = _to_rgb8(upright)
            del upright
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise ImageReadError(f"{path.name}: the image data is damaged or truncated ({e})") from None
        exif = img.getexif()
        exif_bytes = None
        if len(exif):
            if ORIENTATION_TAG in exif:
                exif[ORIENTATION_TAG] = 1
            exif_bytes = exif.tobytes()
        return Photo(
            pixels=pixels, format=fmt, exif=exif_bytes, icc_profile=img.info.get("icc_profile"),
            alpha=alpha, source_mode=img.mode, path=path,
        )


def format_for(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise ImageWriteError(f"cannot write {ext or 'files without an extension'}: use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[ext]


def encode_photo(photo: Photo, fmt: str, quality: int = 95) -> bytes:
    """The photo's pixels (and alpha, EXIF, ICC where the format holds them) encoded as `fmt`."""
    img = Image.fromarray(photo.pixels, "RGB")
    if photo.alpha is not None and fmt in ALPHA_FORMATS:
        img.putalpha(Image.fromarray(photo.alpha, "L"))
    kwargs: dict = {}
    if photo.exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = photo.exif
    if photo.icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = photo.icc_profile
    if fmt == "JPEG":
        kwargs.update(quality=int(quality), subsampling=0 if quality >= 90 else 2, optimize=True)
    elif fmt == "WEBP":
        kwargs.update(quality=int(quality), method=4)
    elif fmt == "TIFF":
        kwargs.update(compression="tiff_deflate")
    elif fmt == "PNG":
        kwargs.update(compress_level=6)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_photo(photo: Photo, path: str | os.PathLike, quality: int = 95, overwrite: bool = False) -> Path:
    """Encode and write atomically. Never replaces the photo's own source file; refuses to replace
    an existing file unless `overwrite`."""
    path = Path(path)
    fmt = format_for(path)
    if photo.path is not None and path.exists() and path.resolve() == Path(photo.path).resolve():
        raise ImageWriteError(f"{path.name}: refusing to overwrite the original photo; choose another name")
    if path.exists() and not overwrite:
        raise ImageWriteError(f"{path} already exists; choose another name or allow overwriting")
    if not path.parent.is_dir():
        raise ImageWriteError(f"{path.parent}: no such folder")
    data = encode_photo(photo, fmt, quality)
    try:
        with atomic_writer(path) as f:
            f.write(data)
    except OSError as e:
        raise ImageWriteError(f"could not write {path}: {e.strerror or e}") from None
    return path


def default_output_path(source: str | os.PathLike, suffix: str = "_unmasked") -> Path:
    """`name_unmasked.ext` beside the source, with a number added if that name is taken."""
    source = Path(source)
    candidate = source.with_name(f"{source.stem}{suffix}{source.suffix}")
    n = 2
    while candidate.exists():
        candidate = source.with_name(f"{source.stem}{suffix}-{n}{source.suffix}")
        n += 1
    return candidate


# -- mask maps: (H, W) uint8, 0 = keep, 255 = fill; a file holds it as a grey PNG ----------------
def read_mask(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """A mask map from a file (white, in any channel, = fill) for a photo of `size` (w, h)."""
    m = read_photo(path)
    if m.size != tuple(size):
        raise ImageReadError(f"{Path(path).name} is {m.size[0]}x{m.size[1]} but the photo is {size[0]}x{size[1]}: "
                             "a mask map must match the photo")
    return m.pixels.max(axis=2)


def mask_photo(mask: np.ndarray) -> Photo:
    return Photo(pixels=np.repeat(mask[..., None], 3, axis=2))


def encode_mask(mask: np.ndarray) -> bytes:
    return encode_photo(mask_photo(mask), "PNG")


def write_mask(mask: np.ndarray, path: str | os.PathLike, overwrite: bool = False) -> Path:
    return write_photo(mask_photo(mask), path, overwrite=overwrite)
