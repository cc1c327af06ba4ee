"""WebDataset tar shards of an export's training images, and a stream that reads them back.

`<out>/webdataset/train-000000.tar`, ...: each sample is three tar members sharing a key (the
image's Market-1501 name without `.jpg`): `<key>.jpg` (the JPEG bytes), `<key>.cls` (its class:
0..C-1 over the training identities, real first, as text) and `<key>.json` (class, export pid
and camera, dataset pid and camera, origin, method, dataset, modality, outfit, image id). The
samples are shuffled across shards with a seed, so one shard holds many identities and a shuffle
buffer of a few shards mixes a batch well. `<out>/webdataset/index.json` lists the shards with
their sample counts, the number of classes and each class's (origin, pid).

The `webdataset` package reads them as they are (`webdataset.WebDataset(urls)`); `ShardStream`
reads them from any filesystem the factory reads (a folder, `s3://`, `gs://`) without it, split
across Ray Train ranks and DataLoader workers.
"""

import io
import json
import random
import tarfile
from collections.abc import Callable, Iterator

import polars as pl
import torch

from factory.atomic import write_bytes, write_text
from factory.storage import storage_path

FOLDER = "webdataset"
INDEX = "index.json"
SHARD_NAME = "train-{:06d}.tar"


def shard_order(train: pl.DataFrame, seed: int) -> pl.DataFrame:
    """`train` (exported training rows) with `class` (0..C-1: real persons then synthetic
    identities, by export pid) in a seeded shuffled order, the order the shards take them."""
    classes = train["export_pid"].unique().sort()
    index = dict(zip(classes.to_list(), range(len(classes)), strict=True))
    order = list(range(train.height))
    random.Random(seed).shuffle(order)
    return train.with_columns(pl.col("export_pid").replace_strict(index, return_dtype=pl.Int64)
                              .alias("class"))[order]


def sample_metadata(row: dict) -> dict:
    return {"class": row["class"], "export_pid": row["export_pid"],
            "export_camera": row["export_camera"], "pid": row["pid"], "camera": row["camera"],
            "origin": row["origin"], "method": row["method"], "dataset": row["dataset"],
            "modality": row["modality"], "outfit": row["outfit"], "image_id": row["image_id"]}


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size, member.mode = len(data), 0o644
    archive.addfile(member, io.BytesIO(data))


class ShardWriter:
    """Collects samples and writes a shard (one whole file or object) every `per_shard`; the
    index last, on `close`."""

    def __init__(self, folder, per_shard: int):
        if per_shard < 1:
            raise ValueError(f"images per shard must be at least 1, not {per_shard}")
        self.folder, self.per_shard = storage_path(folder), per_shard
        self.pending: list[tuple[dict, bytes]] = []
        self.shards: list[dict] = []
        self.classes: dict[int, dict] = {}

    def add(self, row: dict, jpeg: bytes) -> None:
        self.classes[row["class"]] = {"class": row["class"], "origin": row["origin"],
                                      "pid": row["pid"], "export_pid": row["export_pid"]}
        self.pending.append((row, jpeg))
        if len(self.pending) == self.per_shard:
            self._flush()

    def _flush(self) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            for row, jpeg in self.pending:
                key = row["export_path"].rsplit("/", 1)[-1].removesuffix(".jpg")
                _add(archive, f"{key}.jpg", jpeg)
                _add(archive, f"{key}.cls", str(row["class"]).encode())
                _add(archive, f"{key}.json", json.dumps(sample_metadata(row)).encode())
        name = SHARD_NAME.format(len(self.shards))
        write_bytes(self.folder / name, buffer.getvalue())
        self.shards.append({"url": name, "samples": len(self.pending)})
        self.pending = []

    def close(self) -> dict:
        if self.pending:
            self._flush()
        index = {"format": "webdataset", "samples": sum(s["samples"] for s in self.shards),
                 "num_classes": len(self.classes), "shards": self.shards,
                 "classes": [self.classes[c] for c in sorted(self.classes)]}
        write_text(self.folder / INDEX, json.dumps(index, indent=1))
        return index


def read_index(folder) -> dict:
    """The index of the shards in `folder` (an export's `webdataset/`, local or in a bucket)."""
    path = storage_path(folder) / INDEX
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no shard index; export with --shards N first")
    return json.loads(path.read_text())


def iter_shard(url) -> Iterator[dict]:
    """The samples of one shard, streamed: {"__key__", "jpg": bytes, "cls": int, "json": dict}."""
    path = storage_path(url)
    sample: dict = {}
    with path.open("rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            key, _, extension = member.name.partition(".")
            if sample and sample["__key__"] != key:
                yield sample
                sample = {}
            data = archive.extractfile(member).read()
            sample["__key__"] = key
            sample[extension] = (int(data) if extension == "cls" else
                                 json.loads(data) if extension == "json" else data)
    if sample:
        yield sample


class ShardStream(torch.utils.data.IterableDataset):
    """The samples of an export's shards as `(transform(jpeg bytes), class)`, each shard read by
    one (rank, DataLoader worker) of `world_size` ranks, shards in a new seeded order per epoch
    (`set_epoch`), samples mixed in a buffer of `shuffle` samples (0: shard order)."""

    def __init__(self, folder, transform: Callable[[bytes], object], *, rank: int = 0,
                 world_size: int = 1, shuffle: int = 1000, seed: int = 0):
        self.folder = storage_path(folder)
        self.index = read_index(self.folder)
        self.transform, self.rank, self.world_size = transform, rank, world_size
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    @property
    def num_classes(self) -> int:
        return self.index["num_classes"]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _my_shards(self) -> list[str]:
        urls = [shard["url"] for shard in self.index["shards"]]
        random.Random(self.seed + self.epoch).shuffle(urls)
        worker = torch.utils.data.get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        part, parts = self.rank * workers + worker_id, self.world_size * workers
        return urls[part::parts]

    def __iter__(self) -> Iterator[tuple[object, int]]:
        rng = random.Random(self.seed + self.epoch + 7919 * self.rank)
        buffer: list[dict] = []
        for url in self._my_shards():
            for sample in iter_shard(self.folder / url):
                buffer.append(sample)
                if len(buffer) > self.shuffle:
                    yield self._item(buffer.pop(rng.randrange(len(buffer))))
        rng.shuffle(buffer)
        for sample in buffer:
            yield self._item(sample)

    def _item(self, sample: dict) -> tuple[object, int]:
        return self.transform(sample["jpg"]), sample["cls"]
