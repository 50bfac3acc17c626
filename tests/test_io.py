"""Tests for restora.io: round trips, metadata, bombs and every user-facing error."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps
from PIL import ImageFile as PilImageFile

from restora import io as rio
from restora.errors import RestoraError

H, W = 40, 56


def _rgb8(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _rgb16(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (H, W, 3), dtype=np.uint16)


def _smooth8() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.stack([x / W, y / H, (x + y) / (W + H)], axis=-1)
    return np.round(img * 255).astype(np.uint8)


def _exif(orientation: int) -> bytes:
    ex = Image.Exif()
    ex[0x010F] = "RestoraCam"  # Make: must survive a load/save round trip
    ex[0x0112] = orientation
    return ex.tobytes()


def _as8(x: np.ndarray) -> np.ndarray:
    return np.round(x * 255).astype(np.uint8)


def _as16(x: np.ndarray) -> np.ndarray:
    return np.round(x * 65535).astype(np.uint16)


def _assert_one_line(err: pytest.ExceptionInfo, path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _linear_icc(gray: bool = False) -> bytes:
    """A valid ICC v2 profile for linear light: sRGB primaries (or gray), gamma 1.0."""

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + struct.pack(">iii", *(round(v * 65536) for v in (x, y, z)))

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 256) + b"\0\0"
    text = b"linear sRGB test\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 79
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.4360747, 0.2225045, 0.0139322)),
            (b"gXYZ", xyz(0.3850649, 0.7168786, 0.0971045)),
            (b"bXYZ", xyz(0.1430804, 0.0606169, 0.7141733)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    if gray:
        tags = [*tags[:2], (b"kTRC", curve)]
    offset, table, body = 132 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"none" + bytes([2, 0x10, 0, 0])
              + b"mntr" + (b"GRAY" if gray else b"RGB ") + b"XYZ " + b"\0" * 12
              + b"acsp" + b"\0" * 28
              + struct.pack(">iii", *(round(v * 65536) for v in (0.9642, 1.0, 0.8249)))
              + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + body


def _srgb_encode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


# --- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fmt", [("a.png", "PNG"), ("a.tif", "TIFF"), ("a.bmp", "BMP"),
                                      ("a.webp", "WEBP")])
def test_lossless_8bit_round_trip_is_exact(tmp_path, name, fmt):
    src = _rgb8()
    out = rio.save(tmp_path / name, src.astype(np.float32) / 255, quality=100)
    f = rio.load(out)
    assert (f.format, f.bit_depth, f.gray, f.alpha, f.icc_converted) == (fmt, 8, False, None, False)
    assert f.pixels.dtype == np.float32 and f.pixels.shape == (H, W, 3)
    np.testing.assert_array_equal(_as8(f.pixels), src)
    np.testing.assert_array_equal(rio.read_image(out), f.pixels)


@pytest.mark.parametrize("name", ["a.png", "a.tiff"])
def test_16bit_round_trip_is_exact(tmp_path, name):
    src = _rgb16()
    rio.save(tmp_path / name, src.astype(np.float32) / 65535, bit_depth=16)
    f = rio.load(tmp_path / name)
    assert f.bit_depth == 16 and not f.gray
    np.testing.assert_array_equal(_as16(f.pixels), src)
    # keep 16-bit and exact when saving back "like" the original
    rio.save(tmp_path / ("b" + name[1:]), f.pixels, like=f)
    np.testing.assert_array_equal(_as16(rio.load(tmp_path / ("b" + name[1:])).pixels), src)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16bit_written_by_another_tool_keeps_full_precision(tmp_path, ext):
    src = _rgb16(1)
    _, buf = cv2.imencode(ext, src[..., ::-1])  # OpenCV wants BGR
    (tmp_path / f"x{ext}").write_bytes(buf.tobytes())
    f = rio.load(tmp_path / f"x{ext}")
    assert f.bit_depth == 16
    np.testing.assert_array_equal(_as16(f.pixels), src)
    assert len(np.unique(f.pixels)) > 256


def test_jpeg_round_trip_within_tolerance(tmp_path):
    src = _smooth8()
    rio.save(tmp_path / "a.jpg", src, quality=95)
    f = rio.load(tmp_path / "a.jpg")
    assert f.format == "JPEG" and f.bit_depth == 8
    assert np.abs(f.pixels - src / 255.0).mean() < 2 / 255


def test_16bit_falls_back_to_8bit_for_formats_without_it(tmp_path):
    rio.save(tmp_path / "a.png", _rgb16() / 65535.0, bit_depth=16)
    f = rio.load(tmp_path / "a.png")
    rio.save(tmp_path / "b.webp", f.pixels, like=f, quality=100)
    assert rio.load(tmp_path / "b.webp").bit_depth == 8
    with pytest.raises(RestoraError, match="16-bit"):
        rio.save(tmp_path / "c.jpg", f.pixels, bit_depth=16)
    assert not (tmp_path / "c.jpg").exists()


# --- gray and alpha ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,bits,pil_mode", [("g.png", 8, "L"), ("g.tif", 8, "L"),
                                                ("g.bmp", 8, "L"), ("g.jpg", 8, "L"),
                                                ("g.png", 16, "I;16"), ("g.tif", 16, "I;16")])
def test_gray_in_gray_out(tmp_path, name, bits, pil_mode):
    rng = np.random.default_rng(2)
    src = rng.integers(0, 2 ** bits, (H, W), dtype=np.uint8 if bits == 8 else np.uint16)
    if bits == 8:
        Image.fromarray(src).save(tmp_path / name)
    else:
        (tmp_path / name).write_bytes(cv2.imencode(os.path.splitext(name)[1], src)[1].tobytes())
    f = rio.load(tmp_path / name)
    assert f.gray and f.bit_depth == bits and f.pixels.shape == (H, W, 3)
    if not name.endswith(".jpg"):
        scale = 255 if bits == 8 else 65535
        np.testing.assert_array_equal(np.round(f.pixels[..., 1] * scale), src)
    out = rio.save(tmp_path / ("out_" + name), f.pixels, like=f)
    with Image.open(out) as im:
        assert im.mode.startswith(pil_mode[0]) and im.mode in (pil_mode, "I;16B", "I")
    if not name.endswith(".jpg"):
        np.testing.assert_array_equal(rio.load(out).pixels, f.pixels)


@pytest.mark.parametrize("name", ["a.png", "a.tif", "a.webp"])
def test_alpha_is_kept_aside_and_reattached(tmp_path, name):
    rgba = np.dstack([_rgb8(), np.random.default_rng(3).integers(0, 256, (H, W), dtype=np.uint8)])
    webp = {"lossless": True, "exact": True} if name.endswith(".webp") else {}
    Image.fromarray(rgba).save(tmp_path / name, **webp)
    f = rio.load(tmp_path / name)
    assert f.alpha is not None and f.alpha.shape == (H, W) and f.alpha.dtype == np.float32
    np.testing.assert_array_equal(_as8(f.alpha), rgba[..., 3])
    np.testing.assert_array_equal(_as8(f.pixels), rgba[..., :3])
    out = rio.save(tmp_path / ("out_" + name), f.pixels, like=f, quality=100)
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im), rgba)


def test_16bit_alpha_and_resized_alpha(tmp_path):
    rgba = np.dstack([_rgb16(), np.random.default_rng(4).integers(0, 65536, (H, W), np.uint16)])
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", rgba[..., [2, 1, 0, 3]])[1].tobytes())
    f = rio.load(tmp_path / "a.png")
    assert f.bit_depth == 16
    np.testing.assert_array_equal(_as16(f.alpha), rgba[..., 3])
    np.testing.assert_array_equal(_as16(f.pixels), rgba[..., :3])
    rio.save(tmp_path / "b.png", f.pixels, like=f)
    g = rio.load(tmp_path / "b.png")
    np.testing.assert_array_equal(_as16(g.alpha), rgba[..., 3])
    big = cv2.resize(f.pixels, (2 * W, 2 * H))  # e.g. after 2x super-resolution
    rio.save(tmp_path / "c.png", big, like=f)
    assert rio.load(tmp_path / "c.png").alpha.shape == (2 * H, 2 * W)


def test_palette_transparency_becomes_alpha(tmp_path):
    im = Image.fromarray(_smooth8()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    im.save(tmp_path / "p.png", transparency=0)
    f = rio.load(tmp_path / "p.png")
    assert f.alpha is not None and set(np.unique(f.alpha)) <= {0.0, 1.0} and f.alpha.min() == 0


# --- EXIF orientation ----------------------------------------------------------------------------

def test_jpeg_exif_orientation_6_is_applied(tmp_path):
    raw = np.zeros((H, W, 3), np.uint8)
    raw[:10, :20] = (255, 0, 0)  # red block top-left of the stored image
    Image.fromarray(raw).save(tmp_path / "o.jpg", exif=_exif(6), quality=95)
    f = rio.load(tmp_path / "o.jpg")
    assert f.pixels.shape == (W, H, 3)  # portrait after rotating 90° clockwise
    expected = np.rot90(raw, -1) / 255.0
    assert np.abs(f.pixels - expected).mean() < 3 / 255
    assert f.pixels[2, -3, 0] > 0.9 and f.pixels[-3, 2, 0] < 0.1  # red is now top-right
    ex = Image.Exif()
    ex.load(f.exif)
    assert ex[0x0112] == 1 and ex[0x010F] == "RestoraCam"
    # saving "like" the original keeps the metadata and does not rotate a second time
    out = rio.save(tmp_path / "p.jpg", f.pixels, like=f)
    g = rio.load(out)
    assert g.pixels.shape == (W, H, 3)
    with Image.open(out) as im:
        assert im.getexif()[0x010F] == "RestoraCam" and im.getexif()[0x0112] == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_eight_orientations_match_pillow(tmp_path, orientation):
    raw = _rgb8(orientation)
    Image.fromarray(raw).save(tmp_path / "o.png", exif=_exif(orientation))
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(_as8(rio.load(tmp_path / "o.png").pixels), expected)


def test_16bit_png_orientation(tmp_path):
    src = _rgb16(5)
    _, buf = cv2.imencodeWithMetadata(".png", src[..., ::-1].copy(), [cv2.IMAGE_METADATA_EXIF],
                                       [np.frombuffer(_exif(8)[6:], np.uint8)])
    (tmp_path / "o.png").write_bytes(buf.tobytes())
    f = rio.load(tmp_path / "o.png")
    assert f.bit_depth == 16
    np.testing.assert_array_equal(_as16(f.pixels), np.rot90(src, 1))


# --- ICC profiles --------------------------------------------------------------------------------

def test_srgb_profile_loads_identical(tmp_path):
    src = _rgb8(6)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(src).save(tmp_path / "s.png", icc_profile=srgb)
    f = rio.load(tmp_path / "s.png")
    assert not f.icc_converted
    np.testing.assert_array_equal(_as8(f.pixels), src)


def test_non_srgb_profile_is_converted_8bit(tmp_path):
    v = np.arange(256, dtype=np.uint8)
    src = np.stack([v, v[::-1], v], axis=-1)[None].repeat(4, axis=0)
    Image.fromarray(src).save(tmp_path / "l.png", icc_profile=_linear_icc())
    f = rio.load(tmp_path / "l.png")
    assert f.icc_converted
    assert np.abs(f.pixels - _srgb_encode(src / 255.0)).max() < 1.5 / 255


def test_non_srgb_profile_is_converted_16bit_without_dropping_to_8bit(tmp_path):
    ramp = np.linspace(0, 65535, W * 16).astype(np.uint16).reshape(16, W)
    src = np.stack([ramp, ramp[::-1], ramp], axis=-1)
    icc = np.frombuffer(_linear_icc(), np.uint8)
    _, buf = cv2.imencodeWithMetadata(".png", src[..., ::-1].copy(), [cv2.IMAGE_METADATA_ICCP],
                                       [icc])
    (tmp_path / "l.png").write_bytes(buf.tobytes())
    f = rio.load(tmp_path / "l.png")
    assert f.icc_converted and f.bit_depth == 16
    assert np.abs(f.pixels - _srgb_encode(src / 65535.0)).max() < 1.5 / 255
    assert len(np.unique(f.pixels[..., 0])) > 256  # not quantised to 8 bits


@pytest.mark.parametrize("bits", [8, 16])
def test_gray_profile_is_converted(tmp_path, bits):
    top = 2 ** bits - 1
    src = np.linspace(0, top, H * W).round().astype(np.uint8 if bits == 8 else np.uint16)
    src = src.reshape(H, W)
    _, buf = cv2.imencodeWithMetadata(".png", src, [cv2.IMAGE_METADATA_ICCP],
                                      [np.frombuffer(_linear_icc(gray=True), np.uint8)])
    (tmp_path / "g.png").write_bytes(buf.tobytes())
    f = rio.load(tmp_path / "g.png")
    assert f.icc_converted and f.gray and f.bit_depth == bits
    assert np.abs(f.pixels - _srgb_encode(src / top)[..., None]).max() < 1.5 / 255


def test_broken_profile_is_ignored_with_a_warning(tmp_path):
    Image.fromarray(_rgb8()).save(tmp_path / "b.png", icc_profile=b"not a profile" * 10)
    with pytest.warns(RuntimeWarning, match="ICC"):
        f = rio.load(tmp_path / "b.png")
    assert not f.icc_converted
    np.testing.assert_array_equal(_as8(f.pixels), _rgb8())


# --- decompression bombs -------------------------------------------------------------------------

def _fake_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)  # far too little data, never read
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel decoding starts."""

    def boom(*a, **k):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(PilImageFile.ImageFile, "load", boom)
    monkeypatch.setattr(cv2, "imdecode", boom)


def test_small_limit_rejects_before_decoding(tmp_path, no_decoding):
    Image.fromarray(_rgb8()).save(tmp_path / "a.png")
    with pytest.raises(RestoraError) as err:
        rio.load(tmp_path / "a.png", max_pixels=1000)
    msg = _assert_one_line(err, tmp_path / "a.png")
    assert "56×40 = 2,240 pixels" in msg and "1,000" in msg and "RESTORA_MAX_PIXELS" in msg


def test_env_var_sets_the_limit(tmp_path, monkeypatch):
    Image.fromarray(_rgb8()).save(tmp_path / "a.png")
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "2_000")
    with pytest.raises(RestoraError, match="2,000"):
        rio.load(tmp_path / "a.png")
    assert rio.load(tmp_path / "a.png", max_pixels=H * W).pixels.shape == (H, W, 3)
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "lots")
    with pytest.raises(RestoraError, match="RESTORA_MAX_PIXELS"):
        rio.load(tmp_path / "a.png")


@pytest.mark.parametrize("side", [12_000, 100_000])  # Pillow warns / Pillow refuses
def test_crafted_header_bomb_is_rejected_fast(tmp_path, no_decoding, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(_fake_png(side, side))
    assert path.stat().st_size < 2000
    start = time.perf_counter()
    with pytest.raises(RestoraError) as err:
        rio.load(path)
    assert time.perf_counter() - start < 1.0
    msg = _assert_one_line(err, path)
    assert f"{side * side:,} pixels" in msg and "100,000,000" in msg


def test_pillow_global_limit_follows_ours(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # Pillow alone would refuse 2,240
    for name in ("a.png", "a.tif"):
        Image.fromarray(_rgb8()).save(tmp_path / name)
        assert rio.load(tmp_path / name).pixels.shape == (H, W, 3)
    assert Image.MAX_IMAGE_PIXELS == 500


# --- load errors ---------------------------------------------------------------------------------

def _bad_files(tmp_path):
    png = io.BytesIO()
    Image.fromarray(_rgb8()).save(png, format="PNG")
    jpg = io.BytesIO()
    Image.fromarray(_rgb8()).save(jpg, format="JPEG")
    png16 = cv2.imencode(".png", _rgb16())[1].tobytes()
    gif = io.BytesIO()
    Image.fromarray(_rgb8()).save(gif, format="GIF")
    files = {
        "missing.png": None,
        "folder.png": "dir",
        "empty.png": b"",
        "text.png": b"hello, I am not an image\n",
        "truncated.png": png.getvalue()[: len(png.getvalue()) // 2],
        "truncated.jpg": jpg.getvalue()[: len(jpg.getvalue()) // 2],
        "truncated16.png": png16[: len(png16) // 2],
        "anim.gif": gif.getvalue(),
    }
    for name, content in files.items():
        if content == "dir":
            (tmp_path / name).mkdir()
        elif content is not None:
            (tmp_path / name).write_bytes(content)
    return files


@pytest.mark.parametrize("name,words", [
    ("missing.png", "no such file"), ("folder.png", "directory"), ("empty.png", "empty"),
    ("text.png", "not an image"), ("truncated.png", "truncated or corrupt"),
    ("truncated.jpg", "truncated or corrupt"), ("truncated16.png", "truncated or corrupt"),
    ("anim.gif", "unsupported format GIF")])
def test_load_errors_are_one_line_restora_errors(tmp_path, name, words):
    _bad_files(tmp_path)
    with pytest.raises(RestoraError) as err:
        rio.load(tmp_path / name)
    assert words in _assert_one_line(err, tmp_path / name)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.fromarray(_rgb8()).save(path)
    path.chmod(0)
    if os.access(path, os.R_OK):  # running as root: simulate the refusal
        real_open = open

        def deny(p, *a, **k):
            if str(p) == str(path):
                raise PermissionError(13, "Permission denied", str(p))
            return real_open(p, *a, **k)

        monkeypatch.setattr("builtins.open", deny)
    try:
        with pytest.raises(RestoraError) as err:
            rio.load(path)
        assert "permission denied" in _assert_one_line(err, path)
    finally:
        path.chmod(0o644)


# --- save errors and atomicity -------------------------------------------------------------------

def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_save_refuses_to_overwrite_and_changes_nothing(tmp_path):
    rio.save(tmp_path / "a.png", _rgb8())
    before = _snapshot(tmp_path)
    with pytest.raises(RestoraError) as err:
        rio.save(tmp_path / "a.png", _rgb8(9))
    assert "overwrite=True" in _assert_one_line(err, tmp_path / "a.png")
    assert _snapshot(tmp_path) == before


def test_overwrite_replaces_atomically(tmp_path, monkeypatch):
    rio.save(tmp_path / "a.png", _rgb8())
    renames, real_replace = [], os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    rio.save(tmp_path / "a.png", _rgb8(9), overwrite=True)
    [(src, dst, data)] = renames  # one rename of a complete hidden file from the same folder
    assert src.parent == tmp_path and src.name.startswith(".a.png.") and dst == tmp_path / "a.png"
    assert data == dst.read_bytes()
    assert os.listdir(tmp_path) == ["a.png"]
    np.testing.assert_array_equal(_as8(rio.load(tmp_path / "a.png").pixels), _rgb8(9))


@pytest.mark.parametrize("name,words", [("a.xyz", "unknown extension"),
                                        ("nope/a.png", "does not exist"),
                                        ("sub", "directory")])
def test_save_errors_are_one_line_and_write_nothing(tmp_path, name, words):
    (tmp_path / "sub.png").mkdir()
    target = tmp_path / (name if name != "sub" else "sub.png")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(RestoraError) as err:
        rio.save(target, _rgb8())
    assert words in _assert_one_line(err, target)
    assert sorted(os.listdir(tmp_path)) == before


def test_save_into_unwritable_folder(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # running as root: simulate the refusal
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **k: False if str(p) == str(folder)
                            else real_access(p, m, **k))
    try:
        with pytest.raises(RestoraError) as err:
            rio.save(folder / "a.png", _rgb8())
        assert "not writable" in _assert_one_line(err, folder / "a.png")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("overwrite", [False, True])
def test_failed_write_leaves_no_temp_file_and_keeps_the_old_one(tmp_path, monkeypatch, overwrite):
    if overwrite:
        rio.save(tmp_path / "a.png", _rgb8())
    before = _snapshot(tmp_path)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(RestoraError) as err:
        rio.save(tmp_path / "a.png", _rgb8(9), overwrite=overwrite)
    assert "No space left" in _assert_one_line(err, tmp_path / "a.png")
    assert _snapshot(tmp_path) == before


def test_save_validates_arguments(tmp_path):
    with pytest.raises(RestoraError, match="quality"):
        rio.save(tmp_path / "a.jpg", _rgb8(), quality=0)
    with pytest.raises(RestoraError, match="alpha"):
        rio.save(tmp_path / "a.png", _rgb8(), alpha=np.ones((3, 3), np.float32))
    with pytest.raises(RestoraError, match="shape"):
        rio.save(tmp_path / "a.png", np.zeros((4, 4, 2), np.float32))
    assert os.listdir(tmp_path) == []


def test_save_accepts_gray_2d_and_returns_path(tmp_path):
    img = np.random.default_rng(7).random((H, W)).astype(np.float32)
    out = rio.save(str(tmp_path / "g.png"), img, gray=True)
    assert out == tmp_path / "g.png"
    f = rio.load(out)
    assert f.gray
    np.testing.assert_array_equal(_as8(f.pixels[..., 0]), np.round(img * 255))
