"""The 12 class names, in the fixed order of the original checkpoint."""

from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "censored", "other")
NUM_CLASSES = len(CLASS_NAMES)
CENSORED_ID = 10
OTHER_ID = 11


def is_digit(class_id: int) -> bool:
    return 0 <= class_id <= 9
