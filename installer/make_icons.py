"""Draw the app icon (a face whose mask is being peeled away) and write it in every format the
installers need: resources/icons/unmasker.png (256 px), .ico (Windows), .icns (macOS).

    python installer/make_icons.py
"""
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"


def draw(size: int = 512) -> Image.Image:
    s = size / 512
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((16 * s, 16 * s, 496 * s, 496 * s), radius=96 * s, fill=(38, 70, 120, 255))
    d.ellipse((126 * s, 86 * s, 386 * s, 426 * s), fill=(241, 200, 165, 255))  # face
    for x in (196, 316):  # eyes
        d.ellipse(((x - 18) * s, 210 * s, (x + 18) * s, 240 * s), fill=(50, 40, 40, 255))
    # The mask: its left half still on, its right half peeled down showing the mouth.
    d.polygon([(130 * s, 270 * s), (256 * s, 250 * s), (256 * s, 420 * s), (170 * s, 390 * s)], fill=(120, 190, 230, 255))
    d.line([(130 * s, 270 * s), (60 * s, 230 * s)], fill=(230, 240, 250, 255), width=int(10 * s))
    d.arc((206 * s, 300 * s, 306 * s, 370 * s), 20, 160, fill=(150, 60, 60, 255), width=int(10 * s))
    d.polygon([(256 * s, 250 * s), (380 * s, 300 * s), (300 * s, 470 * s), (256 * s, 420 * s)], fill=(90, 160, 205, 200))
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw(512)
    big.resize((256, 256), Image.LANCZOS).save(OUT / "unmasker.png")
    big.save(OUT / "unmasker.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.save(OUT / "unmasker.icns")
    print(OUT)


if __name__ == "__main__":
    main()
