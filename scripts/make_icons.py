"""Draw the console's app icons (web manifest) with Pillow: the brand mark of app.css on navy.

Run from the repository root: ``.venv/bin/python scripts/make_icons.py``; the PNG files and
``favicon.ico`` are committed under ``app/static/icons/``. The mark is the top bar's: a white
centre in a red disc, a white ring, a red rim (``.brand-mark``). The maskable icon keeps the
mark inside the central 80 % safe zone that launchers may crop to a circle.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

NAVY = (18, 38, 63)  # --navy
RED = (179, 20, 31)  # --danger
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "app" / "static" / "icons"
SUPERSAMPLE = 4


def _disc(draw: ImageDraw.ImageDraw, centre: float, radius: float, colour: tuple[int, ...]) -> None:
    draw.ellipse((centre - radius, centre - radius, centre + radius, centre + radius), fill=colour)


def icon(size: int, mark_share: float, rounded: bool) -> Image.Image:
    """A square icon: navy background, the brand mark filling ``mark_share`` of the width."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if rounded:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.18, fill=NAVY)
    else:
        draw.rectangle((0, 0, big, big), fill=NAVY)
    centre = big / 2
    outer = big * mark_share / 2
    # Radii as in .brand-mark's radial gradient: white 0-22 %, red -60 %, white -70 %, red -100 %.
    for share, colour in ((1.0, RED), (0.70, WHITE), (0.60, RED), (0.22, WHITE)):
        _disc(draw, centre, outer * share, colour)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        icon(size, 0.72, rounded=True).save(OUT / f"icon-{size}.png", optimize=True)
    icon(512, 0.56, rounded=False).save(OUT / "icon-maskable-512.png", optimize=True)
    # The browser tab's icon (/favicon.ico): 16, 32 and 48 px in one ICO file.
    icon(64, 0.86, rounded=True).save(OUT / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
