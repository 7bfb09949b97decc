"""The chaos evaluation's accounting: emitted vs stored readings, lost and doubled per phase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deploy.eval.reconcile import ECG, Item, KillGap, kill_gaps, phase_of, reconcile

T0 = datetime(2026, 11, 1, tzinfo=UTC)
PHASES = [(T0, "steady"), (T0 + timedelta(seconds=100), "fault")]


def hr(t: float, value: float, device: str = "WCH-1") -> Item:
    return Item(device, "heart_rate", T0 + timedelta(seconds=t), value)


def test_identical_sides_have_nothing_lost_or_doubled() -> None:
    emitted = [hr(t, 60 + t % 3) for t in range(200)]
    stored = [hr(t + 0.4, 60 + t % 3) for t in range(200)]  # the gateway's stamp lags
    tallies = reconcile(emitted, stored, phases=PHASES)
    assert (tallies["steady"].emitted, tallies["steady"].lost, tallies["steady"].doubled) == (100, 0, 0)
    assert (tallies["fault"].stored, tallies["fault"].lost, tallies["fault"].doubled) == (100, 0, 0)


def test_a_missing_reading_is_lost_in_its_phase_and_an_extra_one_doubled() -> None:
    emitted = [hr(t, 60 + t % 7) for t in range(200)]
    stored = [hr(t, 60 + t % 7) for t in range(200) if t != 150] + [hr(20.2, 60 + 20 % 7)]
    tallies = reconcile(emitted, stored, phases=PHASES)
    assert (tallies["steady"].lost, tallies["steady"].doubled) == (0, 1)
    assert (tallies["fault"].lost, tallies["fault"].doubled) == (1, 0)
    assert tallies["fault"].lost_examples == ["WCH-1 heart_rate 2026-11-01T00:02:30+00:00 63"]


def test_a_wrong_value_counts_as_lost_and_doubled() -> None:
    emitted = [hr(0, 70), hr(1, 71), hr(2, 72)]
    stored = [hr(0, 70), hr(1, 99), hr(2, 72)]
    tally = reconcile(emitted, stored, phases=PHASES)["steady"]
    assert (tally.lost, tally.doubled) == (1, 1)


def test_devices_and_metrics_are_kept_apart() -> None:
    emitted = [hr(0, 70, "WCH-1"), hr(0, 70, "WCH-2")]
    stored = [hr(0, 70, "WCH-1"), hr(0.5, 70, "WCH-1")]
    tally = reconcile(emitted, stored, phases=PHASES)["steady"]
    assert (tally.lost, tally.doubled) == (1, 1)


def test_in_flight_losses_are_counted_apart() -> None:
    emitted = [hr(t, 60 + t) for t in range(10)]
    stored = [hr(t, 60 + t) for t in range(10) if t not in (4, 5)]
    tally = reconcile(emitted, stored, phases=PHASES,
                      in_flight=lambda item: "steady" if item.time == T0 + timedelta(seconds=5)
                      else None)["steady"]
    assert (tally.lost, tally.lost_in_flight) == (1, 1)


def test_losses_in_a_reported_dropped_range_are_counted_apart() -> None:
    emitted = [hr(t, 60 + t) for t in range(10)]
    stored = [hr(t, 60 + t) for t in range(10) if t not in (2, 3, 7)]
    reported = (T0 + timedelta(seconds=2), T0 + timedelta(seconds=3))
    tally = reconcile(emitted, stored, phases=PHASES,
                      reported=lambda item: reported[0] <= item.time <= reported[1])["steady"]
    assert (tally.lost, tally.lost_reported) == (1, 2)


def test_a_value_sent_as_its_link_dropped_is_unconfirmed_if_missing_and_fine_if_stored() -> None:
    emitted = [Item("WCH-1", "heart_rate", T0 + timedelta(seconds=t), 60 + t, t,
                    in_doubt=t in (8, 9)) for t in range(10)]
    stored = [hr(t, 60 + t) for t in range(10) if t not in (3, 9)]
    tally = reconcile(emitted, stored, phases=PHASES)["steady"]
    assert (tally.lost, tally.unconfirmed, tally.doubled) == (1, 1, 0)


def test_many_values_lost_from_a_run_are_lost_not_doubled() -> None:
    """A dropped spool range takes many values out of a run; the diff must not pair the
    rest wrongly and count "doubled" values that were stored once (seen in eval chaos)."""
    emitted = [hr(t, 60 + (t * 7) % 5) for t in range(300)]
    stored = [hr(t, 60 + (t * 7) % 5) for t in range(300)
              if not (40 <= t < 90 or t % 11 == 3 or 200 <= t < 230)]
    tally = reconcile(emitted, stored, phases=PHASES)
    assert sum(t.doubled for t in tally.values()) == 0
    assert sum(t.lost for t in tally.values()) == 300 - len(stored)


def test_a_long_equal_run_is_compared_fast_and_counts_only_what_differs() -> None:
    emitted = [hr(t, 60 + t % 11) for t in range(100_000)]
    stored = emitted[:50_000] + emitted[50_001:]
    tallies = reconcile(emitted, stored, phases=PHASES)
    assert tallies["fault"].lost == 1
    assert tallies["fault"].doubled == 0


def test_phase_of_picks_the_latest_phase_started() -> None:
    assert phase_of(T0 - timedelta(seconds=1), PHASES) == "steady"
    assert phase_of(T0 + timedelta(seconds=100), PHASES) == "fault"
    assert phase_of(T0 + timedelta(seconds=99), PHASES) == "steady"


def test_sides_are_compared_in_sending_order_not_by_time() -> None:
    # Two RR intervals of adjacent notifications: the gateway places the second
    # notification's first interval backwards from its receive time, before the first one.
    emitted = [Item("ECG-1", "rr_interval", T0 + timedelta(seconds=t), v, i)
               for i, (t, v) in enumerate([(0.0, 880.0), (0.9, 925.0), (1.8, 910.0)])]
    stored = [Item("ECG-1", "rr_interval", T0 + timedelta(seconds=t), v, seq)
              for seq, (t, v) in enumerate([(1.2, 880.0), (1.1, 925.0), (2.0, 910.0)])]
    tally = reconcile(emitted, stored, phases=PHASES)["steady"]
    assert (tally.emitted, tally.stored, tally.lost, tally.doubled) == (3, 3, 0, 0)


def test_a_loss_in_a_run_of_equal_values_is_placed_in_the_time_gap_it_left() -> None:
    # Eleven 98 % values; the three sent just before a gateway was killed never arrived,
    # and the stored stamps lag the true times a little.
    emitted = [Item("WCH-1", "spo2", T0 + timedelta(seconds=t), 98.0, n)
               for n, t in enumerate([0, 1, 2, 3, 4, 5, 6, 110, 111, 112, 113])]
    stored = [Item("WCH-1", "spo2", T0 + timedelta(seconds=t + 0.4), 98.0, n)
              for n, t in enumerate([0, 1, 2, 3, 110, 111, 112, 113])]
    killed_at = T0 + timedelta(seconds=6)
    tally = reconcile(emitted, stored, phases=PHASES, late_s=20.0,
                      in_flight=lambda item: ("fault" if abs(item.time - killed_at)
                                                <= timedelta(seconds=3) else None))
    assert (tally["steady"].lost, tally["steady"].doubled) == (0, 0)
    assert tally["fault"].lost_in_flight == 3  # charged to the kill, not to the time


def test_without_a_time_gap_the_loss_count_is_still_exact() -> None:
    emitted = [Item("WCH-1", "spo2", T0 + timedelta(seconds=t), 98.0, t) for t in range(10)]
    stored = [Item("WCH-1", "spo2", T0 + timedelta(seconds=t + 0.4), 98.0, t)
              for t in range(10) if t != 4]
    tally = reconcile(emitted, stored, phases=PHASES, late_s=20.0)["steady"]
    assert (tally.lost, tally.doubled) == (1, 0)


def test_losses_among_equal_frames_are_placed_where_time_shows_the_hole() -> None:
    """ECG frames all carry the same value (their sample count): a diff counts the losses
    but would place them anywhere; the frames' times, a little late but far closer than
    their spacing, show which ones were dropped, inside the reported range."""
    emitted = [Item("ECG-1", ECG, T0 + timedelta(seconds=0.56 * n), 73.0, 73 * n)
               for n in range(300)]
    dropped = set(range(40, 90))  # reported dropped: frames 40-89
    stored = [Item("ECG-1", ECG, e.time + timedelta(seconds=0.08), 73.0, n)
              for n, e in enumerate(emitted) if n not in dropped]
    report = (T0 + timedelta(seconds=0.56 * 40), T0 + timedelta(seconds=0.56 * 89))
    tally = reconcile(emitted, stored, phases=PHASES, late_s=60.0,
                      reported=lambda item: report[0] <= item.time <= report[1])["steady"]
    assert (tally.lost, tally.lost_reported, tally.doubled) == (0, 50, 0)
    # Where times do not account for the count (a frame stamped far off), the diff's
    # placement stands and the count stays exact.
    stored[10] = Item("ECG-1", ECG, stored[10].time + timedelta(seconds=5), 73.0, 10)
    tallies = reconcile(emitted, stored, phases=PHASES, late_s=60.0).values()
    assert (sum(t.lost for t in tallies), sum(t.doubled for t in tallies)) == (50, 0)


def test_a_kill_gap_spans_from_the_last_value_spooled_to_the_first_after_restart() -> None:
    killed_at = T0 + timedelta(seconds=50)
    # Spooled up to t=47.2 (stamps); the restarted gateway's first value is stamped 58.
    stored = [hr(t, 60) for t in (40, 45, 47.2, 58, 59)] + [hr(t, 60, "OTHER") for t in (49, 51)]
    (gap,) = kill_gaps(stored, [(killed_at, {"WCH-1"})], slack=timedelta(seconds=1),
                       reach=timedelta(seconds=5))
    assert gap == KillGap("WCH-1", T0 + timedelta(seconds=46.2), T0 + timedelta(seconds=58))
    assert gap.holds(hr(46.5, 61)) and gap.holds(hr(57, 61))
    assert not gap.holds(hr(44, 61))  # a hole before what was spooled is a real loss
    assert not gap.holds(hr(58, 61)) and not gap.holds(hr(50, 61, "OTHER"))


def test_a_kill_gap_reaches_back_only_so_far() -> None:
    killed_at = T0 + timedelta(seconds=50)
    stored = [hr(t, 60) for t in (10, 70)]  # nothing spooled for 40 s before the kill
    (gap,) = kill_gaps(stored, [(killed_at, {"WCH-1"})], slack=timedelta(seconds=1),
                       reach=timedelta(seconds=5))
    assert (gap.start, gap.end) == (T0 + timedelta(seconds=45), T0 + timedelta(seconds=70))
    (never_back,) = kill_gaps([hr(49, 60)], [(killed_at, {"WCH-1"})],
                              slack=timedelta(seconds=1), reach=timedelta(seconds=5))
    assert never_back.end == T0 + timedelta(seconds=55)


def test_only_missing_values_in_a_kill_gap_are_lost_in_flight() -> None:
    emitted = [hr(t, 60 + t % 7) for t in range(100)]
    lost = {30, 47, 48}  # 30: a hole well before the kill; 47, 48: the unspooled tail
    stored = [hr(t + 0.3, 60 + t % 7) for t in range(100) if t not in lost and not 48 < t < 55]
    emitted = [e for e in emitted if not 48 < (e.time - T0).total_seconds() < 55]  # gateway down
    gaps = kill_gaps(stored, [(T0 + timedelta(seconds=49), {"WCH-1"})],
                     slack=timedelta(seconds=1), reach=timedelta(seconds=5))
    tally = reconcile(emitted, stored, phases=PHASES[:1],
                      in_flight=lambda item: "steady" if any(g.holds(item) for g in gaps)
                      else None)["steady"]
    assert (tally.lost, tally.lost_in_flight, tally.doubled) == (1, 2, 0)


def test_values_after_a_restart_are_not_taken_for_copies_of_those_before_the_kill() -> None:
    # Seen in a chaos run: 60 60 60 60 59 sent up to the kill (the last three never
    # spooled), then 60 60 60 59 after the restart, four minutes later. A value diff alone
    # pairs the stored post-restart 60s with the pre-kill ones and calls two of the
    # post-restart values lost; they are the stored ones, stamped within seconds of them.
    before = [(0, 60), (1, 60), (2, 60), (3, 60), (4, 59)]
    after = [(240, 60), (241, 60), (242, 60), (243, 59)]
    emitted = [hr(t, v) for t, v in before + after]
    stored = [hr(t + 0.3, v) for t, v in before[:2] + after]
    gaps = kill_gaps(stored, [(T0 + timedelta(seconds=4.5), {"WCH-1"})],
                     slack=timedelta(seconds=1), reach=timedelta(seconds=5))
    tally = reconcile(emitted, stored, phases=PHASES[:1], late_s=2.0,
                      in_flight=lambda item: "steady" if any(g.holds(item) for g in gaps)
                      else None)["steady"]
    assert (tally.lost, tally.lost_in_flight, tally.doubled) == (0, 3, 0)
