"""The load generator: realistic submissions published at a fixed rate or as fast as
possible with a batching aiokafka producer, and a progress bar on stderr."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

from shared.devinfra.samples import sample_submission

DETAIL_PLACES = ["Jl. Poros Sangatta", "Gang Mawar", "Gang Melati", "Jl. Yos Sudarso",
                 "Jl. APT Pranoto", "Perumahan Bukit Pelangi", "Desa Sepaso", "Desa Singa Gembara",
                 "Kampung Kajang", "Teluk Lingga", "Swarga Bara", "Sangatta Baru",
                 "Jl. Soekarno-Hatta", "Pasar Induk", "Kecamatan Bengalon", "Muara Bengkal"]
DETAIL_WHAT = ["sejak awal bulan", "hampir setiap malam", "sudah dilaporkan ke RT",
               "warga sudah bergotong royong namun belum cukup", "anak sekolah terdampak",
               "pedagang mengeluh omzet turun", "lansia kesulitan melintas",
               "pernah diliput media lokal", "petugas pernah datang tetapi tidak kembali",
               "kondisi makin parah setelah hujan deras"]
PROGRESS_EVERY = 0.2  # seconds between progress bar updates on a terminal


def submissions(n: int, seed: int, *, duplicate_share: float = 0.1) -> list[dict[str, Any]]:
    """N sample submissions, each with a reporter e-mail (so every complaint gets an
    acknowledgement e-mail). Most bodies get a detail sentence of their own, as real
    complaints differ; `duplicate_share` of them keep the sample's text verbatim and are
    flagged as possible duplicates of an earlier one."""
    rng = random.Random(seed)  # noqa: S311 - sample data
    items = []
    for sequence in range(n):
        submission = sample_submission(rng, sequence=sequence)
        reporter = submission["reporter"]
        reporter.setdefault("email", f"warga.{sequence}@warga.example.id")
        if rng.random() >= duplicate_share:
            detail = (f"Lokasi: {rng.choice(DETAIL_PLACES)} nomor {rng.randrange(1, 300)}, "
                      f"RT {rng.randrange(1, 40):02d}/RW {rng.randrange(1, 15):02d}; "
                      f"{rng.choice(DETAIL_WHAT)}, {rng.choice(DETAIL_WHAT)}. "
                      f"Laporan nomor {sequence} pada {rng.randrange(1, 29)}/"
                      f"{rng.randrange(1, 13)} pukul {rng.randrange(24):02d}."
                      f"{rng.randrange(60):02d}.")
            submission["body"] = f"{detail} {submission['body']}"
        items.append(submission)
    return items


def submission_key(submission: dict[str, Any]) -> bytes:
    return f"{submission['channel']}:{submission['channel_ref']}".encode()


# How long the load generator's producer holds a submission to batch it with the next ones.
# Independent channel adapters each publish their own submissions, so at 200/s nearly every
# submission is a batch of its own; a longer linger (`--adapter-linger-ms`) stores fewer,
# larger batches, which the embedded broker's fetches are sensitive to
# (docs/benchmark-history.md, "Ninth round"). The linger is part of the measured latency:
# a submission's time starts at send.
ADAPTER_LINGER_MS = 5


def producer(bootstrap: str, linger_ms: int = ADAPTER_LINGER_MS) -> AIOKafkaProducer:
    """How a channel adapter would publish under load: acks=all, batched."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms,
                            max_batch_size=256 * 1024, enable_idempotence=False)


OBSERVER_PAUSE_SECONDS = 0.5


async def observe(consumer: AIOKafkaConsumer, max_records: int
                  ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    """The next records of a consumer that reads what the run produced, for the report
    only: at most twice a second.

    The figures come from timestamps inside the records, not from when the observer reads
    them, so it need not read at once whenever anything arrives (aiokafka fetches a
    partition again only once its buffered records are taken). On Tansu's in-memory store
    every fetch that finds data lists all of the partition's stored batches: an eager
    observer reading every topic of the run was a growing share of the broker's work, a
    cost the system does not have."""
    batches = await consumer.getmany(timeout_ms=200, max_records=max_records)
    await asyncio.sleep(OBSERVER_PAUSE_SECONDS)
    return batches


async def publish(kafka: AIOKafkaProducer, topic: str, n: int,
                  message: Callable[[int], tuple[bytes, bytes]], *, rate: float | None,
                  on_sent: Callable[[int], None] | None = None) -> tuple[float, float]:
    """Publish message(i) for i < n, paced at `rate`/s (None: as fast as possible); the
    payload is built at send time (so a submitted_at inside is the send time). Returns the
    wall-clock times of the first and last send; waits until every record is acknowledged."""
    headers = [("content-type", b"application/json")]
    pending: list[asyncio.Future[Any]] = []
    started = time.monotonic()
    first = last = 0.0
    for i in range(n):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        elif i % 200 == 0:
            await asyncio.sleep(0)  # let the collector and progress bar run
        key, value = message(i)
        now = time.time()
        first = first or now
        last = now
        pending.append(await kafka.send(topic, value, key=key, headers=headers))
        if on_sent is not None:
            on_sent(i + 1)
        if len(pending) >= 5000:
            await asyncio.gather(*pending)
            pending.clear()
    await kafka.flush()
    await asyncio.gather(*pending)
    return first, last


def submission_message(items: Sequence[dict[str, Any]]) -> Callable[[int], tuple[bytes, bytes]]:
    def build(i: int) -> tuple[bytes, bytes]:
        submission = items[i]
        submission["submitted_at"] = datetime.now(UTC).isoformat()
        return submission_key(submission), json.dumps(submission).encode()
    return build


class ProgressBar:
    """One line on stderr, redrawn with \\r on a terminal; a line every few seconds
    otherwise (logs of `make bench | tee`)."""

    def __init__(self, label: str, total: int, counters: Callable[[], dict[str, int]],
                 done_key: str) -> None:
        self.label = label
        self.total = total
        self.counters = counters
        self.done_key = done_key
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self._task: asyncio.Task[None] | None = None

    def line(self) -> str:
        counts = self.counters()
        done = counts.get(self.done_key, 0)
        width = 24
        filled = int(width * min(done / self.total, 1.0)) if self.total else width
        elapsed = time.monotonic() - self.started
        parts = " ".join(f"{k} {v}" for k, v in counts.items())
        return (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {parts}  "
                f"{elapsed:5.1f}s")

    async def _run(self) -> None:
        every = PROGRESS_EVERY if self.tty else 5.0
        while True:
            await asyncio.sleep(every)
            self.draw()

    def draw(self, final: bool = False) -> None:
        text = self.line()
        if self.tty:
            sys.stderr.write("\r" + text + "\x1b[K" + ("\n" if final else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def __enter__(self) -> ProgressBar:
        self.started = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.draw(final=True)
