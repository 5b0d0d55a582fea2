"""Build hook (the project is declared in pyproject.toml): ships the run-time weights and the Hydra configs.

The repository keeps ``weights/`` and ``configs/`` at its root, where people and the Hugging Face Space use
them; a wheel carries them as package data under ``digit_detector/_bundled/`` (found at run time by
``digit_detector.bundled``). Only the files inference and training read go in: the detector with its namer
(safetensors, ONNX, metadata) and the style CVAE, not the evaluation pictures in ``weights/eval``. An editable
install copies nothing: ``digit_detector.bundled`` reads the checkout's root folders then.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# root folder -> glob patterns of the files it ships (the same list is in MANIFEST.in, for the sdist)
BUNDLED: dict[str, tuple[str, ...]] = {
    "weights": ("yolov3-tiny.*", "style-cvae.*"),
    "configs": ("**/*.yaml",),
}
REQUIRED = ("weights/yolov3-tiny.safetensors", "weights/yolov3-tiny.json", "configs/train.yaml")


class BuildPyWithBundled(build_py):
    """``build_py`` that also copies the shipped weights and configs into ``digit_detector/_bundled``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        missing = [name for name in REQUIRED if not (ROOT / name).is_file()]
        if missing:
            raise FileNotFoundError(f"cannot build the package without {', '.join(missing)}")
        for folder, patterns in BUNDLED.items():
            source_dir = ROOT / folder
            target_dir = Path(self.build_lib, "digit_detector", "_bundled", folder)
            for pattern in patterns:
                for source in sorted(source_dir.glob(pattern)):
                    if not source.is_file():
                        continue
                    target = target_dir / source.relative_to(source_dir)
                    self.mkpath(str(target.parent))
                    self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildPyWithBundled})
