"""Feedback stores: local YOLO folder (layout, JSONL, concurrency, failures, import) and S3 (moto)."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image

from digit_detector import feedback
from digit_detector.classes import CLASS_NAMES
from digit_detector.cli import main as cli_main
from digit_detector.data.yolo_format import format_label_lines, load_split, read_sample
from digit_detector.feedback import (
    FeedbackError,
    FeedbackSample,
    FeedbackStore,
    LocalFeedbackStore,
    Prediction,
    S3FeedbackStore,
    local_store_is_durable,
    new_sample_id,
    redact,
    sharing_is_temporary,
    store_from_config,
)


def make_sample(seed: int = 0, note: str | None = None) -> FeedbackSample:
    """A 400x400 drawing with two ink blocks; the model got the second one wrong (4 -> 9)."""
    rng = np.random.default_rng(seed)
    image = np.full((400, 400, 3), 255, dtype=np.uint8)
    x = int(rng.integers(10, 150))
    image[50:150, x : x + 60] = 0
    image[200:330, 220:300] = 0
    boxes = np.array([[x, 50, x + 60, 150], [220, 200, 300, 330]], dtype=np.float64)
    predictions = (
        Prediction("7", 7, 0.91, (x, 50, x + 60, 150)),
        Prediction("4", 4, 0.55, (218, 198, 301, 333)),
    )
    return FeedbackSample(
        image=image,
        boxes_xyxy=boxes,
        class_ids=np.array([7, 9]),
        predictions=predictions,
        model_version="test-1",
        timestamp=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        note=note,
    )


def files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file())


# --------------------------------------------------------------------------- samples


def test_sample_validation() -> None:
    good = make_sample()
    with pytest.raises(ValueError, match="HxWx3"):
        FeedbackSample(np.zeros((10, 10), np.uint8), np.zeros((0, 4)), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="class ids"):
        FeedbackSample(good.image, good.boxes_xyxy, np.array([7, 12]))
    with pytest.raises(ValueError, match="inside"):
        FeedbackSample(good.image, np.array([[0, 0, 450, 20]]), np.array([1]))
    with pytest.raises(ValueError, match="positive"):
        FeedbackSample(good.image, np.array([[30, 30, 30, 40]]), np.array([1]))
    with pytest.raises(ValueError, match="2 boxes but 1"):
        FeedbackSample(good.image, good.boxes_xyxy, np.array([1]))
    clipped = FeedbackSample(good.image, np.array([[-0.5, 0, 400.5, 20]]), np.array([3]))
    assert clipped.boxes_xyxy.tolist() == [[0, 0, 400, 20]]


def test_sample_ids_are_unique_and_sortable() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = {new_sample_id(when) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("20250102T030405Z-") for i in ids)
    assert new_sample_id(datetime(2024, 12, 31, tzinfo=UTC)) < min(ids)


# --------------------------------------------------------------------------- local store


def test_local_store_layout_and_record(tmp_path: Path) -> None:
    root = tmp_path / "feedback"
    store = LocalFeedbackStore(root)
    assert isinstance(store, FeedbackStore)
    sample = make_sample(note="the second one is a nine")
    sample_id = store.save(sample)

    image_path = root / "images" / "train" / f"{sample_id}.png"
    label_path = root / "labels" / "train" / f"{sample_id}.txt"
    assert image_path.is_file() and label_path.is_file()
    assert np.array_equal(np.asarray(Image.open(image_path).convert("RGB")), sample.image)
    read = read_sample(image_path)
    assert read.class_ids.tolist() == [7, 9]
    np.testing.assert_allclose(read.boxes_xyxy, sample.boxes_xyxy, atol=0.01)
    data_yaml = yaml.safe_load((root / "data.yaml").read_text())
    assert data_yaml["names"] == list(CLASS_NAMES) and data_yaml["nc"] == 12
    assert not any((root / ".staging").iterdir())

    (record,) = store.read_records()
    assert record["id"] == sample_id
    assert record["time"] == "2025-01-02T03:04:05.000+00:00"
    assert record["model_version"] == "test-1"
    assert record["note"] == "the second one is a nine"
    assert record["image"] == f"images/train/{sample_id}.png"
    assert [p["label"] for p in record["predictions"]] == ["7", "4"]
    assert record["predictions"][1] == {
        "label": "4",
        "class_id": 4,
        "score": 0.55,
        "box": [218, 198, 301, 333],
    }
    assert [c["class_id"] for c in record["corrections"]] == [7, 9]
    assert record["corrections"][1]["box"] == [220, 200, 300, 330]


def test_local_store_concurrent_saves(tmp_path: Path) -> None:
    store = LocalFeedbackStore(tmp_path / "fb")
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        try:
            for k in range(5):
                sample_id = store.save(make_sample(seed * 10 + k))
                with lock:
                    ids.append(sample_id)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(ids)) == 40
    contents = load_split(tmp_path / "fb", "train")
    assert not contents.problems
    assert len(contents.samples) == 40
    assert all(s.class_ids.tolist() == [7, 9] for s in contents.samples)
    lines = store.jsonl_path.read_text().splitlines()
    assert len(lines) == 40
    assert {json.loads(line)["id"] for line in lines} == set(ids)
    assert len(files(tmp_path / "fb" / "labels" / "train", "*.txt")) == 40


def test_local_store_failure_keeps_earlier_samples(tmp_path: Path) -> None:
    root = tmp_path / "fb"
    store = LocalFeedbackStore(root)
    first = store.save(make_sample(1))
    before = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    jsonl_before = store.jsonl_path.read_bytes()

    (root / ".staging").rmdir()
    (root / ".staging").write_text("a file where the staging folder should be")  # the disk says no
    with pytest.raises(FeedbackError, match=r"Could not save the drawing to .*earlier samples are unchanged"):
        store.save(make_sample(2))
    after = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert after == sorted([*before, Path(".staging")])  # only the blocking file is new
    assert store.jsonl_path.read_bytes() == jsonl_before
    assert read_sample(root / "images" / "train" / f"{first}.png").class_ids.tolist() == [7, 9]


def test_local_store_rolls_back_when_the_log_cannot_be_written(tmp_path: Path) -> None:
    root = tmp_path / "fb"
    root.mkdir()
    (root / "feedback.jsonl").mkdir()  # appending fails after image and label were moved into place
    with pytest.raises(FeedbackError):
        LocalFeedbackStore(root).save(make_sample())
    assert files(root, "images/train/*") == [] and files(root, "labels/train/*") == []


def test_local_store_imports_with_data_cli(tmp_path: Path) -> None:
    store = LocalFeedbackStore(tmp_path / "fb")
    saved = {store.save(make_sample(seed)): make_sample(seed) for seed in range(3)}
    out = tmp_path / "imported"
    assert cli_main(["data", "import", str(tmp_path / "fb"), "--out", str(out)]) == 0
    contents = load_split(out, "train")
    assert not contents.problems
    assert len(contents.samples) == 3
    for imported in contents.samples:
        sample_id = imported.image_path.stem.removeprefix("train__")
        expected = saved[sample_id]
        assert imported.class_ids.tolist() == [7, 9]  # the corrections, not the predictions (7, 4)
        np.testing.assert_allclose(imported.boxes_xyxy, expected.boxes_xyxy, atol=0.01)


def test_store_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIGIT_DETECTOR_S3_BUCKET", "DIGIT_DETECTOR_FEEDBACK_DURABLE", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGIT_DETECTOR_FEEDBACK_DIR", str(tmp_path / "env"))
    store = store_from_config(None)
    assert isinstance(store, LocalFeedbackStore) and store.root == tmp_path / "env"
    store = store_from_config({"local_dir": str(tmp_path / "secrets")})
    assert isinstance(store, LocalFeedbackStore) and store.root == tmp_path / "secrets"
    monkeypatch.delenv("DIGIT_DETECTOR_FEEDBACK_DIR")
    store = store_from_config({})
    assert isinstance(store, LocalFeedbackStore) and store.root == Path("data/feedback")

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = store_from_config({"bucket": "b1", "prefix": "/drawings/"})
    assert isinstance(s3, S3FeedbackStore) and s3.location == "s3://b1/drawings"
    monkeypatch.setenv("DIGIT_DETECTOR_S3_BUCKET", "b2")
    monkeypatch.setenv("DIGIT_DETECTOR_S3_PREFIX", "p")
    s3 = store_from_config(None)
    assert isinstance(s3, S3FeedbackStore) and s3.location == "s3://b2/p"
    assert s3.keys_for("X") == {
        "image": "p/images/train/X.png",
        "label": "p/labels/train/X.txt",
        "meta": "p/meta/X.json",
    }
    with pytest.raises(FeedbackError, match="misconfigured"):
        store_from_config({"bucket": "b3", "endpoint_url": "not a url"})


# --------------------------------------------------------------------------- durability and redaction


@pytest.fixture
def space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """On a Space (``$SPACE_ID``) whose persistent storage would be ``tmp/data`` (absent until made)."""
    for name in ("S3_BUCKET", "FEEDBACK_DURABLE", "FEEDBACK_DIR"):
        monkeypatch.delenv(f"DIGIT_DETECTOR_{name}", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/digit-detector")
    monkeypatch.setattr(feedback, "SPACE_PERSISTENT_DIR", tmp_path / "data")
    return tmp_path / "data"


def test_local_store_is_durable_off_a_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIGIT_DETECTOR_S3_BUCKET", "DIGIT_DETECTOR_FEEDBACK_DURABLE", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    assert local_store_is_durable(tmp_path) and not sharing_is_temporary(None)
    store = store_from_config(None)
    assert isinstance(store, LocalFeedbackStore) and store.durable
    monkeypatch.setenv("DIGIT_DETECTOR_FEEDBACK_DURABLE", "0")  # say, a container without a volume
    assert not local_store_is_durable(tmp_path) and sharing_is_temporary(None)
    assert local_store_is_durable(tmp_path, True)  # the mapping's setting wins
    assert LocalFeedbackStore(tmp_path).durable  # made directly: as before


def test_local_store_on_a_space_is_temporary(space: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sharing_is_temporary(None) and sharing_is_temporary({})
    store = store_from_config(None)
    assert isinstance(store, LocalFeedbackStore) and not store.durable
    assert not local_store_is_durable(space / "feedback")  # no persistent storage: /data is absent

    space.mkdir()  # the persistent storage upgrade: /data is mounted
    monkeypatch.setenv("DIGIT_DETECTOR_FEEDBACK_DIR", str(space / "feedback"))
    assert not sharing_is_temporary(None)
    store = store_from_config(None)
    assert isinstance(store, LocalFeedbackStore) and store.durable
    assert sharing_is_temporary({"local_dir": "data/feedback"})  # the app folder is not in /data
    assert not local_store_is_durable(space.parent / "datafeedback")

    for value, durable in (("1", True), ("yes", True), ("0", False), ("off", False), ("maybe", False)):
        monkeypatch.setenv("DIGIT_DETECTOR_FEEDBACK_DURABLE", value)
        assert local_store_is_durable("data/feedback") is durable, value
    assert local_store_is_durable("data/feedback", "true") and not local_store_is_durable(space, False)


def test_a_bucket_is_never_temporary(space: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert not sharing_is_temporary({"bucket": "b"})
    monkeypatch.setenv("DIGIT_DETECTOR_S3_BUCKET", "b")
    assert not sharing_is_temporary(None)
    store = store_from_config(None)
    assert isinstance(store, S3FeedbackStore) and store.durable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Could not connect to the endpoint URL: "http://user:secret@127.0.0.1:9/b/k"',
         'Could not connect to the endpoint URL: "http://***@127.0.0.1:9/b/k"'),
        ("https://AKID:wJalr%2Fx@s3.example.com", "https://***@s3.example.com"),
        ("s3+https://a:b@c:d@host/path?x=y@z", "s3+https://***@host/path?x=y@z"),  # raw @ in the password
        ("Invalid endpoint: https://token@host, then http://u:p@other/",
         "Invalid endpoint: https://***@host, then http://***@other/"),
        ("http://127.0.0.1:9/bucket and me@example.com", "http://127.0.0.1:9/bucket and me@example.com"),
        ("no url here", "no url here"),
    ],
)  # fmt: skip
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


# --------------------------------------------------------------------------- S3 (a real S3 protocol server)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the moto server, with dummy credentials and the endpoint in the environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "DIGIT_DETECTOR_S3_BUCKET", "DIGIT_DETECTOR_S3_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    bucket = request.node.name.replace("_", "-").lower()[:50]
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


def all_keys(bucket: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_s3_store_puts_yolo_layout(s3_bucket: str) -> None:
    client = boto3.client("s3")
    store = S3FeedbackStore(s3_bucket, "fb", client)
    samples = {store.save(make_sample(seed)): make_sample(seed) for seed in range(2)}
    expected = sorted(key for sample_id in samples for key in store.keys_for(sample_id).values())
    assert all_keys(s3_bucket) == expected
    for sample_id, sample in samples.items():
        keys = store.keys_for(sample_id)
        assert keys["image"] == f"fb/images/train/{sample_id}.png"
        png = client.get_object(Bucket=s3_bucket, Key=keys["image"])
        assert png["ContentType"] == "image/png"
        assert np.array_equal(
            np.asarray(Image.open(io.BytesIO(png["Body"].read())).convert("RGB")), sample.image
        )
        label = client.get_object(Bucket=s3_bucket, Key=keys["label"])["Body"].read().decode()
        assert label == format_label_lines(sample.class_ids, sample.boxes_xyxy, (400, 400))
        meta = json.loads(client.get_object(Bucket=s3_bucket, Key=keys["meta"])["Body"].read())
        assert meta == json.loads(json.dumps(sample.record(sample_id)))
        assert meta["model_version"] == "test-1" and len(meta["predictions"]) == 2


def test_s3_store_from_environment(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGIT_DETECTOR_S3_BUCKET", s3_bucket)
    store = store_from_config(None)  # the endpoint and credentials come from the environment via boto3
    assert isinstance(store, S3FeedbackStore)
    sample_id = store.save(make_sample())
    assert all_keys(s3_bucket) == sorted(store.keys_for(sample_id).values())
    assert all(key.startswith("feedback/") for key in all_keys(s3_bucket))


def test_s3_unreachable_endpoint_keeps_earlier_samples(s3_bucket: str) -> None:
    store = S3FeedbackStore(s3_bucket, "fb", boto3.client("s3"))
    first = store.save(make_sample(1))
    before = all_keys(s3_bucket)
    dead = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )
    with pytest.raises(FeedbackError, match=rf"Could not upload the drawing to s3://{s3_bucket}/fb"):
        S3FeedbackStore(s3_bucket, "fb", dead).save(make_sample(2))
    assert all_keys(s3_bucket) == before == sorted(store.keys_for(first).values())


def test_s3_failure_message_redacts_endpoint_credentials(s3_bucket: str) -> None:
    """The store's error names the endpoint boto3 used, credentials and all; :func:`redact` removes them."""
    dead = boto3.client(
        "s3",
        endpoint_url=f"http://user:secret@127.0.0.1:{free_port()}",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )
    with pytest.raises(FeedbackError) as caught:
        S3FeedbackStore(s3_bucket, "fb", dead).save(make_sample())
    assert "user:secret@" in str(caught.value)  # hence: never shown, only logged through redact()
    assert "secret" not in redact(str(caught.value)) and "http://***@127.0.0.1:" in redact(str(caught.value))


def test_s3_missing_bucket(s3_bucket: str) -> None:
    with pytest.raises(FeedbackError, match="NoSuchBucket"):
        S3FeedbackStore("no-such-bucket", "fb", boto3.client("s3")).save(make_sample())


class FailingMeta:
    """A client that fails to put the metadata object (after the label and image went in)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].endswith(".json"):
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "try later"}}, "PutObject")
        return self.client.put_object(**kwargs)

    def delete_object(self, **kwargs: Any) -> Any:
        return self.client.delete_object(**kwargs)


def test_s3_partial_upload_is_removed(s3_bucket: str) -> None:
    client = boto3.client("s3")
    first = S3FeedbackStore(s3_bucket, "fb", client).save(make_sample(1))
    with pytest.raises(FeedbackError, match="SlowDown"):
        S3FeedbackStore(s3_bucket, "fb", FailingMeta(client)).save(make_sample(2))
    assert all_keys(s3_bucket) == sorted(S3FeedbackStore(s3_bucket, "fb", client).keys_for(first).values())


class LandedThenFailed(FailingMeta):
    """A client whose metadata put lands but answers with an error (a timeout after the write)."""

    def put_object(self, **kwargs: Any) -> Any:
        answer = self.client.put_object(**kwargs)
        if kwargs["Key"].endswith(".json"):
            raise ClientError({"Error": {"Code": "RequestTimeout", "Message": "no answer"}}, "PutObject")
        return answer


def test_s3_put_that_landed_but_failed_leaves_no_orphan(s3_bucket: str) -> None:
    client = boto3.client("s3")
    with pytest.raises(FeedbackError, match="RequestTimeout"):
        S3FeedbackStore(s3_bucket, "fb", LandedThenFailed(client)).save(make_sample(2))
    assert all_keys(s3_bucket) == []  # no meta pointing at an image and label that were removed


def test_two_replicas_share_one_bucket_without_losing_or_duplicating(s3_bucket: str) -> None:
    """Two app replicas (two stores, two clients) saving at once: every sample is stored once, whole."""
    replicas = [S3FeedbackStore(s3_bucket, "fb", boto3.client("s3")) for _ in range(2)]
    ids: list[str] = []
    lock = threading.Lock()

    def share(store: S3FeedbackStore, seed: int) -> None:
        for k in range(4):
            sample_id = store.save(make_sample(seed * 10 + k))
            with lock:
                ids.append(sample_id)

    threads = [threading.Thread(target=share, args=(replicas[n % 2], n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == len(set(ids)) == 24
    keys = all_keys(s3_bucket)
    assert keys == sorted(key for sample_id in ids for key in replicas[0].keys_for(sample_id).values())
    client = boto3.client("s3")
    metas = [key for key in keys if key.startswith("fb/meta/")]
    assert {
        json.loads(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())["id"] for key in metas
    } == set(ids)


def _save_from_a_replica(root: str, seed: int) -> list[str]:
    store = LocalFeedbackStore(root)
    return [store.save(make_sample(seed * 10 + k)) for k in range(5)]


def test_two_replicas_share_one_folder_without_losing_or_duplicating(tmp_path: Path) -> None:
    """Two processes (replicas on one shared volume) saving into one folder: unique ids, whole samples,
    one intact JSONL line each (the append is under flock)."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        batches = pool.starmap(_save_from_a_replica, [(str(tmp_path / "fb"), seed) for seed in range(4)])
    ids = [sample_id for batch in batches for sample_id in batch]
    assert len(ids) == len(set(ids)) == 20
    contents = load_split(tmp_path / "fb", "train")
    assert not contents.problems and len(contents.samples) == 20
    records = LocalFeedbackStore(tmp_path / "fb").read_records()
    assert sorted(record["id"] for record in records) == sorted(ids)
