"""The image files a dataset names: found, inside the project, and opened with Pillow (torch-free).

Paths are relative to the data file's folder (absolute paths are taken as they are) and must stay
inside the project: the nearest folder above the data file that holds training-config.json or
.factory/, else the data file's own folder. A `data:image/...;base64,` URI is decoded in memory.
http(s) URLs are refused: nothing is downloaded at train time.

Each image is opened and decoded fully once (a truncated file fails here, not at step 500), and its
size is kept: an image over Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS) is refused.
Results are cached by path, so a dataset that names one image a thousand times opens it once.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from pathlib import Path

from forge.data.formats.normalized import short

# kind -> the fix (forge.data.validate.FIXES takes these in)
IMAGE_FIXES = {
    "image_url": "save the image inside the project (e.g. data/images/) and give its path relative to the data file",
    "image_missing": "fix the path (relative to the data file's folder) or add the image file",
    "image_outside": "copy the image into the project folder and give its path relative to the data file",
    "image_corrupt": "replace the file with a valid PNG, JPEG or WebP image (or drop the record)",
    "image_too_large": "downscale the image (the processor resizes it anyway: e.g. 896 px on the long side for Gemma 3)",
    "image_placeholders": "give one <image> placeholder in the turns for each entry of 'images', in order",
    "image_placement": "put the image in the user's turn (a model reads images, it never writes them)",
}


@dataclass
class Checked:
    ref: str | None  # what training opens: an absolute path or the data URI; None when refused
    kind: str | None = None
    message: str | None = None
    pixels: int = 0


def project_root_of(data_file: Path) -> Path:
    folder = Path(data_file).resolve().parent
    for p in (folder, *folder.parents):
        if (p / "training-config.json").is_file() or (p / ".factory").is_dir():
            return p
    return folder


class ImageChecker:
    """Checks the images of one data file's records; `check(messages)` resolves their references in
    place and answers the first problem (kind, message) or None."""

    def __init__(self, data_file: Path, root: Path | None = None):
        self.base = Path(data_file).resolve().parent
        self.root = (root or project_root_of(data_file)).resolve()
        self.cache: dict[str, Checked] = {}
        self.images = 0  # image references checked in usable records
        self.largest = 0  # pixels of the largest image

    def check(self, messages: list[dict]) -> tuple[str, str] | None:
        for turn, m in enumerate(messages, start=1):
            refs = m.get("images")
            if not refs:
                continue
            resolved = []
            for ref in refs:
                c = self.cache.get(ref)
                if c is None:
                    c = self.cache[ref] = self._check(ref)
                if c.kind:
                    return c.kind, f"turn {turn}: image {short(ref, 60)}: {c.message}"
                resolved.append(c.ref)
                self.largest = max(self.largest, c.pixels)
            m["images"] = resolved
        self.images += sum(len(m.get("images") or ()) for m in messages)
        return None

    def _check(self, ref: str) -> Checked:
        low = ref[:8].lower()
        if low.startswith(("http://", "https:/")):
            return Checked(None, "image_url", "an http(s) URL: forge does not download images at train time")
        if low.startswith("data:"):
            head, _, payload = ref.partition(",")
            if ";base64" not in head or not head[5:].startswith("image/"):
                return Checked(None, "image_corrupt", "a data URI must be data:image/<type>;base64,<data>")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                return Checked(None, "image_corrupt", "the data URI's base64 does not decode")
            return _opened(ref, io.BytesIO(data))
        path = Path(ref).expanduser()
        path = (path if path.is_absolute() else self.base / path).resolve()
        if not path.is_relative_to(self.root):
            return Checked(None, "image_outside", f"{path} is outside the project folder {self.root}")
        if not path.is_file():
            return Checked(
                None,
                "image_missing",
                f"no file at {_shown(path, self.root)} (paths are relative to {_shown(self.base, self.root) or '.'}/)",
            )
        return _opened(str(path), path)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _opened(ref: str, source) -> Checked:
    import warnings

    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # sized below, in forge's words
            with Image.open(source) as im:
                w, h = im.size
                if limit and w * h > limit:
                    return Checked(None, "image_too_large", f"{w}x{h} pixels, over the limit of {limit} pixels")
                im.load()  # decodes it all: a truncated file fails here
    except Image.DecompressionBombError:
        return Checked(None, "image_too_large", f"more than twice the limit of {limit} pixels")
    except PermissionError:
        return Checked(None, "image_missing", "cannot be read (permission denied)")
    except Exception as e:  # Pillow's UnidentifiedImageError, OSError "truncated", SyntaxError ...
        return Checked(None, "image_corrupt", f"not an image Pillow can read ({type(e).__name__}: {short(str(e), 80)})")
    return Checked(ref, pixels=w * h)
