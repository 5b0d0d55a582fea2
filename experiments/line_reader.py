"""A line reader as a second opinion on numbers: a small CRNN (CTC) that reads a whole line of digits.

    .venv/bin/python experiments/line_reader.py crops --data data/fresh --split train --limit 40000 \
        --out runs/line-reader/train.npz
    .venv/bin/python experiments/line_reader.py train --crops runs/line-reader/train.npz --minutes 40 \
        --out runs/line-reader/crnn.pt
    .venv/bin/python experiments/line_reader.py read --data data/synth --split val \
        --model runs/line-reader/crnn.pt

The detector names digits one box at a time; a thin `1` pressed against its neighbour, a digit shown
twice or two touching digits in one box cost a whole number. A reader of the line's picture (the union
of the line's shown digit boxes, with a margin) sees the digits together. ``read`` runs the shipped
detector, reads each line of its shown digits again with the CRNN, and counts the numbers read exactly
when the CRNN's reading replaces the line's (always, when it is sure, or only when it counts another
number of digits), against the shipped reading and the truth.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch import nn
from tqdm import tqdm

from digit_detector.classes import CLASS_NAMES, is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.io import read_image
from digit_detector.reading import group_lines, read_number

HEIGHT = 32
WIDTH = 192


def line_crop(
    grey: NDArray[np.uint8], boxes: NDArray[np.float64], jitter: NDArray[np.float64] | None = None
) -> NDArray[np.uint8]:
    """The line's picture: ink as 255 on 0, HEIGHT tall, at most WIDTH wide (squashed beyond), padded."""
    height = float(np.max(boxes[:, 3] - boxes[:, 1]))
    x1, y1 = boxes[:, 0].min() - 0.25 * height, boxes[:, 1].min() - 0.15 * height
    x2, y2 = boxes[:, 2].max() + 0.25 * height, boxes[:, 3].max() + 0.15 * height
    if jitter is not None:
        x1, y1, x2, y2 = np.array([x1, y1, x2, y2]) + jitter * height
    h, w = grey.shape
    x1, y1 = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
    x2, y2 = int(min(w, np.ceil(x2))), int(min(h, np.ceil(y2)))
    ink = 255 - grey[y1:y2, x1:x2]
    out = np.zeros((HEIGHT, WIDTH), np.uint8)
    if ink.size == 0:
        return out
    width = max(1, min(WIDTH, round(ink.shape[1] * HEIGHT / ink.shape[0])))
    out[:, :width] = cv2.resize(ink, (width, HEIGHT), interpolation=cv2.INTER_AREA)
    return out


def grey_of(image: Image.Image) -> NDArray[np.uint8]:
    """The canvas's grey levels (its one plane: the canvases are black ink on white)."""
    return np.asarray(image.convert("L"), dtype=np.uint8)


def make_crops(args: argparse.Namespace) -> None:
    samples = load_split(args.data, args.split).samples[: args.limit]
    rng = np.random.default_rng(args.seed)
    crops: list[NDArray[np.uint8]] = []
    labels: list[str] = []
    for sample in tqdm(samples, desc="line crops"):
        digits = [i for i, c in enumerate(sample.class_ids) if is_digit(int(c))]
        if not digits:
            continue
        boxes = sample.boxes_xyxy[digits]
        lines = group_lines(boxes)
        grey = grey_of(read_image(sample.image_path))
        for line in lines:
            if len(line) == 1 and rng.random() > args.single_share:
                continue
            text = "".join(CLASS_NAMES[int(sample.class_ids[digits[i]])] for i in line)
            for _ in range(args.copies):
                jitter = rng.normal(0.0, 0.08, 4)
                crops.append(line_crop(grey, boxes[line], jitter))
                labels.append(text)
    longest = max(len(t) for t in labels)
    targets = np.zeros((len(labels), longest), np.int64)
    for row, text in enumerate(labels):
        targets[row, : len(text)] = [int(ch) + 1 for ch in text]
    lengths = np.array([len(t) for t in labels], np.int64)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, crops=np.stack(crops), targets=targets, lengths=lengths)
    print(f"{len(labels)} line crops from {len(samples)} canvases -> {args.out}")


class LineReader(nn.Module):
    """CNN over the line picture, a BiLSTM along its width, 11 outputs per step (0 is CTC's blank)."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 96, 128), hidden: int = 96) -> None:
        super().__init__()
        a, b, c, d, e = widths

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        self.features = nn.Sequential(
            *block(1, a),
            nn.MaxPool2d(2),  # 16 x 96
            *block(a, b),
            nn.MaxPool2d(2),  # 8 x 48
            *block(b, c),
            *block(c, d),
            nn.MaxPool2d((2, 1)),  # 4 x 48
            *block(d, e),
            nn.MaxPool2d((4, 1)),  # 1 x 48
        )
        self.rnn = nn.LSTM(e, hidden, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, 11)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) ink in [0, 1] -> (N, T, 11) log-probabilities."""
        features = self.features(x).squeeze(2).transpose(1, 2)
        out, _ = self.rnn(features)
        return self.head(out).log_softmax(-1)


def decode(log_probs: torch.Tensor) -> list[tuple[str, float]]:
    """Greedy CTC: each row's digits and its confidence (the product of the steps' best probabilities)."""
    best, index = log_probs.max(-1)
    results = []
    for row_best, row in zip(best, index, strict=True):
        text, previous = [], 0
        for k in row.tolist():
            if k != previous and k != 0:
                text.append(str(k - 1))
            previous = k
        results.append(("".join(text), float(row_best.sum().exp())))
    return results


def augment(batch: torch.Tensor) -> torch.Tensor:
    """Light random stretch of the line (the crops already carry jitter of their box)."""
    n = batch.shape[0]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1 + (torch.rand(n) - 0.5) * 0.2
    theta[:, 1, 1] = 1 + (torch.rand(n) - 0.5) * 0.2
    theta[:, 0, 1] = (torch.rand(n) - 0.5) * 0.3
    theta[:, 1, 2] = (torch.rand(n) - 0.5) * 0.1
    grid = torch.nn.functional.affine_grid(theta, list(batch.shape), align_corners=False)
    return torch.nn.functional.grid_sample(batch, grid, align_corners=False)


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = np.load(args.crops)
    crops = torch.from_numpy(data["crops"])
    targets, lengths = torch.from_numpy(data["targets"]), torch.from_numpy(data["lengths"])
    n = len(crops)
    held = torch.arange(n) >= n - 2000
    train_idx, val_idx = torch.nonzero(~held).squeeze(1), torch.nonzero(held).squeeze(1)
    model = LineReader()
    if args.init is not None:
        model.load_state_dict(torch.load(args.init))
    total_steps = args.steps
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=total_steps, pct_start=0.1
    )
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    start, step = time.monotonic(), 0
    bar = tqdm(total=total_steps, desc="train")
    while step < total_steps and time.monotonic() - start < args.minutes * 60:
        order = train_idx[torch.randperm(len(train_idx))]
        for i in range(0, len(order) - args.batch_size + 1, args.batch_size):
            rows = order[i : i + args.batch_size]
            x = augment(crops[rows].float().unsqueeze(1) / 255.0)
            log_probs = model(x)
            steps = torch.full((len(rows),), log_probs.shape[1], dtype=torch.long)
            loss = ctc(log_probs.transpose(0, 1), targets[rows], steps, lengths[rows])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            schedule.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % 500 == 0 or step >= total_steps:
                share = held_out(model, crops, targets, lengths, val_idx)
                print(f"step {step}: held-out lines read {share:.2%}", flush=True)
                torch.save(model.state_dict(), args.out)
            if step >= total_steps or time.monotonic() - start > args.minutes * 60:
                break
    torch.save(model.state_dict(), args.out)
    share = held_out(model, crops, targets, lengths, val_idx)
    print(f"final: held-out lines read {share:.2%} after {step} steps")


@torch.no_grad()
def held_out(
    model: LineReader, crops: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, rows: torch.Tensor
) -> float:
    model.eval()
    texts = [t for t, _ in decode(model(crops[rows].float().unsqueeze(1) / 255.0))]
    model.train()
    truth = ["".join(str(int(k) - 1) for k in targets[r, : lengths[r]]) for r in rows]
    return float(np.mean([a == b for a, b in zip(texts, truth, strict=True)]))


def read(args: argparse.Namespace) -> None:
    from digit_detector.detector import Detector

    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights)
    model = LineReader()
    model.load_state_dict(torch.load(args.model))
    model.eval()
    samples = load_split(args.data, args.split).samples[: args.limit]
    rows: list[tuple[str, list[tuple[str, float]], list[tuple[str, float]]]] = []
    for sample in tqdm(samples, desc="reading"):
        truth = read_number([int(c) for c in sample.class_ids], sample.boxes_xyxy)
        if sum(ch.isdigit() for ch in truth) < 2:
            continue
        image = read_image(sample.image_path)  # read once: the detector and the line crops share it
        result = detector(image)
        digits = [d for d in result.detections if is_digit(d.class_id)]
        boxes = np.asarray([d.box for d in digits], np.float64).reshape(-1, 4)
        grey = grey_of(image)
        lines = group_lines(boxes)
        shipped = [
            ("".join(digits[i].label for i in line), min(digits[i].name_probability for i in line))
            for line in lines
        ]
        if lines:
            x = (
                torch.from_numpy(np.stack([line_crop(grey, boxes[line]) for line in lines]))
                .float()
                .unsqueeze(1)
                / 255
            )
            with torch.no_grad():
                crnn = decode(model(x))
        else:
            crnn = []
        rows.append((truth, shipped, crnn))

    Policy = Callable[[tuple[str, float], tuple[str, float]], str]

    def reading(policy: Policy) -> int:
        """Numbers read exactly when ``policy((shipped line, its least sure digit's name probability),
        (line reader's line, its certainty))`` reads each line."""
        right = 0
        for truth, shipped, crnn in rows:
            text = "\n".join(policy(s, c) for s, c in zip(shipped, crnn, strict=True))
            right += text == truth
        return right

    def when_sure(t: float, recount: bool = False, unsure_below: float = 1.01) -> Policy:
        def policy(shipped: tuple[str, float], crnn: tuple[str, float]) -> str:
            sure = crnn[1] >= t and (not recount or len(crnn[0]) != len(shipped[0]))
            return crnn[0] if sure and shipped[1] < unsure_below else shipped[0]

        return policy

    print(f"{args.data}:{args.split}, {len(rows)} canvases with 2+ digits")
    print(f"  shipped: {reading(lambda s, c: s[0])}")
    print(f"  line reader always: {reading(lambda s, c: c[0])}")
    for t in (0.5, 0.7, 0.8, 0.9, 0.95):
        print(f"  line reader when sure >= {t}: {reading(when_sure(t))}")
        print(f"  line reader when sure >= {t} and another count: {reading(when_sure(t, recount=True))}")
        for unsure in (0.6, 0.8, 0.95):
            gained = reading(when_sure(t, unsure_below=unsure))
            print(f"  line reader when sure >= {t} and a shipped digit's name under {unsure}: {gained}")
    either = sum(
        "\n".join(s[0] for s in shipped) == truth or "\n".join(c[0] for c in crnn) == truth
        for truth, shipped, crnn in rows
    )
    print(f"  either: {either}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("crops")
    c.add_argument("--data", type=Path, required=True)
    c.add_argument("--split", default="train")
    c.add_argument("--limit", type=int, default=None)
    c.add_argument("--copies", type=int, default=2)
    c.add_argument("--single-share", type=float, default=0.3)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("--crops", type=Path, required=True)
    t.add_argument("--minutes", type=float, default=40)
    t.add_argument("--steps", type=int, default=20000)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--init", type=Path, default=None, help="start from these weights (a run of train)")
    t.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("read")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--split", default="val")
    r.add_argument("--limit", type=int, default=None)
    r.add_argument("--weights", type=Path, default=Path("weights/yolov3-tiny.safetensors"))
    r.add_argument("--model", type=Path, required=True)
    r.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"crops": make_crops, "train": train, "read": read}[args.command](args)


if __name__ == "__main__":
    main()
