"""Compare what the virtual wearables emitted with what the database holds: every
emitted reading must be stored once (not lost, not doubled).

Pure functions over plain values, so the accounting itself is unit-tested. Per device and
metric both sides are put in sending order (emitted: the order the simulator sent them;
stored: the gateway's sequence number, or the device's record number for stored records)
and their value sequences compared as a diff (difflib's longest matching blocks): an
emitted value the stored sequence lacks is *lost*, a stored value the emitted sequence
lacks is *doubled* (stored twice under another key, or never emitted). Times are not
compared: the gateway stamps a notify-only value with its receive time, which at a
simulated speed-up lags the true time by the radio latency times the speed-up, and places
the RR intervals of one notification backwards from it, so two RR intervals of adjacent
notifications can swap places by time. Times decide the counts' phase, and which of
several equal values a loss was (:func:`_place_losses`), never the counts themselves.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from difflib import SequenceMatcher

ECG = "ecg_samples"  # an emitted PMD frame; its value is the frame's sample count


@dataclass(frozen=True, slots=True)
class Item:
    """One emitted reading, or one stored row (ECG: a frame / a segment)."""

    device: str  # device serial (the registry's device id is ``DEV-<serial>``)
    metric: str
    time: datetime
    value: float
    order: int = 0  # sending order: emission index, or the stored row's seq
    in_doubt: bool = False  # emitted as its link dropped: it may never have arrived


@dataclass
class Tally:
    emitted: int = 0
    stored: int = 0
    lost: int = 0
    doubled: int = 0
    # Lost, but only ever held in the memory of a process that was SIGKILLed: values a
    # notify-only device sent in the last instant before the kill (docs/gateway.md).
    lost_in_flight: int = 0
    # Lost, but dropped by a spool over its disk budget and reported to the platform (a
    # data_dropped flag covers it): accounted for, not silent.
    lost_reported: int = 0
    # Missing, but sent as its link dropped, so it may never have left the air (a
    # notification the controller held, an indication never confirmed): not a loss.
    unconfirmed: int = 0
    lost_examples: list[str] = field(default_factory=list)

    def add_lost(self, item: Item) -> None:
        self.lost += 1
        if len(self.lost_examples) < 5:
            self.lost_examples.append(f"{item.device} {item.metric} {item.time.isoformat()} "
                                      f"{item.value:g}")


@dataclass(frozen=True, slots=True)
class KillGap:
    """The values of one device that only a SIGKILLed gateway's memory can have held:
    those sent after the last one it had spooled and before the first one its restarted
    successor spooled (emission times in ``[start, end)``)."""

    device: str
    start: datetime
    end: datetime

    def holds(self, item: Item) -> bool:
        return item.device == self.device and self.start <= item.time < self.end


def kill_gaps(stored: Iterable[Item], kills: Iterable[tuple[datetime, set[str]]], *,
              slack: timedelta, reach: timedelta) -> list[KillGap]:
    """Per killed gateway (kill time, its devices' serials), each device's gap in the
    stored data around the kill.

    A stored value's time is its receive stamp, up to ``slack`` after its emission, so the
    gap opens ``slack`` before the last value stored ahead of the kill. It opens no
    earlier than ``reach`` before the kill: the gateway spools within a fraction of a
    second, and a hole older than that is a real loss. It closes at the first value stored
    after the kill (or ``reach`` after it, when the device never came back).
    """
    by_device: dict[str, list[datetime]] = defaultdict(list)
    for item in stored:
        by_device[item.device].append(item.time)
    for times in by_device.values():
        times.sort()
    gaps = []
    for at, devices in kills:
        for device in sorted(devices):
            times = by_device.get(device, [])
            i = bisect.bisect_left(times, at)
            before = times[i - 1] - slack if i else at - reach
            after = times[i] if i < len(times) else at + reach
            gaps.append(KillGap(device, max(before, at - reach), after))
    return gaps


def phase_of(t: datetime, starts: Sequence[tuple[datetime, str]]) -> str:
    """The name of the last phase starting at or before ``t`` (``starts`` sorted)."""
    i = bisect.bisect_right([s for s, _ in starts], t) - 1
    return starts[max(i, 0)][1]


def reconcile(emitted: Iterable[Item], stored: Iterable[Item], *,
              phases: Sequence[tuple[datetime, str]],
              in_flight: Callable[[Item], str | None] = lambda _item: None,
              reported: Callable[[Item], bool] = lambda _item: False,
              late_s: float = 60.0) -> dict[str, Tally]:
    """Lost and doubled readings per phase (phases: (start, name), sorted by start; an
    item belongs to the phase its time falls in).

    ``in_flight`` names the phase whose fault made a missing emission lost in flight
    rather than lost (None: a real loss); ``reported`` tells whether a missing emission
    lies in a range the gateway reported dropped. ``late_s``: a stored value stamped this much
    after an emitted one is not its copy (see :func:`_place_losses`).
    """
    tallies: dict[str, Tally] = {name: Tally() for _, name in phases}
    sides: dict[tuple[str, str], tuple[list[Item], list[Item]]] = defaultdict(lambda: ([], []))
    for item in emitted:
        sides[(item.device, item.metric)][0].append(item)
    for item in stored:
        sides[(item.device, item.metric)][1].append(item)
    for want, got in sides.values():
        want.sort(key=lambda i: (i.order, i.time))
        got.sort(key=lambda i: (i.order, i.time))
        for item in want:
            tallies[phase_of(item.time, phases)].emitted += 1
        for item in got:
            tallies[phase_of(item.time, phases)].stored += 1
        missing, extra, pairs = _differences([i.value for i in want], [i.value for i in got])
        losses = _place_losses(want, got, missing, pairs, late_s)
        for i in (_prefer_time_holes(want, got, losses) if not extra else losses):
            killed_by = in_flight(want[i])
            if want[i].in_doubt:
                tallies[phase_of(want[i].time, phases)].unconfirmed += 1
            elif killed_by is not None:
                tallies[killed_by].lost_in_flight += 1
            elif reported(want[i]):
                tallies[phase_of(want[i].time, phases)].lost_reported += 1
            else:
                tallies[phase_of(want[i].time, phases)].add_lost(want[i])
        for j in extra:
            tallies[phase_of(got[j].time, phases)].doubled += 1
    return tallies


def _place_losses(want: list[Item], got: list[Item], missing: list[int],
                  pairs: list[tuple[int, int]], late_s: float) -> list[int]:
    """Which emitted values the missing ones were.

    A value diff counts losses exactly but cannot tell which of ten emitted 98 % SpO2
    values was lost when nine are stored, nor, across a kill, whether the 60 /min stored
    after the restart copies the 60 sent just before the kill or the one sent just after
    the restart. So the stored values are walked in order: one the diff paired with an
    emitted value stamped more than ``late_s`` away is paired instead with the next equal
    emitted value within ``late_s``, and the losses land in the time gap they left. If a
    stored value finds none, the diff's pairing stands as it was.
    """
    if not missing:
        return []
    pairs = sorted(pairs)
    placed: list[tuple[int, int]] = []
    at = -1
    for i, j in pairs:
        if i > at and _near(want[i], got[j], late_s):
            placed.append((i, j))
            at = i
            continue
        k = at + 1
        while k < len(want) and (want[k].time - got[j].time).total_seconds() <= late_s:
            if want[k].value == got[j].value and _near(want[k], got[j], late_s):
                break
            k += 1
        else:
            k = i if i > at else -1
        if k < 0:
            placed = pairs
            break
        placed.append((k, j))
        at = k
    matched = {i for i, _j in placed}
    return [i for i in range(len(want)) if i not in matched]


def _prefer_time_holes(want: list[Item], got: list[Item], losses: list[int]) -> list[int]:
    """The losses, moved to where time shows holes when the values cannot tell (all equal:
    an ECG frame's value is its sample count, the same for every frame, so the diff
    counts its losses exactly but places them anywhere). Each stored value, in time order,
    takes the nearest emitted one not yet taken and not before the last taken; the emitted
    values passed over are the holes. A stamp offset larger than half the spacing shifts
    the holes by a frame, no more. If that cannot place every stored value, or does not
    leave exactly the diff's count, the diff's placement stands."""
    if not losses or len({i.value for i in want} | {i.value for i in got}) != 1:
        return losses
    order = sorted(range(len(want)), key=lambda k: want[k].time)
    times = [want[k].time for k in order]
    holes: list[int] = []
    k = 0
    for stored in sorted(i.time for i in got):
        if k >= len(times):
            return losses  # a stored value with no emitted one left for it
        while k + 1 < len(times) and abs(times[k + 1] - stored) < abs(times[k] - stored):
            holes.append(order[k])
            k += 1
        k += 1
    holes += order[k:]
    return sorted(holes) if len(holes) == len(losses) else losses


def _near(emitted: Item, stored: Item, late_s: float) -> bool:
    return abs((stored.time - emitted.time).total_seconds()) <= late_s


def _differences(a: list[float], b: list[float],
                 ) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Indexes of ``a`` missing from ``b``, of ``b`` not in ``a`` (a minimal diff), and
    the matched (index in ``a``, index in ``b``) pairs.

    The common head and tail are cut off first: the sides are nearly always equal, and
    the diff of what remains is then small however long the sequences are.
    """
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    a_mid, b_mid = a[head:len(a) - tail], b[head:len(b) - tail]
    missing: list[int] = []
    extra: list[int] = []
    pairs = [(k, k) for k in range(head)]
    pairs += [(len(a) - 1 - k, len(b) - 1 - k) for k in range(tail)]
    # Nothing stored that was not emitted (the usual case, however many values were lost):
    # then nothing is doubled. SequenceMatcher is not a minimal diff and, given many
    # losses from a run of repeating values (a dropped spool range), pairs the rest
    # wrongly and reports "doubled" values that were stored once.
    matched = _subsequence(a_mid, b_mid)
    if matched is not None:
        kept = set(matched)
        pairs += [(head + i, head + j) for j, i in enumerate(matched)]
        return [head + i for i in range(len(a_mid)) if i not in kept], [], pairs
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a_mid, b_mid, autojunk=False).get_opcodes():
        if op == "equal":
            pairs += [(head + i1 + k, head + j1 + k) for k in range(i2 - i1)]
        if op in ("delete", "replace"):
            missing += range(head + i1, head + i2)
        if op in ("insert", "replace"):
            extra += range(head + j1, head + j2)
    return missing, extra, pairs


def _subsequence(a: list[float], b: list[float]) -> list[int] | None:
    """Indexes in ``a`` of ``b``'s values in order (greedy, earliest), or None when ``b``
    is not a subsequence of ``a``."""
    out: list[int] = []
    i = 0
    for value in b:
        while i < len(a) and a[i] != value:
            i += 1
        if i == len(a):
            return None
        out.append(i)
        i += 1
    return out
