"""Image-caption records from an imagefolder, a JSONL/CSV file, a `datasets` dataset, or a stream
(`datasets` streaming, WebDataset tar shards) too large for memory.

Records are light (a key, a caption, and where the image is); images open lazily so a corrupt or
missing file costs one skipped sample, never the run. Both kinds of source hand the sharded stages
(relabelling, latent caching) the same chunks: shard ``i // shard_size``, cut into chunks from the
shard's start, so every process count sees the same batches.
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image

from rewards.score_shards import Sample
from ric_diffusion.config import DataConfig

Chunks = Iterator[tuple[int, list[Sample]]]  # (shard, samples of one chunk), in dataset order


@dataclass(frozen=True)
class Record:
    key: str  # stable id used by every cache (the image path, or "dataset:index")
    caption: str
    path: str | None = None  # image file, or None when the image lives in `dataset`
    index: int | None = None


class RecordSet:
    """Records plus the `datasets` dataset that holds their images, if any."""

    def __init__(self, records: Sequence[Record], dataset: Any = None, image_column: str = "image"):
        self.records, self.dataset, self.image_column = list(records), dataset, image_column

    def __len__(self) -> int:
        return len(self.records)

    def open_image(self, rec: Record) -> Image.Image:
        """The record's image as RGB; raises OSError/ValueError for unreadable or missing files."""
        if rec.path is not None:
            with Image.open(rec.path) as im:
                im.load()
                return to_rgb(im)
        if self.dataset is None:
            raise RuntimeError(f"{rec.key} came from a stream: read its image with chunks(), not open_image()")
        return to_rgb(self.dataset[rec.index][self.image_column])

    def subset(self, keep: Sequence[int]) -> RecordSet:
        return RecordSet([self.records[i] for i in keep], self.dataset, self.image_column)

    def chunks(self, wanted: Callable[[int], bool], shard_size: int, chunk_size: int) -> Chunks:
        """The records of the shards ``wanted`` accepts, as (shard, chunk) in order; nothing is opened yet."""
        for shard in range(-(-len(self.records) // shard_size)):
            if not wanted(shard):
                continue
            end = min(len(self.records), (shard + 1) * shard_size)
            for start in range(shard * shard_size, end, chunk_size):
                idx = range(start, min(end, start + chunk_size))
                yield shard, [self._sample(i) for i in idx]

    def samples(self) -> list[Sample]:
        """Every record as a lazy Sample (nothing opened yet)."""
        return [self._sample(i) for i in range(len(self.records))]

    def _sample(self, i: int) -> Sample:
        rec = self.records[i]
        return Sample(i, rec.key, rec.caption, partial(self.open_image, rec))


class RecordStream:
    """A `datasets` IterableDataset read once, in order, with memory bounded by one chunk: images stay
    encoded bytes until a process that owns their shard decodes them (``decode(False)``).

    Example:
        >>> stream = load_records(DataConfig(source="shards/", streaming=True))  # doctest: +SKIP
        >>> next(stream.chunks(lambda s: True, 1024, 64))  # (0, [64 Samples])  # doctest: +SKIP
    """

    def __init__(self, dataset: Any, source: str, image_column: str, caption_column: str, max_samples: int | None):
        self.dataset, self.source = dataset.decode(False), source
        self.image_column, self.caption_column, self.max_samples = image_column, caption_column, max_samples

    def chunks(self, wanted: Callable[[int], bool], shard_size: int, chunk_size: int) -> Chunks:
        batch: list[Sample] = []
        for i, row in enumerate(self.dataset):
            if self.max_samples is not None and i >= self.max_samples:
                break
            shard = i // shard_size
            if wanted(shard):  # others' shards are read past, never decoded
                caption = str(row.get(self.caption_column) or "")
                batch.append(Sample(i, f"{self.source}:{i}", caption, partial(decode_image, row[self.image_column])))
            last_of_chunk = (i - shard * shard_size) % chunk_size == chunk_size - 1 or (i + 1) % shard_size == 0
            if batch and last_of_chunk:
                yield shard, batch
                batch = []
        if batch:
            yield batch[0].index // shard_size, batch


def decode_image(value: Any) -> Image.Image:
    """An undecoded `datasets` image ({"bytes", "path"}) or a PIL image, as RGB (the library decodes)."""
    if isinstance(value, Image.Image):
        return to_rgb(value)
    if not isinstance(value, dict):
        raise ValueError(f"not an image: a {type(value).__name__}; set data.image_column to the image column")
    import datasets

    return to_rgb(datasets.Image().decode_example(value))


MIN_SIDE = 8  # pixels: smaller images are skipped and reported, not scored (rewards need some area)


def to_rgb(im: Image.Image) -> Image.Image:
    """RGB for any mode; 16- and 32-bit grey images are scaled down, not clipped (PIL's own ``convert``
    clips values above 255, so a 16-bit PNG turned almost white); tiny images are refused.

    Example:
        >>> import numpy as np
        >>> im = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
        >>> to_rgb(im).getpixel((0, 0))
        (128, 128, 128)
    """
    if min(im.size) < MIN_SIDE:
        raise ValueError(f"the image is {im.size[0]}x{im.size[1]} px, below {MIN_SIDE} px a side")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        scale = 255.0 / 65535.0 if arr.max() > 255 else 1.0
        im = Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8), mode="L")
    return im.convert("RGB")


def _rows_from_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}, line {n}: not valid JSON ({e.msg}); fix or remove that line") from None
    return rows


def _check_columns(rows: list[dict[str, Any]], cfg: DataConfig, where: str, image_column: str) -> None:
    if not rows:
        raise ValueError(f"{where} holds no samples; point data.source at a non-empty dataset")
    for col, what in ((cfg.caption_column, "caption"), (image_column, "image")):
        if col not in rows[0]:
            raise ValueError(
                f"{where} has no {what} column '{col}' (columns: {sorted(rows[0])}); "
                f"set data.{'caption' if what == 'caption' else 'image'}_column"
            )


def load_records(cfg: DataConfig) -> RecordSet | RecordStream:
    """Read the records described by ``cfg`` (a stream for ``data.streaming`` or WebDataset tar shards);
    clear errors for an empty source or missing columns.

    Example:
        >>> load_records(DataConfig(source="photos/"))  # doctest: +SKIP
    """
    if not cfg.source:
        raise ValueError("data.source is empty; give an image folder, a .jsonl/.csv file or a datasets name")
    if tar_shards(cfg.source) or cfg.streaming:
        return _load_stream(cfg)
    src = Path(cfg.source)
    if src.is_dir() and (src / "metadata.jsonl").exists():
        rows, base, where = _rows_from_file(src / "metadata.jsonl"), src, f"{src / 'metadata.jsonl'}"
    elif src.is_file() and src.suffix in (".jsonl", ".csv"):
        rows, base, where = _rows_from_file(src), src.parent, str(src)
    else:
        return _load_hf_dataset(cfg)
    _check_columns(rows, cfg, where, cfg.image_column)
    rows = rows[: cfg.max_samples] if cfg.max_samples else rows
    records = []
    for n, row in enumerate(rows, 1):
        missing = [c for c in (cfg.image_column, cfg.caption_column) if c not in row]
        if missing:
            raise ValueError(f"{where}, row {n} has no {missing} (it has {sorted(row)}); every row needs both columns")
        p = Path(str(row[cfg.image_column]))
        p = p if p.is_absolute() else base / p
        records.append(Record(key=str(p.resolve()), caption=str(row[cfg.caption_column] or ""), path=str(p)))
    return RecordSet(records)


def _load_hf_dataset(cfg: DataConfig) -> RecordSet:
    import datasets

    src = Path(cfg.source)
    if src.is_dir() and any((src / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
        ds = datasets.load_from_disk(str(src))
        ds = ds[cfg.split] if isinstance(ds, datasets.DatasetDict) else ds
    else:
        ds = datasets.load_dataset(cfg.source, split=cfg.split)
    if len(ds) == 0:
        raise ValueError(f"dataset {cfg.source} ({cfg.split}) holds no samples")
    image_col = cfg.image_column if cfg.image_column in ds.column_names else "image"
    _check_columns([{c: None for c in ds.column_names}], cfg, f"dataset {cfg.source}", image_col)
    n = min(len(ds), cfg.max_samples or len(ds))
    captions = ds.select_columns([cfg.caption_column])[:n][cfg.caption_column]
    records = [Record(key=f"{cfg.source}:{i}", caption=str(c or ""), index=i) for i, c in enumerate(captions)]
    return RecordSet(records, ds, image_col)


IMAGE_KEYS = ("jpg", "jpeg", "png", "webp", "image")  # WebDataset image extensions, then the datasets name
CAPTION_KEYS = ("txt", "caption", "text")


def tar_shards(source: str) -> list[str]:
    """WebDataset shards: a .tar file, a glob of them, or a folder holding them; [] for anything else."""
    if any(c in source for c in "*?[") and source.endswith(".tar"):
        found = sorted(glob.glob(source))
        if not found:
            raise ValueError(f"no tar file matches data.source={source}; check the pattern and the folder")
        return found
    src = Path(source)
    if src.is_file() and src.suffix == ".tar":
        return [str(src)]
    return sorted(str(p) for p in src.glob("*.tar")) if src.is_dir() else []


def _column(columns: Sequence[str], wanted: str, fallbacks: Sequence[str], what: str, where: str) -> str:
    for c in (wanted, *fallbacks):
        if c in columns:
            return c
    raise ValueError(f"{where} has no {what} column '{wanted}' (columns: {sorted(columns)}); set data.{what}_column")


def _load_stream(cfg: DataConfig) -> RecordStream:
    import datasets

    shards = tar_shards(cfg.source)
    if shards:  # `datasets` reads WebDataset tars itself: one sample per key, one column per extension
        ds = datasets.load_dataset("webdataset", data_files={"train": shards}, split="train", streaming=True)
    elif Path(cfg.source).is_dir() and any(
        (Path(cfg.source) / f).exists() for f in ("dataset_info.json", "dataset_dict.json")
    ):
        ds = datasets.load_from_disk(cfg.source)
        ds = (ds[cfg.split] if isinstance(ds, datasets.DatasetDict) else ds).to_iterable_dataset()
    else:
        ds = datasets.load_dataset(cfg.source, split=cfg.split, streaming=True)
    columns = ds.column_names or list(next(iter(ds)))
    where = f"stream {cfg.source}"
    image = _column(columns, cfg.image_column, IMAGE_KEYS, "image", where)
    caption = _column(columns, cfg.caption_column, CAPTION_KEYS, "caption", where)
    return RecordStream(ds, cfg.source, image, caption, cfg.max_samples)
