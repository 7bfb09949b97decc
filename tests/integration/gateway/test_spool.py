"""The spool on its own: numbering, record de-duplication, batches, re-sends, watermarks,
crash safety, and the disk-budget policy."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.spool import PRIORITY, DroppedRange, PendingItem, Spool
from stream.contract.envelope import WireReading, WireSegment
from stream.contract.loss_evidence import digest

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def reading(metric: str = "heart_rate", value: float = 70.0, record: int | None = None,
            at: int = 0) -> WireReading:
    unit = {"heart_rate": "/min", "glucose": "mg/dL"}[metric]
    t = T0 + timedelta(seconds=at)
    return WireReading(seq=0, metric=metric, value=value, unit=unit, time=t, received_at=t,
                       record=record)


def segment(at: int, n: int = 130) -> WireSegment:
    t = T0 + timedelta(seconds=at)
    return WireSegment(seq=0, lead="I", time=t, sampling_rate_hz=130.0,
                       samples=[float(i) for i in range(n)], received_at=t)


def build(device: str, lo: int, hi: int, payloads: list[bytes], kinds: list[str]):
    return f"b-{device}-{lo}-{hi}", json.dumps({"n": len(payloads)}).encode()


def test_numbering_dedup_batches_watermarks(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", budget_bytes=50 * 2**20, new_base=0)
    assert spool.write([PendingItem("D1", reading(at=i)) for i in range(10)], now=0) == 10
    # Records keep their own key as seq; a second copy (backfill) is not spooled again.
    glucose = [PendingItem("D2", reading("glucose", 100 + r, record=r), record_key=r)
               for r in range(5)]
    assert spool.write(glucose, {"D2": "4"}, now=0) == 5
    assert spool.write(glucose[2:], now=0) == 0
    assert spool.depth().duplicates == 3
    assert spool.racp_cursor("D2") == "4"

    batches = spool.build_batches(build, max_items=4, linger_s=1.0, now=10)
    assert [(b.device_id, b.gseq_from, b.gseq_to) for b in batches] == [
        ("D1", 0, 3), ("D1", 4, 7), ("D1", 8, 9), ("D2", 0, 3), ("D2", 4, 4)]
    due = spool.due_batches()
    assert [b.batch_id for b in due] == [b.batch_id for b in batches]
    for offset, b in enumerate(batches):
        spool.mark_sent(b.batch_id, now=10, partition=0, offset=offset)
    assert spool.due_batches() == []
    assert spool.overdue_batches(resend_after_s=60, now=30) == []
    # Not persisted within 60 s: overdue, to be checked against the broker.
    overdue = spool.overdue_batches(resend_after_s=60, now=71)
    assert [(b.partition, b.offset, b.digest) for b in overdue] == [
        (0, i, digest(b.envelope)) for i, b in enumerate(batches)]
    # The broker still holds the first four; the last was lost: only it is due again.
    spool.mark_checked([b.batch_id for b in batches[:4]], [batches[4].batch_id], now=71)
    assert spool.overdue_batches(resend_after_s=60, now=100) == []
    [again] = spool.due_batches()
    assert (again.batch_id, again.envelope, again.attempts) == (
        batches[4].batch_id, batches[4].envelope, 1)
    assert spool.mark_sent(again.batch_id, now=101, partition=1, offset=0) == []  # no latency
    assert len(spool.overdue_batches(resend_after_s=60, now=132)) == 4  # checked at 71

    assert spool.apply_watermark("D1", 7) == 8
    assert spool.depth().items == 2 + 5
    assert spool.overdue_batches(resend_after_s=60, now=132)[0].batch_id == "b-D1-8-9"
    assert spool.persisted_through("D1") == 7
    assert spool.apply_watermark("D1", 3) == 0  # an older watermark changes nothing
    assert spool.persisted_through("D1") == 7
    spool.close()


def test_a_new_spool_numbers_above_any_spool_before_it(tmp_path: Path) -> None:
    """A replaced or re-imaged hub keeps its gateway id but starts an empty spool: its
    numbers must lie above its predecessor's, or the platform takes its data for
    duplicates of ranges it already holds."""
    old = Spool(tmp_path / "old.sqlite", budget_bytes=50 * 2**20)
    old.write([PendingItem("D1", reading(at=i)) for i in range(3)])
    [first] = old.build_batches(build, max_items=10, linger_s=0)
    assert first.gseq_from == old.sequence_base > 0
    old.close()
    reopened = Spool(tmp_path / "old.sqlite", budget_bytes=50 * 2**20)
    assert reopened.sequence_base == old.sequence_base  # kept for the spool's life
    reopened.close()
    time.sleep(1.1)
    new = Spool(tmp_path / "new.sqlite", budget_bytes=50 * 2**20)
    assert new.sequence_base > first.gseq_to
    new.close()


def test_restart_keeps_numbering_and_unsent_batches(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    spool = Spool(path, budget_bytes=50 * 2**20, new_base=0)
    spool.write([PendingItem("D1", reading(at=i)) for i in range(3)], now=0)
    [batch] = spool.build_batches(build, max_items=10, linger_s=0, now=1)
    spool.apply_watermark("D1", 2)
    spool.close()  # as after a crash: nothing else survives but the file

    spool = Spool(path, budget_bytes=50 * 2**20, new_base=0)
    spool.write([PendingItem("D1", reading(at=9))], now=2)
    rows = spool.items("D1")
    assert [r[1] for r in rows] == [3]  # numbering continues after the persisted range
    spool.write([PendingItem("D1", reading(at=10))], now=2)
    [b] = spool.build_batches(build, max_items=10, linger_s=0, now=3)
    assert (b.gseq_from, b.gseq_to) == (3, 4)
    assert batch.batch_id != b.batch_id
    spool.close()


def test_disk_budget_drops_oldest_low_priority_first_and_counts(tmp_path: Path) -> None:
    budget = 2 * 2**20
    spool = Spool(tmp_path / "spool.sqlite", budget_bytes=budget, new_base=0)
    for minute in range(40):  # ~40 × 60 segments of 130 samples ≈ 10+ MB of ECG
        spool.write([PendingItem("ECG", segment=segment(minute * 60 + s)) for s in range(60)],
                    now=minute)
        spool.write([PendingItem("CGM", reading("glucose", 100.0, record=minute),
                                 record_key=minute)], now=minute)
    depth = spool.depth()
    assert depth.used_bytes <= budget
    assert depth.dropped[f"dropped_priority_{PRIORITY['ecg']}"] > 0
    assert f"dropped_priority_{PRIORITY['glucose']}" not in depth.dropped  # glucose kept
    kept = spool.items("CGM", limit=100)
    assert len(kept) == 40
    ecg = spool.items("ECG", limit=10_000)
    assert ecg, "the newest ECG stays"
    oldest_kept = min(r[1] for r in ecg)
    assert oldest_kept > 0  # the oldest went first
    assert depth.items == len(ecg) + 40

    # Every dropped item is in a loss report: contiguous ranges, disjoint from batches,
    # which never span a hole (the platform's watermark must be able to pass them).
    reports: list[DroppedRange] = []
    def report(r: DroppedRange) -> tuple[str, bytes]:
        reports.append(r)
        return f"loss-{r.device_id}-{r.gseq_from}", b"{}"
    assert spool.cut_loss_reports(report) == len(reports) > 0
    assert spool.cut_loss_reports(report) == 0  # reported once
    assert sum(r.items for r in reports) == sum(depth.dropped.values())
    assert {r.device_id for r in reports} == {"ECG"}
    assert reports[0].first <= reports[0].last
    batches = spool.build_batches(build, max_items=100_000, linger_s=0)
    covered = sorted([(r.gseq_from, r.gseq_to) for r in reports]
                     + [(b.gseq_from, b.gseq_to) for b in batches if b.device_id == "ECG"])
    assert covered[0][0] == 0 and covered[-1][1] == 40 * 60 - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(covered))
    spool.close()
