"""The one selection (numpy, what both backends run; onnxruntime without torch) keeps exactly the boxes
torchvision's NMS keeps: thresholds, NMS (class-agnostic and per class), containment, naming. The oracle,
:func:`torchvision_select`, is the selection written with torchvision ops as it was before the numpy one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms, box_area, nms

from digit_detector.decode import (
    GROUP_COVER,
    NEIGHBOUR_INSIDE,
    NEIGHBOUR_REACH,
    SURE_NAME,
    RawDetections,
    batched_nms_numpy,
    contained,
    nms_numpy,
    select,
)
from digit_detector.second_stage import apply_log_bias, name_boxes

SIZE = 192.0
CLASSES = 12


def random_decoded(seed: int, images: int = 3, rows: int = 400) -> np.ndarray:
    """Decoded rows ``(N, K, 5 + C)`` as the model gives them: clustered boxes (so that NMS and containment
    have work to do), objectness and softmax class probabilities, float32."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, SIZE, (images, 8, 2))[:, rng.integers(0, 8, rows)]
    centres += rng.normal(0, 6, centres.shape)
    sizes = rng.uniform(4, 90, (images, rows, 2))
    boxes = np.concatenate((centres - sizes / 2, centres + sizes / 2), axis=-1)
    objectness = rng.uniform(0, 1, (images, rows, 1)) ** 2
    logits = rng.normal(0, 2, (images, rows, CLASSES))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return np.concatenate((boxes, objectness, probs), axis=-1).astype(np.float32)


def reach(box: torch.Tensor, holder: torch.Tensor) -> float:
    """How far ``box`` reaches beyond ``holder`` on its farthest side, in the holder's width or height."""
    width, height = float(holder[2] - holder[0]), float(holder[3] - holder[1])
    return max(
        float(holder[0] - box[0]) / width,
        float(box[2] - holder[2]) / width,
        float(holder[1] - box[1]) / height,
        float(box[3] - holder[3]) / height,
    )


def torchvision_contained(
    boxes: torch.Tensor,
    threshold: float,
    scores: torch.Tensor | None = None,
    class_ids: torch.Tensor | None = None,
    name_probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """The containment rule with torch ops and loops over the boxes (oracle for :func:`contained`)."""
    if len(boxes) < 2:
        return torch.zeros(len(boxes), dtype=torch.bool)
    area = box_area(boxes)
    top_left = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inside = (bottom_right - top_left).clamp(min=0).prod(dim=2) / area[:, None].clamp(min=1e-9)
    larger = area[None, :] > area[:, None]
    if scores is not None:  # equal boxes: the higher score (then the earlier box) is the larger
        order = sorted(range(len(scores)), key=lambda k: (float(scores[k]), -k))
        rank = torch.empty(len(scores), dtype=torch.int64)
        rank[torch.tensor(order)] = torch.arange(len(scores))
        larger |= (area[None, :] == area[:, None]) & (rank[None, :] > rank[:, None])
    holds = (inside > threshold) & larger
    if scores is None:
        return holds.any(dim=1)
    group = torch.zeros(len(boxes), dtype=torch.bool)
    for j in range(len(boxes)):  # each larger box: does what outscores it inside it replace it?
        parts = [i for i in range(len(boxes)) if holds[i, j] and scores[i] > scores[j]]
        covered = sum(float(area[i]) for i in parts) >= GROUP_COVER * float(area[j])
        if class_ids is None:
            group[j] = len(parts) >= 2 and covered
            continue
        names = [int(class_ids[i]) for i in parts]
        same = len(parts) == 1 and names[0] == int(class_ids[j])
        group[j] = (len(parts) >= 2 or same) and covered and all(0 <= n <= 9 for n in names)
    dropped = torch.zeros(len(boxes), dtype=torch.bool)
    for i in range(len(boxes)):  # each box: is it kept out by a larger one, and is it a sure neighbour?
        holders = [j for j in range(len(boxes)) if holds[i, j] and not group[j]]
        neighbour = (
            class_ids is not None
            and name_probs is not None
            and 0 <= int(class_ids[i]) <= 9
            and float(name_probs[i]) >= SURE_NAME
            and all(
                scores[i] > scores[j]
                and inside[i, j] < NEIGHBOUR_INSIDE
                and reach(boxes[i], boxes[j]) >= NEIGHBOUR_REACH
                for j in holders
            )
        )
        dropped[i] = bool(group[i]) or (bool(holders) and not neighbour)
    return dropped


def torchvision_select(
    decoded: torch.Tensor,
    score_threshold: float,
    iou_threshold: float,
    class_agnostic: bool = True,
    max_detections: int = 100,
    rank_by: str = "score",
) -> list[RawDetections[torch.Tensor]]:
    """:func:`select` with torchvision's ``nms``/``batched_nms`` (the oracle)."""
    results = []
    for image_rows in decoded:
        best_probs, class_ids = image_rows[:, 5:].max(dim=-1)
        objectness = image_rows[:, 4]
        scores = objectness * best_probs if rank_by == "score" else objectness
        keep = scores >= score_threshold
        boxes, scores, class_ids = image_rows[keep, :4], scores[keep], class_ids[keep]
        objectness, class_probs = objectness[keep], image_rows[keep, 5:]
        if class_agnostic:
            kept = nms(boxes, scores, iou_threshold)
        else:
            kept = batched_nms(boxes, scores, class_ids, iou_threshold)
        kept = kept[:max_detections]
        results.append(
            RawDetections(boxes[kept], scores[kept], class_ids[kept], objectness[kept], class_probs[kept])
        )
    return results


def assert_same(
    torch_found: list[RawDetections[torch.Tensor]], numpy_found: list[RawDetections[np.ndarray]]
) -> None:
    assert len(torch_found) == len(numpy_found)
    for expected, got in zip(torch_found, numpy_found, strict=True):
        for name in ("boxes", "scores", "class_ids", "objectness", "class_probs"):
            want, have = getattr(expected, name).numpy(), getattr(got, name)
            assert isinstance(have, np.ndarray), name
            assert have.dtype == want.dtype, name
            np.testing.assert_array_equal(have, want, err_msg=name)  # the same boxes, in the same order


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("class_agnostic", "rank_by"),
    [(True, "score"), (False, "score"), (True, "objectness")],
)
def test_numpy_select_keeps_the_torchvision_boxes(seed: int, class_agnostic: bool, rank_by: str) -> None:
    decoded = random_decoded(seed)
    for score_threshold, iou_threshold in ((0.05, 0.45), (0.25, 0.3), (0.5, 0.6), (0.0, 0.45)):
        options = {"class_agnostic": class_agnostic, "rank_by": rank_by}
        expected = torchvision_select(torch.from_numpy(decoded), score_threshold, iou_threshold, **options)  # type: ignore[arg-type]
        assert_same(expected, select(decoded, score_threshold, iou_threshold, **options))  # type: ignore[arg-type]
        from_tensor = select(torch.from_numpy(decoded), score_threshold, iou_threshold, **options)  # type: ignore[arg-type]
        assert_same(expected, [RawDetections(*(t.numpy() for t in vars(r).values())) for r in from_tensor])


def test_numpy_select_keeps_the_torchvision_boxes_beyond_max_detections() -> None:
    decoded = random_decoded(7, images=1, rows=3000)
    for agnostic in (True, False):
        expected = torchvision_select(torch.from_numpy(decoded), 0.0, 0.7, agnostic, max_detections=300)
        assert_same(expected, select(decoded, 0.0, 0.7, agnostic, max_detections=300))


@pytest.mark.parametrize("count", [0, 1, 2, 50, 1200])  # 1200 boxes: torchvision's class-by-class path
def test_nms_numpy_equals_torchvision(count: int) -> None:
    decoded = random_decoded(count, images=1, rows=max(count, 1))[0, :count]
    boxes, scores = decoded[:, :4], decoded[:, 4]
    classes = decoded[:, 5:].argmax(-1)
    for threshold in (0.1, 0.3, 0.45, 0.9):
        want = nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()
        np.testing.assert_array_equal(nms_numpy(boxes, scores, threshold), want)
        want = batched_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), threshold
        ).numpy()
        np.testing.assert_array_equal(batched_nms_numpy(boxes, scores, classes, threshold), want)


def test_nms_numpy_compares_the_float_iou_with_the_double_threshold() -> None:
    """IoU exactly float32(0.3) (> 0.3 in double): torchvision suppresses the box, and so must numpy."""
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 3]], dtype=np.float32)  # IoU 30 / 100
    scores = np.array([0.9, 0.8], dtype=np.float32)
    want = nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.3).numpy()
    np.testing.assert_array_equal(nms_numpy(boxes, scores, 0.3), want)


def test_contained_is_the_same_in_numpy() -> None:
    decoded = random_decoded(3, images=1, rows=300)[0]
    boxes, scores = decoded[:, :4], decoded[:, 4]
    for threshold in (0.3, 0.5, 0.8):
        want = torchvision_contained(torch.from_numpy(boxes), threshold).numpy()
        got = contained(boxes, threshold)
        assert isinstance(got, np.ndarray) and want.any() and not want.all()
        np.testing.assert_array_equal(got, want)
        want = torchvision_contained(torch.from_numpy(boxes), threshold, torch.from_numpy(scores)).numpy()
        np.testing.assert_array_equal(contained(boxes, threshold, scores), want)
        class_ids = decoded[:, 5:].argmax(-1)
        want = torchvision_contained(
            torch.from_numpy(boxes), threshold, torch.from_numpy(scores), torch.from_numpy(class_ids)
        ).numpy()
        groups = contained(boxes, threshold, scores) != contained(boxes, threshold)
        assert groups.any(), "the random boxes hold no group: the group rule went untested"
        np.testing.assert_array_equal(contained(boxes, threshold, scores, class_ids), want)
    # sure neighbours are rare among 300 random boxes (every holder must be weaker): 20 at a time
    neighbours = 0
    for first in range(0, len(boxes), 20):
        few = slice(first, first + 20)
        class_ids = decoded[few, 5:].argmax(-1)
        name_probs = np.where(np.arange(20) % 2 == 0, 0.95, 0.5).astype(np.float32)
        want = torchvision_contained(
            torch.from_numpy(boxes[few]),
            0.5,
            torch.from_numpy(scores[few]),
            torch.from_numpy(class_ids),
            torch.from_numpy(name_probs),
        ).numpy()
        got = contained(boxes[few], 0.5, scores[few], class_ids, name_probs)
        np.testing.assert_array_equal(got, want)
        neighbours += int((got != contained(boxes[few], 0.5, scores[few], class_ids)).sum())
    assert neighbours > 0, "no sure neighbour among the random boxes: the rule went untested"


def test_naming_and_log_bias_are_the_same_in_numpy() -> None:
    decoded = random_decoded(4, images=1)
    found_torch = torchvision_select(torch.from_numpy(decoded), 0.1, 0.45, rank_by="objectness")[0]
    found_numpy = select(decoded, 0.1, 0.45, rank_by="objectness")[0]
    bias = np.zeros(CLASSES, dtype=np.float32)
    bias[[3, 10]] = (0.5, -0.3)
    probs = found_numpy.class_probs
    np.testing.assert_allclose(
        apply_log_bias(probs, bias), apply_log_bias(torch.from_numpy(probs), bias).numpy(), rtol=1e-6
    )
    assert apply_log_bias(probs, np.zeros(CLASSES, np.float32)) is probs
    expected = name_boxes(found_torch, found_torch.class_probs)
    got = name_boxes(found_numpy, probs)
    for name in ("class_ids", "scores", "runner_up_ids", "runner_up_scores", "class_scores"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name).numpy(), err_msg=name)
