"""Decoding uploads: every accepted format, phone quirks, and hostile or broken files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from dataset_tools.images import (
    ACCEPTED_FORMATS,
    DecodedImage,
    ImageDecodeError,
    decode_image,
    decode_path,
)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def solid(color: tuple[int, ...], size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, color)


def mean_rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64).reshape(-1, 3).mean(0)


def decode_error(data: bytes, **kw: object) -> ImageDecodeError:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(data, **kw)
    return info.value


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fmt", "kw", "expected"),
    [
        ("JPEG", {"quality": 95}, "JPEG"),
        ("JPEG", {"quality": 95, "progressive": True}, "JPEG"),
        ("PNG", {}, "PNG"),
        ("WEBP", {"lossless": True}, "WEBP"),
        ("WEBP", {"quality": 90}, "WEBP"),
    ],
)
def test_accepted_formats_decode_to_rgb(fmt: str, kw: dict, expected: str) -> None:
    data = encode(solid((200, 40, 90), (80, 60)), fmt, **kw)
    out = decode_image(data)
    assert isinstance(out, DecodedImage)
    assert out.format == expected and out.format in ACCEPTED_FORMATS
    assert out.image.mode == "RGB"
    assert out.image.size == out.original_size == (80, 60)
    assert np.abs(mean_rgb(out.image) - (200, 40, 90)).max() < 6
    assert out.decode_ms > 0  # measured, not left at a default


def test_cmyk_jpeg_becomes_the_right_rgb() -> None:
    # pure cyan ink: no red, full green and blue
    out = decode_image(encode(solid((255, 0, 0, 0), mode="CMYK"), "JPEG", quality=95))
    assert out.format == "JPEG" and out.image.mode == "RGB"
    r, g, b = mean_rgb(out.image)
    assert r < 20 and g > 235 and b > 235


def test_greyscale_jpeg_and_png() -> None:
    for fmt in ("JPEG", "PNG"):
        out = decode_image(encode(solid((77,), mode="L"), fmt))
        assert out.image.mode == "RGB"
        assert np.abs(mean_rgb(out.image) - 77).max() < 3


def test_iphone_mpo_is_reported_as_jpeg_with_its_first_frame() -> None:
    first, second = solid((250, 0, 0)), solid((0, 0, 250))
    data = encode(first, "MPO", save_all=True, append_images=[second], quality=95)
    assert Image.open(io.BytesIO(data)).format == "MPO"  # the fixture really is an MPO
    out = decode_image(data, min_side=16)
    assert out.format == "JPEG"
    r, g, b = mean_rgb(out.image)
    assert r > 200 and b < 40


def test_palette_png_with_transparency_is_composited_on_white() -> None:
    img = Image.new("P", (40, 20), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.paste(1, (20, 0, 40, 20))  # right half red, left half index 0 = transparent
    out = decode_image(encode(img, "PNG", transparency=0)).image
    assert np.asarray(out)[10, 5].tolist() == [255, 255, 255]
    assert np.asarray(out)[10, 30].tolist() == [200, 30, 30]


def test_rgba_png_and_webp_alpha_blend_over_white() -> None:
    img = solid((255, 0, 0, 128), mode="RGBA")  # half-transparent red
    for fmt, kw in (("PNG", {}), ("WEBP", {"lossless": True})):
        r, g, b = mean_rgb(decode_image(encode(img, fmt, **kw)).image)
        assert r > 250 and 120 < g < 135 and 120 < b < 135, fmt


def test_greyscale_alpha_png() -> None:
    img = solid((0, 0), mode="LA")  # black, fully transparent
    assert mean_rgb(decode_image(encode(img, "PNG")).image).min() > 250


def test_16_bit_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    out = decode_image(encode(Image.fromarray(ramp), "PNG")).image
    row = np.asarray(out)[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert abs(row[32] - int(ramp[0, 32]) / 257) <= 1  # mid-grey, where clipping gives white
    assert (np.diff(row) >= 0).all()


def test_1_bit_png() -> None:
    img = Image.new("1", (32, 32), 0)
    img.paste(1, (16, 0, 32, 32))
    arr = np.asarray(decode_image(encode(img, "PNG")).image)
    assert arr[5, 5].tolist() == [0, 0, 0] and arr[5, 25].tolist() == [255, 255, 255]


def test_decode_path(tmp_path) -> None:
    path = tmp_path / "photo.webp"
    path.write_bytes(encode(solid((10, 20, 30)), "WEBP", lossless=True))
    assert decode_path(path).format == "WEBP"


# --------------------------------------------------------------------------- EXIF orientation

# What a viewer must show, from the stored pixels, per the EXIF spec (0th row / 0th column):
DISPLAY_FROM_STORED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),  # stored turned; shown rotated 90 degrees clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the anti-diagonal
    8: lambda a: np.rot90(a, 1),  # shown rotated 90 degrees counter-clockwise
}
STORED_FROM_DISPLAY = {**DISPLAY_FROM_STORED, 6: lambda a: np.rot90(a, 1), 8: lambda a: np.rot90(a, -1)}


def marked_scene() -> np.ndarray:
    """60x40 grey scene, red block top-left, blue block top-right: no symmetry maps it to itself."""
    a = np.full((40, 60, 3), 128, np.uint8)
    a[:10, :15] = (255, 0, 0)
    a[:10, -15:] = (0, 0, 255)
    return a


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("min_side", [None, 20])
def test_exif_orientation_turns_pixels_upright(orientation: int, min_side: int | None) -> None:
    scene = marked_scene()
    stored = np.ascontiguousarray(STORED_FROM_DISPLAY[orientation](scene))
    assert np.array_equal(DISPLAY_FROM_STORED[orientation](stored), scene)  # the table is consistent
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif)

    out = decode_image(data, min_side=min_side)
    assert out.original_size == (stored.shape[1], stored.shape[0])
    assert out.image.size == ((60, 40) if min_side is None else (30, 20))  # draft: 1/2 scale
    arr = np.asarray(out.image.resize((60, 40), Image.Resampling.NEAREST)).astype(int)
    assert arr[4, 6, 0] > 200 and arr[4, 6, 2] < 60, "red marker must be top-left"
    assert arr[4, 53, 2] > 200 and arr[4, 53, 0] < 60, "blue marker must be top-right"
    assert abs(arr[35, 30] - 128).max() < 10


def test_broken_exif_does_not_make_a_photo_undecodable() -> None:
    data = encode(solid((9, 9, 9)), "JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    assert decode_image(data).image.size == (64, 48)


# --------------------------------------------------------------------------- draft / reduce


@pytest.fixture(scope="module")
def phone_jpeg() -> bytes:
    """A 12-megapixel 4032x3024 JPEG with phone-like content (smooth + detail)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (63, 84, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((4032, 3024), Image.Resampling.BICUBIC)
    return encode(img, "JPEG", quality=88)


def test_draft_decodes_12mp_jpeg_smaller_but_never_below_min_side(phone_jpeg: bytes) -> None:
    for min_side in (224, 512, 1000):
        out = decode_image(phone_jpeg, min_side=min_side)
        assert out.original_size == (4032, 3024)
        assert min(out.image.size) >= min_side
        assert max(out.image.size) <= 4032 // 2, f"no DCT scaling for min_side={min_side}"
        assert out.image.size[0] > out.image.size[1]
    assert decode_image(phone_jpeg, min_side=512).image.size == (1008, 756)  # 1/4 scale


def test_draft_keeps_short_side_after_exif_rotation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    data = encode(solid((50, 60, 70), (2000, 1200)), "JPEG", exif=exif)
    out = decode_image(data, min_side=300)
    assert out.image.width < out.image.height
    assert min(out.image.size) >= 300 and max(out.image.size) < 2000


def test_min_side_never_upscales_and_reduces_png() -> None:
    assert decode_image(encode(solid((1, 2, 3), (100, 80)), "JPEG"), min_side=500).image.size == (100, 80)
    out = decode_image(encode(solid((1, 2, 3), (2000, 900)), "PNG"), min_side=256)
    assert 256 <= min(out.image.size) < 900
    assert out.original_size == (2000, 900)


# --------------------------------------------------------------------------- hostile and broken input


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header_only(width: int, height: int, *, bit_depth: int = 1, colour: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def test_decompression_bomb_header_is_refused_with_its_size() -> None:
    bomb = png_header_only(30000, 30000)
    assert len(bomb) < 200
    err = decode_error(bomb)
    assert err.code == "too_large"
    assert "30000x30000" in err.message


def test_pixel_limit_is_checked_before_any_pixel_is_decoded() -> None:
    # The header promises 5000x5000 but no pixel data follows: decoding would say
    # "truncated"; only a header check can answer "too_large".
    no_pixels = png_header_only(5000, 5000, bit_depth=8, colour=2)
    assert decode_error(no_pixels, max_pixels=1_000_000).code == "too_large"
    assert decode_error(no_pixels).code == "truncated"


def test_real_black_1_bit_png_bomb() -> None:
    data = encode(Image.new("1", (4000, 4000), 0), "PNG", optimize=True)
    assert len(data) < 20_000  # 16 megapixels in a few KB
    err = decode_error(data, max_pixels=8_000_000)
    assert err.code == "too_large" and "4000x4000" in err.message


def test_truncated_files() -> None:
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = encode(photo, fmt)
        for cut in (len(data) // 2, 30):
            assert decode_error(data[:cut]).code == "truncated", (fmt, cut)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is before


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes(), "not_an_image"),
        (b"Ceci n'est pas une image.\n" * 40, "not_an_image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "not_an_image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "unsupported_format"),
    ],
    ids=["empty", "random", "text", "pdf", "heic"],
)
def test_non_images(data: bytes, code: str) -> None:
    err = decode_error(data)
    assert err.code == code
    assert isinstance(err, ValueError) and err.message == str(err)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused_naming_what_is_accepted(fmt: str) -> None:
    err = decode_error(encode(solid((1, 2, 3)), fmt))
    assert err.code == "unsupported_format"
    assert fmt in err.message
    assert all(name in err.message for name in ("JPEG", "PNG", "WebP"))


def test_error_codes_are_closed_set() -> None:
    with pytest.raises(ValueError):
        ImageDecodeError("nope", "x")


# --------------------------------------------------------------------------- shape and memory limits


@pytest.mark.parametrize(
    ("size", "why"),
    [((20000, 1), "16 pixels"), ((1, 1), "16 pixels"), ((15, 400), "16 pixels"), ((2100, 100), "21:1")],
)
def test_strips_and_specks_are_refused_before_decoding(size: tuple[int, int], why: str) -> None:
    err = decode_error(encode(Image.new("L", size, 200), "PNG"), min_side=360)
    assert err.code == "bad_dimensions" and why in err.message and f"{size[0]}x{size[1]}" in err.message


def test_the_widest_accepted_shape_decodes() -> None:
    out = decode_image(encode(Image.new("RGB", (2000, 100), (9, 8, 7)), "PNG"), min_side=50)
    assert out.image.size == (1000, 50) and out.original_size == (2000, 100)


def test_decode_memory_budget_refuses_with_the_cost_in_the_message() -> None:
    data = encode(Image.new("RGBA", (1000, 1000), (1, 2, 3, 4)), "PNG")
    err = decode_error(data, min_side=360, max_decode_bytes=4 * 1024 * 1024)
    assert err.code == "too_large" and "MB" in err.message and "1000x1000" in err.message
    assert decode_image(data, min_side=360).image.size == (500, 500)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "1"])
def test_reduced_alpha_and_wide_modes_match_the_full_size_conversion(mode: str) -> None:
    """Strip-wise conversion + reduce gives what converting the whole image first gives."""
    rng = np.random.default_rng(3)
    if mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65535, (90, 130), dtype=np.uint16))
    elif mode == "P":
        img = Image.fromarray(rng.integers(0, 4, (90, 130), dtype=np.uint8), "L").convert("P")
        img.putpalette([0, 0, 0, 250, 0, 0, 0, 250, 0, 0, 0, 250] + [0] * 756)
    else:
        img = Image.fromarray(rng.integers(0, 255, (90, 130, 4), dtype=np.uint8), "RGBA").convert(mode)
    kw = {"transparency": 1} if mode == "P" else {}
    data = encode(img, "PNG", **kw)
    full = decode_image(data).image
    small = decode_image(data, min_side=30).image
    assert small.size == (44, 30)
    expected = np.asarray(full.reduce(3), dtype=int)
    assert np.abs(np.asarray(small, dtype=int) - expected).max() <= 1
