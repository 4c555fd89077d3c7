"""Server-side batching of Predict calls (--enable_batching, BatchingParameters semantics).

Concurrent requests on the same servable + signature whose non-batch shapes and dtypes agree are
concatenated along dimension 0 into one signature call, then the outputs are split back. The first
task of a batch waits up to batch_timeout_micros for more tasks (or until max_batch_size rows),
padding to the next allowed_batch_sizes entry when given; at most num_batch_threads batches run at
once and at most max_enqueued_batches wait. Messages follow TF Serving's batching session.
"""
import dataclasses
import os
import threading

import numpy as np

from serving.server import errors


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 0  # 0 = number of cores
    allowed_batch_sizes: tuple = ()
    enable_large_batch_splitting: bool = False
    on_batch: object = None  # callback(rows) per processed batch (metrics)

    @classmethod
    def from_proto(cls, params, on_batch=None) -> "BatchingOptions":
        """From a BatchingParameters message (unset wrappers keep the defaults)."""
        def wrapped(name, default):
            return getattr(params, name).value if params is not None and params.HasField(name) else default
        options = cls(
            max_batch_size=wrapped("max_batch_size", cls.max_batch_size),
            batch_timeout_micros=wrapped("batch_timeout_micros", cls.batch_timeout_micros),
            max_enqueued_batches=wrapped("max_enqueued_batches", cls.max_enqueued_batches),
            num_batch_threads=wrapped("num_batch_threads", cls.num_batch_threads),
            allowed_batch_sizes=tuple(params.allowed_batch_sizes) if params is not None else (),
            enable_large_batch_splitting=wrapped("enable_large_batch_splitting", False),
            on_batch=on_batch)
        options.validate()
        return options

    def validate(self) -> None:
        if self.max_batch_size <= 0:
            raise ValueError(f"max_batch_size must be positive; was {self.max_batch_size}")
        sizes = list(self.allowed_batch_sizes)
        if sizes:
            if sizes != sorted(set(sizes)) or sizes[0] <= 0:
                raise ValueError("allowed_batch_sizes entries must be monotonically increasing")
            if sizes[-1] != self.max_batch_size:
                raise ValueError("Last entry in allowed_batch_sizes must match max_batch_size; last entry"
                                 f" was {sizes[-1]}; expected {self.max_batch_size}")


class _Task:
    def __init__(self, feeds: dict, rows: int):
        self.feeds = feeds
        self.rows = rows
        self.result = None
        self.error = None


class _Batch:
    def __init__(self):
        self.tasks = []
        self.rows = 0
        self.closed = threading.Event()  # no more tasks join
        self.done = threading.Event()


class Batcher:
    """Batches feeds for one signature of one servable; `run(feeds)` blocks until its rows are done."""

    def __init__(self, call, options: BatchingOptions):
        self._call = call  # feeds -> {alias: ndarray}
        self.options = options
        self._lock = threading.Lock()
        self._open = {}  # shape/dtype key -> _Batch
        self._queued = 0
        self._running = threading.Semaphore(options.num_batch_threads or os.cpu_count() or 1)

    def run(self, feeds: dict) -> dict:
        rows = _batch_size(feeds)
        if rows is None:  # scalars or mismatched dim 0: nothing to batch on, run alone
            return self._call(feeds)
        if rows > self.options.max_batch_size and not self.options.enable_large_batch_splitting:
            raise errors.invalid_argument(
                f"Task size {rows} is larger than maximum input batch size {self.options.max_batch_size}")
        if rows > self.options.max_batch_size:
            return self._call(feeds)
        key = tuple(sorted((alias, a.dtype.str, a.shape[1:]) for alias, a in feeds.items()))
        task = _Task(feeds, rows)
        with self._lock:
            batch = self._open.get(key)
            if batch is not None and batch.rows + rows > self.options.max_batch_size:
                self._close(key, batch)
                batch = None
            leader = batch is None
            if leader:
                if self._queued >= self.options.max_enqueued_batches:
                    raise errors.ServingError(
                        errors.grpc.StatusCode.UNAVAILABLE,
                        "The batch scheduling queue to which this task was submitted is full")
                batch = _Batch()
                self._open[key] = batch
                self._queued += 1
            batch.tasks.append(task)
            batch.rows += rows
            if batch.rows >= self.options.max_batch_size:
                self._close(key, batch)
        if leader:
            batch.closed.wait(self.options.batch_timeout_micros / 1e6)
            with self._lock:
                self._close(key, batch)
            with self._running:
                self._process(batch)
                with self._lock:
                    self._queued -= 1
        else:
            batch.done.wait()
        if task.error is not None:
            raise task.error
        return task.result

    def _close(self, key, batch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        batch.closed.set()

    def _process(self, batch: _Batch) -> None:
        try:
            total = batch.rows
            padded = next((s for s in self.options.allowed_batch_sizes if s >= total), total)
            feeds = {}
            for alias in batch.tasks[0].feeds:
                parts = [t.feeds[alias] for t in batch.tasks]
                if padded > total:  # pad by repeating the last row, like the batching session
                    parts.append(np.repeat(parts[-1][-1:], padded - total, axis=0))
                feeds[alias] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
            outputs = self._call(feeds)
            for alias, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != padded:
                    raise errors.invalid_argument(
                        f"Batched output tensor '{alias}' has 0th dimension"
                        f" {value.shape[0] if value.ndim else 0} but the batch has {padded} rows")
            offset = 0
            for task in batch.tasks:
                task.result = {a: v[offset:offset + task.rows] for a, v in outputs.items()}
                offset += task.rows
            if self.options.on_batch is not None:
                self.options.on_batch(padded)
        except Exception as exc:  # every task of the batch gets the error
            error = errors.from_exception(exc)
            for task in batch.tasks:
                task.error = error
        finally:
            batch.done.set()


def _batch_size(feeds: dict):
    sizes = {a.shape[0] if a.ndim else None for a in feeds.values()}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()
