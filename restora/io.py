"""Safe image loading and saving: the only place where restora touches image files.

:func:`load` returns pixels ready to process (float32 H×W×3 in [0, 1], sRGB, upright): EXIF
orientation applied, an ICC profile converted to sRGB, alpha kept aside, 16-bit PNG/TIFF decoded
at full precision by OpenCV (Pillow cuts 16-bit RGB to 8 bits). Decompression bombs are refused
from the header, before decoding, above ``max_pixels`` / ``$RESTORA_MAX_PIXELS`` /
:data:`DEFAULT_MAX_PIXELS`. :func:`save`, given ``like=`` (the loaded original), writes the result
in kind: alpha, gray, 16 bits (PNG, TIFF) and EXIF (JPEG, PNG, WebP) carried over. It encodes in
memory, writes a hidden temporary file beside the target, fsyncs and renames it into place, and
replaces an existing file only with ``overwrite=True``. Every failure due to the file or the
arguments is a one-line :class:`RestoraError` naming the file.

Limitations: 16-bit data with a non-sRGB profile is converted through a 256³ table sampled with
Pillow's 8-bit colour engine and interpolated in float: smooth (no 8-bit banding), accurate to
about ±0.5/255. 16-bit gray+alpha is saved as RGBA (OpenCV writes no 2-channel images). JPEG and
BMP drop alpha; WebP has no gray mode; TIFF output carries no EXIF.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
import secrets
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from restora._image import as_image, to_gray
from restora.errors import RestoraError

DEFAULT_MAX_PIXELS = 100_000_000  # largest width × height load() decodes unless told otherwise

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
           ".webp": "WEBP", ".bmp": "BMP"}
_SIXTEEN_BIT = {"PNG", "TIFF"}  # formats save() can write at 16 bits
_WITH_ALPHA = {"PNG", "TIFF", "WEBP"}
_WITH_EXIF = {"JPEG", "PNG", "WEBP"}
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, cv2.error)
_PIL_LIMIT_LOCK = threading.Lock()
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_ORIENTATION = 0x0112
_EXISTS = "cannot save {}: file already exists (--force / overwrite=True replaces it)"
_TRANSPOSE = {  # EXIF orientation -> how to turn the stored array upright (as ImageOps does)
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a, 1),
}


@dataclass
class ImageFile:
    """A decoded image plus what is needed to write a result back in the same kind."""

    pixels: np.ndarray  # float32 H×W×3 in [0, 1], sRGB, upright
    alpha: np.ndarray | None  # float32 H×W in [0, 1], upright; None when the file has none
    gray: bool  # the source was single-channel
    bit_depth: int  # 8 or 16
    format: str  # "PNG", "JPEG", "TIFF", "WEBP" or "BMP"
    path: Path
    icc_converted: bool  # an embedded non-sRGB profile was converted to sRGB
    exif: bytes | None  # raw EXIF ("Exif\0\0" + TIFF block) with orientation reset to 1


def load(path: str | os.PathLike, *, max_pixels: int | None = None) -> ImageFile:
    """Decode ``path`` into an :class:`ImageFile`, refusing images larger than ``max_pixels``."""
    p = Path(path)
    limit = _pixel_limit(max_pixels)
    data = _read_checked(p, limit)
    try:
        with _pil_bomb_limit(limit):
            im = Image.open(io.BytesIO(data))
            bits = _bits_per_sample(im, data)
            if bits not in (1, 2, 4, 8, 16):
                raise RestoraError(f"cannot read {p}: unsupported sample format ({bits}-bit)")
            if bits == 16:  # Pillow would reduce 16-bit RGB to 8 bits: decode with OpenCV
                color, alpha, gray = _decode_16bit(data, im.mode)
                mode = "L" if gray else "RGB"
            else:
                color, alpha, gray = _decode_8bit(im, p)  # a Pillow image: L, RGB or CMYK
                mode = color.mode
            transform = _icc_transform(im.info.get("icc_profile"), mode, p)
            if transform is None:
                pixels = as_image(np.asarray(color.convert("RGB")) if bits < 16 else color)
            elif bits < 16 and not gray:  # 8-bit colour: lcms directly
                pixels = as_image(np.asarray(ImageCms.applyTransform(color, transform)))
            else:
                pixels = _convert_via_lut(as_image(np.asarray(color)), transform, gray)
            orientation, exif = _exif_of(im, data)
    except Image.DecompressionBombError as e:
        raise _too_many_pixels(p, limit, bomb=e) from None
    except _DECODE_ERRORS as e:
        raise RestoraError(f"cannot read {p}: file is truncated or corrupt ({_one_line(e)})") from e
    upright = _TRANSPOSE.get(orientation, lambda a: a)
    return ImageFile(
        pixels=np.ascontiguousarray(upright(pixels)),
        alpha=None if alpha is None else np.ascontiguousarray(upright(alpha)),
        gray=gray, bit_depth=16 if bits == 16 else 8, format=im.format, path=p,
        icc_converted=transform is not None, exif=exif,
    )


def read_image(path: str | os.PathLike, **kw) -> np.ndarray:
    """Just the pixels of :func:`load` (float32 H×W×3 in [0, 1], sRGB, upright)."""
    return load(path, **kw).pixels


def save(path: str | os.PathLike, img: np.ndarray, *, like: ImageFile | None = None,
         alpha: np.ndarray | None = None, gray: bool | None = None, bit_depth: int | None = None,
         quality: int = 95, overwrite: bool = False) -> Path:
    """Write ``img`` (H×W×3 or H×W, float [0, 1] or uint8/uint16) to ``path`` atomically.

    ``alpha``, ``gray`` and ``bit_depth`` default to those of ``like`` (alpha resized if the image
    was), else to opaque, RGB, 8 bits. ``quality`` is for JPEG and WebP (100 = lossless WebP).
    Nothing is written if anything fails, and an existing file is kept unless ``overwrite``.
    """
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise RestoraError(f"cannot save {p}: unknown extension {p.suffix!r} "
                           f"(use one of {', '.join(sorted(FORMATS))})")
    check_destination(p, overwrite)
    rgb = as_image(img, name=f"image for {p}")
    if like is not None:
        gray = like.gray if gray is None else gray
        if alpha is None and like.alpha is not None:
            alpha = cv2.resize(like.alpha, rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        if bit_depth is None:
            bit_depth = like.bit_depth if fmt in _SIXTEEN_BIT else 8
    bit_depth = 8 if bit_depth is None else bit_depth
    if bit_depth not in (8, 16) or (bit_depth == 16 and fmt not in _SIXTEEN_BIT):
        raise RestoraError(f"cannot save {p}: {fmt} cannot store {bit_depth}-bit samples")
    if not 1 <= quality <= 100:
        raise RestoraError(f"cannot save {p}: quality must be in 1..100, got {quality}")
    if alpha is not None:
        alpha = as_image(alpha, name=f"alpha for {p}")[..., 0]
        if alpha.shape != rgb.shape[:2]:
            raise RestoraError(f"cannot save {p}: alpha is {alpha.shape[1]}×{alpha.shape[0]}, "
                               f"image is {rgb.shape[1]}×{rgb.shape[0]}")
    planes = _gray_plane(rgb)[..., None] if gray else rgb
    if alpha is not None and fmt in _WITH_ALPHA:
        planes = np.concatenate([planes, alpha[..., None]], axis=-1)
    exif = like.exif if like is not None and fmt in _WITH_EXIF else None
    write_bytes(p, _encode(fmt, planes, bit_depth, quality, exif, p), overwrite)
    return p


def _pixel_limit(max_pixels: int | None) -> int:
    """The effective pixel limit: argument, else $RESTORA_MAX_PIXELS, else the default."""
    source = "max_pixels"
    if max_pixels is None:
        source, env = "RESTORA_MAX_PIXELS", os.environ.get("RESTORA_MAX_PIXELS", "").strip()
        max_pixels = int(env) if re.fullmatch(r"\d+(_\d+)*", env) else env or DEFAULT_MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise RestoraError(f"{source} must be a positive integer, not {max_pixels!r}")
    return max_pixels


def _read_checked(p: Path, limit: int) -> bytes:
    """Check the path, parse only the header, enforce the limit, then read the whole file."""
    if p.is_dir():
        raise RestoraError(f"cannot read {p}: it is a directory, not an image file")
    if not p.is_file():
        raise RestoraError(f"cannot read {p}: " + ("not a regular file" if p.exists()
                                                   else "no such file"))
    try:
        if p.stat().st_size == 0:
            raise RestoraError(f"cannot read {p}: file is empty (0 bytes)")
        with open(p, "rb") as f:
            try:
                with _pil_bomb_limit(limit):
                    im = Image.open(f)  # lazy: reads the header, decodes no pixels
            except UnidentifiedImageError:
                raise RestoraError(f"cannot read {p}: not an image in a supported format "
                                   "(unknown or damaged header)") from None
            except Image.DecompressionBombError as e:
                raise _too_many_pixels(p, limit, bomb=e) from None
            if im.format not in FORMATS.values():
                raise RestoraError(f"cannot read {p}: unsupported format {im.format} "
                                   "(supported: PNG, JPEG, TIFF, WebP, BMP)")
            if im.width * im.height > limit:
                raise _too_many_pixels(p, limit, im.size)
            f.seek(0)
            return f.read()
    except PermissionError:
        raise RestoraError(f"cannot read {p}: permission denied") from None
    except _DECODE_ERRORS as e:
        raise RestoraError(f"cannot read {p}: {_one_line(e)}") from None


@contextlib.contextmanager
def _pil_bomb_limit(limit: int):
    """Run Pillow under our pixel limit rather than its own global one.

    Its bomb warning is silenced; its hard cap (2 × ``Image.MAX_IMAGE_PIXELS``, checked at open
    and at TIFF decode) is lifted under a lock when ours is higher, and always restored.
    """
    cap = Image.MAX_IMAGE_PIXELS
    lift = cap is not None and limit > 2 * cap
    with _PIL_LIMIT_LOCK if lift else contextlib.nullcontext(), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if not lift:
            yield
            return
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _too_many_pixels(p: Path, limit: int, size: tuple[int, int] | None = None,
                     bomb: Exception | None = None) -> RestoraError:
    """The bomb error, from the header size or from the count Pillow's own guard quotes."""
    found = re.search(r"\((\d+) pixels\)", str(bomb)) if bomb else None
    what = (f"{size[0]}×{size[1]} = {size[0] * size[1]:,} pixels" if size
            else f"{int(found.group(1)):,} pixels" if found else "the image")
    return RestoraError(f"cannot read {p}: {what} exceeds the limit of {limit:,} (raise it with "
                        "max_pixels= or the RESTORA_MAX_PIXELS environment variable)")


def _bits_per_sample(im: Image.Image, data: bytes) -> int:
    """Bits per sample from the header (Pillow's mode hides 16-bit RGB)."""
    if im.format == "PNG":
        return data[24]  # IHDR bit depth: 8 signature + 4 length + 4 type + 4 width + 4 height
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, 1)
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return 8


def _decode_8bit(im: Image.Image, p: Path) -> tuple[Image.Image, np.ndarray | None, bool]:
    """Decode with Pillow into an L, RGB or CMYK image, plus alpha (float32) and the gray flag."""
    mode = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB",
            "YCbCr": "RGB"}.get(im.mode, im.mode)
    if mode in ("L", "RGB") and im.info.get("transparency") is not None:
        mode += "A"  # tRNS chunk or palette transparency
    if mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        raise RestoraError(f"cannot read {p}: unsupported pixel layout {im.mode}")
    im.load()
    im = im.convert(mode) if mode != im.mode else im
    alpha = None
    if mode.endswith("A"):
        alpha = np.asarray(im.getchannel("A"), dtype=np.float32) / 255.0
        im = im.convert(mode[:-1])
    return im, alpha, mode.startswith("L")


def _decode_16bit(data: bytes, pil_mode: str) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Decode 16-bit PNG/TIFF with OpenCV: uint16 H×W×{1,3} RGB, float32 alpha, gray flag."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # no auto-rotation
    if arr is None or arr.dtype != np.uint16:
        raise ValueError("OpenCV could not decode the 16-bit data")
    arr = arr[..., None] if arr.ndim == 2 else arr
    channels = arr.shape[2]
    if channels >= 3:
        arr = arr[..., [2, 1, 0, 3][:channels]]  # BGR(A) -> RGB(A)
    alpha = arr[..., -1].astype(np.float32) / 65535.0 if channels in (2, 4) else None
    gray = channels <= 2 or pil_mode.startswith(("L", "I"))  # OpenCV expands gray+alpha to 4
    return (arr[..., :1] if gray else arr[..., :3]), alpha, gray


def _icc_transform(icc: bytes | None, in_mode: str, p: Path) -> ImageCms.ImageCmsTransform | None:
    """An lcms transform from the embedded profile to sRGB; None if absent, sRGB or unusable."""
    if not icc:
        return None
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = ImageCms.getProfileDescription(src).strip().lower()
        if desc.startswith("srgb") and "linear" not in desc:
            return None  # already sRGB: a round trip through lcms could only add rounding
        # lcms's optimised 8-bit gray path is off by up to 10/255 near black; gray transforms
        # only ever run on 256 samples (see _convert_via_lut), so they can afford full precision
        flags = ImageCms.Flags.NOOPTIMIZE if in_mode == "L" else ImageCms.Flags.NONE
        return ImageCms.buildTransform(src, _SRGB, in_mode, "RGB", flags=flags)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as e:
        warnings.warn(f"{p}: ignoring unusable ICC profile ({_one_line(e)})", RuntimeWarning,
                      stacklevel=3)
        return None


def _convert_via_lut(pixels: np.ndarray, transform: ImageCms.ImageCmsTransform,
                     gray: bool) -> np.ndarray:
    """Apply an 8-bit lcms transform to gray or 16-bit data without cutting it to 8 bits.

    Pillow runs only 8-bit transforms, so the transform is sampled at every 8-bit level (256³ =
    48 MiB for RGB) and interpolated linearly in float32 (exact at 8-bit values).
    """
    if gray:
        nodes = Image.fromarray(np.arange(256, dtype=np.uint8)[None])
        lut = np.asarray(ImageCms.applyTransform(nodes, transform), np.float32)[0] / 255.0
        x = np.linspace(0.0, 1.0, 256)
        return np.stack([np.interp(pixels[..., 0], x, lut[:, c]) for c in range(3)],
                        axis=-1).astype(np.float32)
    levels = np.arange(256, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)
    lut = ImageCms.applyTransform(Image.fromarray(grid.reshape(256 * 256, 256, 3)), transform)
    lut = np.asarray(lut).reshape(256, 256, 256, 3)
    flat, step = pixels.reshape(-1, 3), 1 << 18
    out = np.empty_like(flat)
    for s in range(0, len(flat), step):  # trilinear interpolation, in bounded-memory chunks
        x = flat[s:s + step] * 255.0
        i = np.minimum(x.astype(np.int32), 254)
        f = x - i
        acc = np.zeros_like(x)
        for corner in itertools.product((0, 1), repeat=3):
            w = np.prod([f[:, k] if corner[k] else 1.0 - f[:, k] for k in range(3)], axis=0)
            acc += w[:, None] * lut[i[:, 0] + corner[0], i[:, 1] + corner[1], i[:, 2] + corner[2]]
        out[s:s + step] = acc / 255.0
    return out.reshape(pixels.shape)


def _exif_of(im: Image.Image, data: bytes) -> tuple[int, bytes | None]:
    """The EXIF orientation (1..8) and the file's EXIF block with orientation reset to 1."""
    if im.format == "PNG" and "exif" not in im.info and b"eXIf" not in data:
        return 1, None  # spare getexif(), which would decode a PNG just to look for the chunk
    exif = im.getexif()
    orientation = exif.get(_ORIENTATION, 1)
    if not im.info.get("exif"):  # e.g. TIFF, whose tags are the file's own header
        return orientation, None
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1  # the pixels are upright now: a copy must not be turned again
    return orientation, exif.tobytes()


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def check_destination(p: Path, overwrite: bool) -> None:
    """Refuse early, before encoding, when the file could not or should not be written."""
    if not p.parent.is_dir():
        raise RestoraError(f"cannot save {p}: folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise RestoraError(f"cannot save {p}: folder {p.parent} is not writable")
    if p.is_dir():
        raise RestoraError(f"cannot save {p}: a directory of that name exists")
    if p.exists() and not overwrite:
        raise RestoraError(_EXISTS.format(p))


def _gray_plane(rgb: np.ndarray) -> np.ndarray:
    """One channel for a gray save: exact when channels are equal, else BT.601 luma."""
    r = rgb[..., 0]
    return r if np.array_equal(r, rgb[..., 1]) and np.array_equal(r, rgb[..., 2]) else to_gray(rgb)


def _encode(fmt: str, planes: np.ndarray, bit_depth: int, quality: int, exif: bytes | None,
            p: Path) -> bytes:
    """Encode H×W×C float planes (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) in memory."""
    if bit_depth == 16:
        q = np.round(planes * 65535.0).astype(np.uint16)
        q = q[..., [0, 0, 0, 1]] if q.shape[2] == 2 else q  # no 2-channel OpenCV writer: RGBA
        q = q[..., [2, 1, 0, 3][:q.shape[2]]] if q.shape[2] >= 3 else q  # RGB(A) -> BGR(A)
        ext = ".png" if fmt == "PNG" else ".tiff"
        if exif and fmt == "PNG" and hasattr(cv2, "imencodeWithMetadata"):
            ok, buf = cv2.imencodeWithMetadata(ext, q, [cv2.IMAGE_METADATA_EXIF],
                                               [np.frombuffer(exif[6:], np.uint8)])
        else:
            ok, buf = cv2.imencode(ext, q)
        if not ok:
            raise RestoraError(f"cannot save {p}: OpenCV failed to encode 16-bit {fmt}")
        return buf.tobytes()
    q = np.round(planes * 255.0).astype(np.uint8)
    options: dict = {"JPEG": {"quality": quality}, "TIFF": {"compression": "tiff_lzw"},
                     "WEBP": {"quality": quality, "lossless": quality >= 100,
                              "exact": True}}.get(fmt, {})  # exact: keep RGB where alpha is 0
    if exif:
        options["exif"] = exif
    out = io.BytesIO()
    try:
        Image.fromarray(q[..., 0] if q.shape[2] == 1 else q).save(out, format=fmt, **options)
    except (OSError, ValueError, KeyError) as e:
        raise RestoraError(f"cannot save {p}: {fmt} encoder failed ({_one_line(e)})") from None
    return out.getvalue()


def write_bytes(p: Path, data: bytes, overwrite: bool) -> None:
    """Write to a hidden temporary file beside ``p``, fsync, then move it into place."""
    p = Path(p)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:  # a fresh name; permissions follow the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and p.exists():  # appeared since check_destination
            raise RestoraError(_EXISTS.format(p))
        os.replace(tmp, p)  # atomic: readers see the old file or the new one, never a mix
    except OSError as e:
        raise RestoraError(f"cannot save {p}: {_one_line(e)}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_npz(p: Path, arrays: dict[str, np.ndarray], overwrite: bool) -> None:
    """Save named arrays as a compressed .npz, atomically, with the same no-overwrite rule."""
    p = Path(p)
    check_destination(p, overwrite)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(p, buf.getvalue(), overwrite)
