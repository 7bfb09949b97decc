"""How the gateway cuts its due batches into upload requests (``upload_groups``)."""

from __future__ import annotations

from gateway.http_transport import UPLOAD_MAX_BATCHES, UPLOAD_MAX_BYTES, upload_groups
from gateway.spool import Batch


def _batch(i: int, size: int) -> Batch:
    return Batch(batch_id=f"b{i}", device_id="W-1", gseq_from=i, gseq_to=i,
                 envelope=b"x" * size)


def test_groups_keep_the_order_and_every_batch_once() -> None:
    batches = [_batch(i, 1000) for i in range(UPLOAD_MAX_BATCHES * 2 + 7)]
    groups = upload_groups(batches)
    assert [b for g in groups for b in g] == batches
    assert [len(g) for g in groups] == [UPLOAD_MAX_BATCHES, UPLOAD_MAX_BATCHES, 7]


def test_a_group_stays_under_the_byte_limit_and_a_huge_envelope_goes_alone() -> None:
    big = UPLOAD_MAX_BYTES // 3
    batches = [_batch(0, big), _batch(1, big), _batch(2, big), _batch(3, UPLOAD_MAX_BYTES * 2),
               _batch(4, 10)]
    groups = upload_groups(batches)
    assert [[b.batch_id for b in g] for g in groups] == [["b0", "b1"], ["b2"], ["b3"], ["b4"]]
    for group in groups:
        body = 2 + sum(len(b.envelope) for b in group) + len(group) - 1  # [a,b,...]
        assert body <= UPLOAD_MAX_BYTES or len(group) == 1


def test_no_batches_no_uploads() -> None:
    assert upload_groups([]) == []
