"""Draw the add-in's PNG icons with the standard library only (zlib + struct), so no imaging package is needed.

The committed files in ``addin/taskpane/assets/`` were made by ``python -m addin.icons``; run it again after
changing the drawing. The manifest refers to every size listed in ``SIZES``; ``tests/addin`` checks that each
file exists and has the size its name says.

The glyph: a rounded blue tile (Fluent's brand blue) holding a white calendar page with a darker header
band and two binder rings, and a 2 x 2 grid of day cells, one of them highlighted.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "taskpane" / "assets"

# Desktop ribbon icons (16/32/80), store icons (64/128) and the mobile icon set (25/32/48 at scales 1-3).
SIZES = (16, 25, 32, 48, 50, 64, 75, 80, 96, 128, 144)

BLUE = (15, 108, 189)
DARK_BLUE = (17, 94, 163)
WHITE = (255, 255, 255)
LIGHT = (207, 228, 250)


def icon_path(size: int) -> Path:
    return ASSETS_DIR / f"icon-{size}.png"


def _inside_rounded_rect(x: float, y: float, x0: float, y0: float, x1: float, y1: float, r: float) -> bool:
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _colour_at(u: float, v: float) -> tuple[tuple[int, int, int], float] | None:
    """The colour of the glyph at (u, v) in the unit square, or None where it is transparent."""
    if not _inside_rounded_rect(u, v, 0.0, 0.0, 1.0, 1.0, 0.18):
        return None
    colour = BLUE
    # Binder rings poke above the page.
    for ring_x in (0.36, 0.64):
        if _inside_rounded_rect(u, v, ring_x - 0.035, 0.14, ring_x + 0.035, 0.30, 0.03):
            return WHITE, 1.0
    if _inside_rounded_rect(u, v, 0.2, 0.22, 0.8, 0.8, 0.07):
        colour = DARK_BLUE if v < 0.36 else WHITE
        cells = [(0.28, 0.44), (0.53, 0.44), (0.28, 0.61), (0.53, 0.61)]
        for index, (cx, cy) in enumerate(cells):
            if cx <= u <= cx + 0.19 and cy <= v <= cy + 0.12:
                colour = BLUE if index == 3 else LIGHT
    return colour, 1.0


def render(size: int, supersample: int = 4) -> bytes:
    """RGBA pixels of the icon at ``size`` x ``size``, anti-aliased by supersampling."""
    rows = bytearray()
    n = supersample * supersample
    for py in range(size):
        rows.append(0)  # PNG filter type 0 (None) for this scanline
        for px in range(size):
            r = g = b = a = 0.0
            for sy in range(supersample):
                for sx in range(supersample):
                    hit = _colour_at((px + (sx + 0.5) / supersample) / size, (py + (sy + 0.5) / supersample) / size)
                    if hit is not None:
                        (cr, cg, cb), alpha = hit
                        r, g, b, a = r + cr * alpha, g + cg * alpha, b + cb * alpha, a + alpha
            if a:
                rows += bytes((round(r / a), round(g / a), round(b / a), round(255 * a / n)))
            else:
                rows += b"\0\0\0\0"
    return bytes(rows)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(size: int) -> bytes:
    """A complete PNG file (8-bit RGBA, non-interlaced)."""
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(render(size), 9))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from a PNG's IHDR chunk; ValueError if ``data`` is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def main() -> None:
    ASSETS_DIR.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        icon_path(size).write_bytes(png(size))
        print(icon_path(size))


if __name__ == "__main__":  # pragma: no cover
    main()
