"""The alert state machine and its outbox (fleetctl.health.alerts) on a real SQLite file.

Every run has an explicit time (runs a minute apart, as cron makes them), so each transition
is asserted at the run where it must happen and the run before it. Notices are read back
through the outbox, the way the sender sees them. The CLI (`fleetctl alerts ...`) is run in a
subprocess with the parser wired exactly as cli.py wires it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fleetctl.health.alerts import (
    NO_LONGER_CHECKED,
    AlertStore,
    Observation,
    backoff_s,
)
from fleetctl.state.db import HistoryError
from fleetctl.state.schema import MIGRATIONS, SCHEMA_VERSION
from fleetctl.state.stakes import HistoryStore
from fleetctl.spec.model import AlertPolicy

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0
HOUR = 3600.0


def ob(target: str = "eth-geth-1", level: object = "CRITICAL", kind: str = "execution",
       message: str = "head 12 blocks behind", **labels: str) -> Observation:
    return Observation(target, kind, level, message, labels or {"chain": "eth"})


class Runs:
    """A store and a cron clock: each run starts a minute after the previous one."""

    def __init__(self, path: Path, policy: AlertPolicy, start: float = T0) -> None:
        self.path = path
        self.store = AlertStore(path)
        self.policy = policy
        self.t = start

    def run(self, *observations: Observation, policy: AlertPolicy | None = None):
        self.t += 60
        return self.store.record_run(observations, policy or self.policy,
                                     run_started_at=self.t, now=self.t + 5)

    def until(self, t: float, *observations: Observation) -> list:
        """Run every minute up to ``t``; the notices enqueued on the way, with their run time."""
        got = []
        while self.t + 60 <= t:
            outcome = self.run(*observations)
            got.extend((self.t, n) for n in outcome.notifications)
        return got


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "fleetctl.db"


def statuses(outcome) -> list[tuple[str, str, str]]:
    return [(n.status, n.key, n.level) for n in outcome.notifications]


# ----------------------------------------------------------------------------- lifecycle


def test_pending_then_fires_once_on_the_third_run(db):
    runs = Runs(db, AlertPolicy(after=3, renotify_s=4 * HOUR))
    first = runs.run(ob())
    assert first.applied and first.notifications == ()
    assert [(a.key, a.state, a.runs) for a in first.pending] == [("execution/eth-geth-1", "pending", 1)]
    second = runs.run(ob())
    assert second.notifications == () and second.pending[0].runs == 2 and second.firing == ()
    third = runs.run(ob())
    assert statuses(third) == [("firing", "execution/eth-geth-1", "CRITICAL")]
    notice = third.notifications[0]
    assert notice.repeat == 0 and notice.previous_level is None
    assert notice.message == "head 12 blocks behind" and dict(notice.labels) == {"chain": "eth"}
    assert notice.started_at == T0 + 60  # first seen at the first run
    assert [a.key for a in third.firing] == ["execution/eth-geth-1"]
    for _ in range(20):
        assert runs.run(ob()).notifications == ()  # fires once
    (alert,) = runs.store.list()
    assert (alert.state, alert.runs, alert.notifications) == ("firing", 23, 1)


def test_after_one_fires_on_the_first_run(db):
    runs = Runs(db, AlertPolicy(after=1))
    assert statuses(runs.run(ob())) == [("firing", "execution/eth-geth-1", "CRITICAL")]


def test_renotify_at_the_interval_and_not_before(db):
    runs = Runs(db, AlertPolicy(after=1, renotify_s=HOUR))
    fired = runs.run(ob())
    fired_at = fired.notifications[0].created_at
    # every minute for the next 3 hours: a notice exactly when an hour has passed since the last
    got = runs.until(runs.t + 3 * HOUR, ob())
    assert [n.repeat for _, n in got] == [1, 2, 3]
    times = [n.created_at for _, n in got]
    assert times[0] - fired_at == HOUR and times[1] - times[0] == HOUR
    assert all(n.status == "firing" and n.previous_level == "CRITICAL" for _, n in got)
    assert not any(n.escalated for _, n in got)


def test_renotify_zero_means_never(db):
    runs = Runs(db, AlertPolicy(after=1, renotify_s=0))
    assert len(runs.run(ob()).notifications) == 1
    assert runs.until(runs.t + 24 * HOUR, ob()) == []


def test_escalation_notifies_at_once_deescalation_waits_for_the_renotify(db):
    runs = Runs(db, AlertPolicy(after=2, renotify_s=HOUR))
    runs.run(ob(level="WARNING", message="lag 4"))
    assert statuses(runs.run(ob(level="WARNING", message="lag 4"))) == [
        ("firing", "execution/eth-geth-1", "WARNING")]
    assert runs.run(ob(level="WARNING", message="lag 5")).notifications == ()  # a new message alone
    up = runs.run(ob(level="CRITICAL", message="lag 12"))
    (notice,) = up.notifications
    assert (notice.level, notice.previous_level, notice.escalated, notice.repeat) == ("CRITICAL", "WARNING", True, 1)
    assert runs.run(ob(level="UNKNOWN", message="no answer")).notifications == ()  # down a step
    assert runs.run(ob(level="CRITICAL", message="lag 13")).notifications == ()  # not above CRITICAL
    assert runs.run(ob(level="WARNING", message="lag 4")).notifications == ()
    got = runs.until(up.notifications[0].created_at + HOUR + 60, ob(level="WARNING", message="lag 4"))
    assert [(n.level, n.previous_level, n.message) for _, n in got] == [("WARNING", "CRITICAL", "lag 4")]
    # after a re-notify at WARNING, CRITICAL is an escalation again
    assert statuses(runs.run(ob(level="CRITICAL"))) == [("firing", "execution/eth-geth-1", "CRITICAL")]


def test_resolved_once_with_the_clearing_message(db):
    runs = Runs(db, AlertPolicy(after=1))
    runs.run(ob())
    cleared = runs.run(ob(level="OK", message="head at the majority"))
    (notice,) = cleared.notifications
    assert (notice.status, notice.level, notice.previous_level) == ("resolved", "OK", "CRITICAL")
    assert notice.message == "head at the majority" and notice.repeat == 1
    assert [a.state for a in cleared.resolved] == ["resolved"] and cleared.firing == ()
    for _ in range(5):
        assert runs.run(ob(level="OK")).notifications == ()
    assert runs.store.list() == []
    (old,) = runs.store.list(include_resolved=True)
    assert old.state == "resolved" and old.resolved_message == "head at the majority"
    # a new problem is a new incident that counts from one
    again = runs.run(ob())
    assert statuses(again) == [("firing", "execution/eth-geth-1", "CRITICAL")]
    assert again.notifications[0].repeat == 0
    assert [a.state for a in runs.store.list(include_resolved=True)] == ["firing", "resolved"]


def test_the_clearing_message_is_cleaned_like_any_other(db):
    """A message below the alerting level is cleaned only when it is used: the one that resolves
    an open alert is (no secret of a URL, one line), in the notice and in the store."""
    runs = Runs(db, AlertPolicy(after=1))
    runs.run(ob())
    clearing = "back at https://user:hunter2@rpc.example/v1/abcdef0123456789abcdef?key=tok3n\n  and synced"
    (notice,) = runs.run(ob(level="ok", message=clearing), ob("other", level="OK", message="x\ny")).notifications
    assert notice.status == "resolved" and notice.level == "OK"
    for text in (notice.message, runs.store.list(include_resolved=True)[0].resolved_message):
        assert "hunter2" not in text and "tok3n" not in text and "abcdef0123456789" not in text
        assert "\n" not in text and text.startswith("back at https://***@rpc.example/") and text.endswith("and synced")
    with pytest.raises(ValueError, match="unknown level"):
        runs.run(ob(level="fine"))


def test_flap_resets_the_count_and_a_pending_alert_is_dropped_silently(db):
    runs = Runs(db, AlertPolicy(after=3))
    assert runs.run(ob()).notifications == ()
    assert runs.run(ob()).notifications == ()
    ok = runs.run(ob(level="OK"))
    assert ok.notifications == () and ok.pending == () and ok.resolved == ()
    assert runs.store.list(include_resolved=True) == []  # dropped, not kept as history
    assert runs.run(ob()).notifications == ()
    assert runs.run(ob()).notifications == ()
    assert runs.run(ob()).notifications[0].status == "firing"


def test_key_absent_from_a_run_resolves_as_no_longer_checked(db):
    runs = Runs(db, AlertPolicy(after=1))
    runs.run(ob("eth-geth-1"), ob("eth-erigon-1"))
    gone = runs.run(ob("eth-erigon-1"))
    (notice,) = gone.notifications
    assert (notice.status, notice.key, notice.message) == ("resolved", "execution/eth-geth-1", NO_LONGER_CHECKED)
    assert [a.key for a in runs.store.list()] == ["execution/eth-erigon-1"]


def test_several_observations_of_a_key_count_as_the_worst(db):
    runs = Runs(db, AlertPolicy(after=1))
    outcome = runs.run(ob(level="WARNING", message="peers 0"), ob(level="CRITICAL", message="lag 12"),
                       ob(level="OK", message="fine"))
    assert [(n.level, n.message) for n in outcome.notifications] == [("CRITICAL", "lag 12")]


def test_min_level_critical(db):
    runs = Runs(db, AlertPolicy(after=1, min_level="CRITICAL"))
    assert runs.run(ob(level="WARNING"), ob("b", level="UNKNOWN")).notifications == ()
    assert runs.store.list() == []
    assert statuses(runs.run(ob(level="CRITICAL"))) == [("firing", "execution/eth-geth-1", "CRITICAL")]
    down = runs.run(ob(level="WARNING", message="lag 4"))  # below min_level: cleared
    assert [(n.status, n.level, n.message) for n in down.notifications] == [("resolved", "WARNING", "lag 4")]
    # WARNING policy: UNKNOWN is a problem too
    runs2 = Runs(db.with_name("w.db"), AlertPolicy(after=1, min_level="WARNING"))
    assert len(runs2.run(ob(level="UNKNOWN")).notifications) == 1


def test_levels_accept_the_enum_and_refuse_nonsense(db):
    from fleetctl.core.levels import Level

    runs = Runs(db, AlertPolicy(after=1))
    assert statuses(runs.run(ob(level=Level.CRITICAL))) == [("firing", "execution/eth-geth-1", "CRITICAL")]
    with pytest.raises(ValueError, match="unknown level 'SEVERE'"):
        runs.run(ob(level="SEVERE"))
    with pytest.raises(ValueError, match="min_level"):
        runs.run(ob(), policy=AlertPolicy(min_level="OK"))


# ----------------------------------------------------------------------------- restarts, overlap


def test_restart_in_the_middle_continues_where_it_left_off(db):
    policy = AlertPolicy(after=3, renotify_s=HOUR)
    runs = Runs(db, policy)
    runs.run(ob())
    runs.run(ob())
    # the next run is another process: a new store object, and a real new interpreter
    t = runs.t + 60
    code = textwrap.dedent(f"""
        import json, sys
        from fleetctl.health.alerts import AlertStore, Observation
        from fleetctl.spec.model import AlertPolicy
        out = AlertStore({str(db)!r}).record_run(
            [Observation("eth-geth-1", "execution", "CRITICAL", "head 12 blocks behind", {{"chain": "eth"}})],
            AlertPolicy(after=3, renotify_s={HOUR}), run_started_at={t}, now={t + 5})
        print(json.dumps([[n.status, n.key, n.repeat] for n in out.notifications]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [["firing", "execution/eth-geth-1", 0]]
    runs2 = Runs(db, policy, start=t)  # and back in this process, with yet another object
    assert runs2.until(t + HOUR - 60, ob()) == []
    (renotify,) = [n for _, n in runs2.until(t + HOUR + 60, ob())]
    assert renotify.repeat == 1
    restarted = Runs(db, policy, start=runs2.t)
    assert statuses(restarted.run(ob(level="OK"))) == [("resolved", "execution/eth-geth-1", "OK")]


def test_stale_run_changes_nothing(db):
    runs = Runs(db, AlertPolicy(after=2))
    runs.run(ob())  # t0+60
    newer = runs.store.record_run([ob()], runs.policy, run_started_at=T0 + 180, now=T0 + 185)
    assert newer.applied and statuses(newer) == [("firing", "execution/eth-geth-1", "CRITICAL")]
    # a run that started before it (t0+120) and finished after it: stale
    stale = runs.store.record_run([ob(level="OK")], runs.policy, run_started_at=T0 + 120, now=T0 + 190)
    assert not stale.applied and "stale run" in stale.reason and stale.notifications == ()
    assert "not applied" in stale.summary()
    (alert,) = runs.store.list()
    assert (alert.state, alert.runs, alert.level) == ("firing", 2, "CRITICAL")


def test_runs_that_started_together_count_once(db):
    store = AlertStore(db)
    policy = AlertPolicy(after=2)
    for _ in range(3):  # three overlapping processes of the same cron minute
        outcome = store.record_run([ob()], policy, run_started_at=T0, now=T0 + 1)
        assert outcome.applied and outcome.notifications == ()
    assert store.list()[0].runs == 1
    assert len(store.record_run([ob()], policy, run_started_at=T0 + 60, now=T0 + 61).notifications) == 1
    assert store.record_run([ob()], policy, run_started_at=T0 + 60, now=T0 + 62).notifications == ()


# ----------------------------------------------------------------------------- mutes and acks


def test_mute_holds_notices_back_then_notifies_after_it_ends(db):
    runs = Runs(db, AlertPolicy(after=1, renotify_s=HOUR))
    runs.run(ob(level="WARNING"))
    silence = runs.store.mute("execution/eth-*", until=runs.t + 2 * HOUR, reason="maintenance", now=runs.t)
    assert silence.matches == ("execution/eth-geth-1",) and silence.reason == "maintenance"
    assert runs.store.list(now=runs.t)[0].muted_until == runs.t + 2 * HOUR
    end = silence.until
    # escalation and re-notify due inside the mute: held back
    held = runs.until(end - 60, ob(level="CRITICAL"))
    assert held == []
    after = runs.run(ob(level="CRITICAL"))
    assert runs.t + 5 > end
    (notice,) = after.notifications
    assert (notice.level, notice.previous_level, notice.escalated) == ("CRITICAL", "WARNING", True)
    assert runs.run(ob(level="CRITICAL")).notifications == ()  # once


def test_mute_by_target_and_a_reminder_when_it_ends(db):
    runs = Runs(db, AlertPolicy(after=1, renotify_s=4 * HOUR))
    runs.run(ob())
    end = runs.store.mute("eth-geth-1", until=runs.t + 600, now=runs.t).until  # the target, not the key
    outcome = runs.run(ob())
    assert outcome.held == ("execution/eth-geth-1",)
    assert runs.until(end - 60, ob()) == []  # the last run inside the mute (its now is end - 55)
    (reminder,) = [n for _, n in runs.until(end + 60, ob())]  # nothing new, but it still fires
    assert reminder.repeat == 1 and not reminder.escalated


def test_an_alert_that_fires_under_a_mute_is_notified_when_the_mute_ends(db):
    runs = Runs(db, AlertPolicy(after=1))
    runs.store.mute("execution/*", until=runs.t + 300, now=runs.t)
    assert runs.run(ob()).notifications == ()
    assert runs.run(ob()).notifications == ()
    got = runs.until(runs.t + 300, ob())
    assert [(n.status, n.repeat) for _, n in got] == [("firing", 0)]


def test_a_mute_never_loses_the_resolved_notice(db):
    runs = Runs(db, AlertPolicy(after=1))
    runs.run(ob())  # notified
    runs.store.mute("*", until=runs.t + 3 * HOUR, now=runs.t)
    assert statuses(runs.run(ob(level="OK"))) == [("resolved", "execution/eth-geth-1", "OK")]
    # fired and cleared entirely under the mute: nothing at all
    assert runs.run(ob("eth-nethermind-1")).notifications == ()
    assert runs.run(ob("eth-nethermind-1", level="OK")).notifications == ()


def test_unmute_by_id_by_pattern_and_star(db):
    runs = Runs(db, AlertPolicy(after=1, renotify_s=HOUR))
    a = runs.store.mute("execution/*", until=runs.t + HOUR, now=runs.t)
    b = runs.store.mute("stake/*", until=runs.t + HOUR, now=runs.t)
    runs.store.mute("host/*", until=runs.t + HOUR, now=runs.t)
    assert runs.store.unmute(str(a.id)) == 1
    assert runs.store.unmute(f"#{b.id}") == 1
    assert runs.store.unmute(f"#{b.id}") == 0
    assert [s.pattern for s in runs.store.silences(now=runs.t)] == ["host/*"]
    assert runs.store.unmute("host/*") == 1
    for p in ("x/*", "y/*"):
        runs.store.mute(p, until=runs.t + HOUR, now=runs.t)
    assert runs.store.unmute("*") == 2 and runs.store.silences(now=runs.t) == []
    # a held alert is notified at the first run after the unmute
    runs.run(ob())
    runs.store.mute("*", until=runs.t + 10 * HOUR, now=runs.t)
    assert runs.run(ob(level="CRITICAL")).notifications == ()
    assert runs.store.unmute("*") == 1
    assert len(runs.run(ob()).notifications) == 1
    with pytest.raises(ValueError):
        runs.store.mute("  ", until=runs.t + 60, now=runs.t)
    with pytest.raises(ValueError):
        runs.store.mute("x", until=runs.t - 60, now=runs.t)


def test_ack_stops_renotify_not_escalation_and_ends(db):
    runs = Runs(db, AlertPolicy(after=2, renotify_s=HOUR))
    runs.run(ob(level="WARNING"), ob("eth-erigon-1"))
    fired = runs.run(ob(level="WARNING"), ob("eth-erigon-1"), ob("eth-nethermind-1"))
    assert len(fired.notifications) == 2
    acked = runs.store.ack("execution/eth-*", until=runs.t + 3 * HOUR, now=runs.t)
    assert [a.key for a in acked] == ["execution/eth-erigon-1", "execution/eth-geth-1"]  # firing only
    assert all(a.acked_until == runs.t + 3 * HOUR for a in acked)
    ack_end = runs.t + 3 * HOUR
    both = (ob(level="WARNING"), ob("eth-erigon-1"), ob("eth-nethermind-1"))
    got = runs.until(runs.t + 2 * HOUR, *both)
    # the un-acked, newer alert fired meanwhile and re-notifies; the acked ones stay quiet
    assert {n.key for _, n in got} == {"execution/eth-nethermind-1"}
    esc = runs.run(ob(level="CRITICAL"), ob("eth-erigon-1"), ob("eth-nethermind-1"))
    by_key = {n.key: n for n in esc.notifications}
    assert by_key["execution/eth-geth-1"].escalated and "execution/eth-erigon-1" not in by_key
    got = runs.until(ack_end + 120, ob(level="CRITICAL"), ob("eth-erigon-1"), ob("eth-nethermind-1"))
    keys = [n.key for t, n in got if t + 5 > ack_end]
    assert "execution/eth-erigon-1" in keys  # the ack ended: its re-notify is long overdue
    # unmute removes an ack
    runs.store.ack("eth-erigon-1", until=runs.t + 10 * HOUR, now=runs.t)
    assert runs.store.list(now=runs.t)[0].acked_until is not None
    assert runs.store.unmute("eth-erigon-1") == 1
    assert all(a.acked_until is None for a in runs.store.list(now=runs.t))


def test_ack_applies_to_one_incident_only(db):
    runs = Runs(db, AlertPolicy(after=1, renotify_s=HOUR))
    runs.run(ob())
    assert len(runs.store.ack("*", until=runs.t + 10 * HOUR, now=runs.t)) == 1
    runs.run(ob(level="OK"))
    runs.run(ob())  # a new incident
    got = runs.until(runs.t + HOUR + 60, ob())
    assert len(got) == 1 and got[0][1].repeat == 1
    assert runs.store.ack("nothing-*", until=runs.t + 60, now=runs.t) == []


# ----------------------------------------------------------------------------- events, outbox


def test_outbox_fans_out_claims_once_and_keeps_order_per_key(db):
    runs = Runs(db, AlertPolicy(after=1))
    store = runs.store
    runs.run(ob())
    store.enqueue_event("lab-h1/lb-eth", "remediation", "WARNING", "pulled eth-geth-1", {"host": "lab-h1"},
                        now=runs.t + 6)
    runs.run(ob(level="OK"))
    now = runs.t + 10
    claim = store.claim(["slack", "hook"], now=now)
    # per sink: the firing notice and the event; the resolved waits behind the firing one
    assert sorted((d.sink, d.notification.status) for d in claim.deliveries) == [
        ("hook", "event"), ("hook", "firing"), ("slack", "event"), ("slack", "firing")]
    assert all(d.attempts == 1 for d in claim.deliveries)
    assert store.claim(["slack", "hook"], now=now).deliveries == ()  # leased: nobody else gets them
    firing_ids = [d.outbox_id for d in claim.deliveries if d.notification.status == "firing"]
    event_ids = [d.outbox_id for d in claim.deliveries if d.notification.status == "event"]
    assert store.mark_delivered(claim.token, firing_ids + event_ids, now=now) == 4
    assert store.mark_delivered("someone-else", firing_ids, now=now) == 0
    nxt = store.claim(["slack", "hook"], now=now)
    assert sorted((d.sink, d.notification.status) for d in nxt.deliveries) == [
        ("hook", "resolved"), ("slack", "resolved")]
    # a sender killed before marking: the lease runs out and another run gets them
    assert store.claim(["slack", "hook"], now=now + 30).deliveries == ()
    again = store.claim(["slack", "hook"], now=now + 61)
    assert len(again.deliveries) == 2 and all(d.attempts == 2 for d in again.deliveries)
    assert store.mark_delivered(nxt.token, [d.outbox_id for d in nxt.deliveries]) == 0  # lease lost
    assert store.mark_delivered(again.token, [d.outbox_id for d in again.deliveries]) == 2
    assert store.queued() == {}


def test_release_backs_off_and_old_rows_are_dropped_and_counted(db):
    runs = Runs(db, AlertPolicy(after=1))
    runs.run(ob())
    now = runs.t + 10
    claim = runs.store.claim(["slack"], now=now)
    (row,) = claim.deliveries
    assert runs.store.release(claim.token, [row.outbox_id], "HTTP 500\nsecond line", now=now) == 1
    assert runs.store.claim(["slack"], now=now + backoff_s(1) - 1).deliveries == ()
    retry = runs.store.claim(["slack"], now=now + backoff_s(1))
    assert [d.attempts for d in retry.deliveries] == [2]
    runs.store.release(retry.token, [row.outbox_id], "HTTP 500", now=now + 30)
    assert backoff_s(2) == 60 and backoff_s(10) == 900
    # an untried row (delivery deadline) comes back at once, without counting an attempt
    third = runs.store.claim(["slack"], now=now + 30 + backoff_s(2))
    runs.store.release(third.token, [row.outbox_id], "deadline", now=now + 100, attempted=False)
    assert [d.attempts for d in runs.store.claim(["slack"], now=now + 100).deliveries] == [3]
    # 24 h later it is dropped and counted, once
    late = runs.store.claim(["slack"], now=now + 86400 + 200)
    assert late.deliveries == () and late.dropped == {"slack": 1}
    assert runs.store.claim(["slack"], now=now + 86400 + 300).dropped == {}
    assert runs.store.undeliverable(since=now) == {"slack": 1}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT last_error FROM outbox").fetchone()[0] == "deadline; not delivered within 24 h"


def test_rows_of_a_removed_sink_are_dropped_and_no_sinks_is_fine(db):
    runs = Runs(db, AlertPolicy(after=1))
    runs.run(ob())
    assert len(runs.store.claim(["old", "new"], now=runs.t + 10).deliveries) == 2
    runs.run(ob("b"))
    later = runs.store.claim(["new"], now=runs.t + 200)
    assert later.dropped == {"old": 1}
    assert [d.sink for d in later.deliveries] == ["new", "new"]
    runs.run(ob("c"))
    assert runs.store.claim([], now=runs.t + 300).deliveries == ()


def test_housekeeping_keeps_the_tables_small(db):
    runs = Runs(db, AlertPolicy(after=1))
    runs.run(ob())
    runs.run(ob(level="OK"))
    claim = runs.store.claim(["s"], now=runs.t + 10)
    runs.store.mark_delivered(claim.token, [d.outbox_id for d in claim.deliveries], now=runs.t + 10)
    claim = runs.store.claim(["s"], now=runs.t + 10)
    runs.store.mark_delivered(claim.token, [d.outbox_id for d in claim.deliveries], now=runs.t + 10)
    runs.store.mute("x", until=runs.t + 60, now=runs.t)
    runs.t += 8 * 86400
    runs.run(ob("other", level="OK"))
    with sqlite3.connect(db) as conn:
        counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("alerts", "notifications", "outbox", "silences")]
    assert counts == [0, 0, 0, 0]


# ----------------------------------------------------------------------------- the file


def test_store_file_is_private_and_shared_with_the_stake_history(db):
    AlertStore(db).record_run([ob()], AlertPolicy(), run_started_at=T0)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert {"runs", "samples", "alerts", "silences", "notifications", "outbox", "remediations"} <= tables
    assert AlertStore(db.with_name("absent.db")).list() == []  # reading never creates
    assert not db.with_name("absent.db").exists()


# The version 1 DDL as it shipped (written out here, not imported, so a change to the code
# cannot silently change what an existing file looks like).
V1_DDL = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL, protocol TEXT NOT NULL,
    url TEXT NOT NULL, height INTEGER, status TEXT NOT NULL, message TEXT);
CREATE TABLE samples (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
    address TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, chain_status TEXT,
    jailed INTEGER NOT NULL, stake_upokt INTEGER, min_stake_upokt INTEGER, balance_upokt INTEGER,
    slashed_upokt INTEGER, reasons TEXT NOT NULL);
CREATE INDEX samples_by_address ON samples(address, id);
INSERT INTO runs VALUES (1, '2025-01-01T00:00:00Z', 'shannon', 'http://127.0.0.1:1', 100, 'OK', NULL);
INSERT INTO samples VALUES (1, 1, 'pokt1old', 'sup-01', 'OK', 'staked', 0, 5000, 1000, 50, NULL, '[]');
PRAGMA user_version = 1;
"""


@pytest.mark.parametrize("opener", ["alerts", "history"])
def test_v1_file_is_upgraded_in_place_and_keeps_its_stake_history(tmp_path, opener):
    db = tmp_path / "fleetctl.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(V1_DDL)
    os.chmod(db, 0o600)
    if opener == "alerts":
        assert AlertStore(db).list() == []  # even a read upgrades
    else:
        assert len(HistoryStore(db).trend("pokt1old").samples) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT address, stake_upokt FROM samples").fetchall() == [("pokt1old", 5000)]
        assert conn.execute("SELECT status FROM runs").fetchall() == [("OK",)]
        conn.execute("INSERT INTO remediations (host, balancer, server, reason, pulled_at) "
                     "VALUES ('lab-h1', 'lb-eth', 'eth-geth-1', 'DIVERGED', '2025-01-01T00:00:00Z')")
    trend = HistoryStore(db).trend("pokt1old")
    assert trend.samples[0].record.stake_upokt == 5000
    assert AlertStore(db).record_run([ob()], AlertPolicy(after=1), run_started_at=T0).notifications


def test_ten_processes_upgrading_one_v1_file_together(tmp_path):
    """Cron runs of a freshly upgraded fleetctl race to migrate the same file: each waits its
    turn (SQLite answers "locked" at once to a journal-mode switch: the store retries it)."""
    import time

    db = tmp_path / "fleetctl.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(V1_DDL)
        conn.execute("PRAGMA journal_mode = DELETE")  # as if never opened in WAL mode
    go = time.time() + 2.0
    code = textwrap.dedent(f"""
        import time
        from fleetctl.health.alerts import AlertStore
        while time.time() < {go}:
            time.sleep(0.0005)
        print(len(AlertStore({str(db)!r}).list()))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(10)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "0", err
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 1


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_opening_while_another_run_writes_waits_instead_of_failing(tmp_path, journal):
    """SQLite refuses a journal-mode switch at once ("database is locked", no busy wait) while
    another connection writes, even on a file already in WAL mode: opening must not switch
    needlessly, and must wait for its turn when it does."""
    import threading
    import time

    db = tmp_path / "fleetctl.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(V1_DDL)
    if journal == "wal":
        AlertStore(db).list()  # upgraded, in WAL mode
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO runs (checked_at, protocol, url, status) VALUES ('t', 'shannon', 'u', 'OK')")
    result: dict[str, object] = {}

    def other_run() -> None:
        try:
            result["outcome"] = AlertStore(db).record_run([ob()], AlertPolicy(after=1), run_started_at=T0)
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=other_run)
    started = time.monotonic()
    thread.start()
    time.sleep(0.5)
    writer.execute("COMMIT")
    writer.close()
    thread.join(30)
    assert "error" not in result, result
    assert time.monotonic() - started >= 0.5 and len(result["outcome"].notifications) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_failed_upgrade_leaves_the_file_at_version_1(tmp_path, monkeypatch):
    from fleetctl.state import schema as history

    db = tmp_path / "fleetctl.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(V1_DDL)
    broken = (history.MIGRATIONS[0], (*history.MIGRATIONS[1][:3], "CREATE TABLE oops (", ))
    monkeypatch.setattr(history, "MIGRATIONS", broken)
    with pytest.raises(HistoryError):
        AlertStore(db).list()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "alerts" not in names and "alert_meta" not in names
        assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 1


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="schema version 99 is newer"):
        AlertStore(db).list()


# ----------------------------------------------------------------------------- the CLI

# `fleetctl alerts ...` through the entry point (the command is fleetctl/commands/alerts.py).
CLI = textwrap.dedent("""
    import sys
    from fleetctl.cli import main
    try:
        rc = main(sys.argv[1:])
    finally:
        heavy = sorted(m for m in ("aiohttp", "docker", "paramiko", "textual") if m in sys.modules)
        sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
    sys.exit(rc)
""")


def alerts_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}
    full.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})})
    proc = subprocess.run([sys.executable, "-c", CLI, "alerts", *args], capture_output=True,
                          text=True, env=full, timeout=60, cwd="/")
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and lines[-1] == "HEAVY=", proc.stderr  # never aiohttp for these commands
    proc.stderr = "\n".join(lines[:-1])
    return proc


def test_cli_list_mute_ack_unmute(tmp_path):
    db = tmp_path / "cli.db"
    empty = alerts_cli("list", "--db", str(db))
    assert empty.returncode == 0 and empty.stdout.strip() == "no alerts" and not db.exists()
    import time

    now = time.time()
    store = AlertStore(db)
    store.record_run([ob(), ob("eth-erigon-1", level="WARNING")], AlertPolicy(after=1),
                     run_started_at=now - 120, now=now - 120)
    store.record_run([ob(), ob("eth-erigon-1", level="WARNING"), ob("pokt1abc", kind="stake")],
                     AlertPolicy(after=2), run_started_at=now - 60, now=now - 60)
    table = alerts_cli("list", "--db", str(db))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["KEY", "LEVEL", "STATE", "SINCE"]
    assert [line.split()[0] for line in lines[1:]] == [
        "execution/eth-erigon-1", "execution/eth-geth-1", "stake/pokt1abc"]
    assert "firing" in lines[2] and "pending" in lines[3] and "1x, last" in lines[2]

    muted = alerts_cli("mute", "execution/eth-g*", "--for", "2h", "--reason", "upgrade", "--db", str(db))
    assert muted.returncode == 0, muted.stderr
    assert muted.stdout.startswith("muted execution/eth-g* until ") and "execution/eth-geth-1" in muted.stdout
    acked = alerts_cli("ack", "eth-erigon-1", "--db", str(db), "-o", "json")
    assert acked.returncode == 0, acked.stderr
    doc = json.loads(acked.stdout)
    assert [a["key"] for a in doc["acked"]] == ["execution/eth-erigon-1"]
    listed = json.loads(alerts_cli("list", "--db", str(db), "-o", "json").stdout)
    by_key = {a["key"]: a for a in listed["alerts"]}
    assert by_key["execution/eth-geth-1"]["muted_until"] and by_key["execution/eth-erigon-1"]["acked_until"]
    assert [s["pattern"] for s in listed["silences"]] == ["execution/eth-g*"]
    assert listed["silences"][0]["reason"] == "upgrade"
    text = alerts_cli("list", "--db", str(db)).stdout
    assert "muted until" in text and "acked until" in text and "silence #1: execution/eth-g*" in text

    assert alerts_cli("unmute", "1", "--db", str(db)).returncode == 0
    assert alerts_cli("unmute", "eth-erigon-1", "--db", str(db)).returncode == 0
    listed = json.loads(alerts_cli("list", "--db", str(db), "-o", "json").stdout)
    assert listed["silences"] == [] and not any(a["acked_until"] or a["muted_until"] for a in listed["alerts"])
    store.record_run([], AlertPolicy(), run_started_at=now, now=now)
    assert json.loads(alerts_cli("list", "--all", "--db", str(db), "-o", "json").stdout)["alerts"][0]["state"] == "resolved"


@pytest.mark.parametrize("args, message", [
    (("mute", "x", "--for", "soon"), "fleetctl: --for: 'soon' is not a duration"),
    (("mute", "x", "--for", "0s"), "fleetctl: --for: '0s' is not a duration"),
    (("ack", "x", "--for=-5m"), "fleetctl: --for: '-5m' is not a duration"),
    (("ack", "x", "--for", "3650.5d"), "fleetctl: --for: '3650.5d' is not a duration"),
    (("mute", " ", "--for", "1h"), "fleetctl: PATTERN: empty"),
    (("ack", "nothing-fires"), "fleetctl: ack: no firing alert matches 'nothing-fires'"),
    (("unmute", "nothing"), "fleetctl: unmute: no silence or ack matches 'nothing'"),
    ((), "fleetctl: alerts: say list, mute, ack or unmute"),
])
def test_cli_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    extra = ("--db", str(tmp_path / "m.db")) if args else ()
    proc = alerts_cli(*args, *extra)
    assert proc.returncode == 2, proc
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(message), proc.stderr


def test_cli_needs_an_inventory_or_db_and_uses_the_inventorys_store(tmp_path):
    proc = alerts_cli("list")
    assert proc.returncode == 2 and proc.stderr == (
        "fleetctl: alerts: no inventory and no --db: pass -i PATH, set FLEETCTL_INVENTORY, or pass --db PATH")
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (inv / "fleet.yml").write_text(
        "pocket: {rest_url: 'http://127.0.0.1:9'}\nchains:\n  eth: {clients: [geth], replicas: 1}\n"
        "suppliers: []\nstake: {history_db: state/here.db}\n")
    proc = alerts_cli("mute", "x", "--for", "90s", "-i", str(inv))
    assert proc.returncode == 0, proc.stderr
    assert (inv / "state" / "here.db").exists()
    (inv / "fleet.yml").write_text("pocket: {rest_url: nope}\n")
    bad = alerts_cli("list", "-i", str(inv))
    assert bad.returncode == 2 and "pocket.rest_url" in bad.stderr


def test_cli_store_errors_are_one_line(tmp_path):
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    proc = alerts_cli("list", "--db", str(db))
    assert proc.returncode == 1 and proc.stderr.startswith("fleetctl: alerts: ") and "newer" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_the_alerts_job_previews_what_a_mute_would_match_with_the_stores_rule(db):
    """workflows.alerts.matching (the job's side-effect-free preview) matches exactly what
    mute then silences: by key or by target, open alerts only, nothing written."""
    from fleetctl.workflows import alerts as job

    runs = Runs(db, AlertPolicy())
    runs.run(ob("eth-geth-1"), ob("eth-neth-1"), ob("cl-teku", kind="consensus"))
    before = db.read_bytes()
    previewed = job.matching(db, "eth-*", now=runs.t + 10)
    assert sorted(a.target for a in previewed) == ["eth-geth-1", "eth-neth-1"]
    assert db.read_bytes() == before  # a preview writes nothing
    by_key = job.matching(db, previewed[0].key, now=runs.t + 10)
    assert [a.key for a in by_key] == [previewed[0].key]
    silence = job.mute(db, "eth-*", 3600, "maintenance", now=runs.t + 10)
    assert sorted(silence.matches) == sorted(a.key for a in previewed)


def test_a_health_check_is_recorded_as_its_observation_would_be(tmp_path):
    """The health sweep hands its checks to the store as they are (no Observation copy of each):
    a Level is read by its name and the message cleaned, the same alerts and notices as from the
    equivalent Observations."""
    from fleetctl.core.levels import Level
    from fleetctl.health.report import Check

    policy = AlertPolicy(after=1)
    message = "behind: see https://u:pw@rpc.example/k3y1234567890abcdef?token=t0ken\n  now"
    checks = [Check("eth-geth-1", "execution", Level.CRITICAL, message, {}, (), {"chain": "eth"}),
              Check("eth-erigon-1", "execution", Level.OK, "fine", {}, (), {"chain": "eth"})]
    observations = [ob(c.target, c.level.name, message=c.message) for c in checks]
    got = []
    for name, items in (("checks", checks), ("observations", observations)):
        runs = Runs(tmp_path / f"{name}.db", policy)
        first = runs.run(*items)
        cleared = runs.run(*[(Check(c.target, c.kind, Level.OK, "caught up", {}, (), c.labels) if name == "checks"
                              else ob(c.target, "OK", message="caught up")) for c in items])
        got.append([(n.status, n.key, n.level, n.message) for n in first.notifications + cleared.notifications])
    assert got[0] == got[1] and len(got[0]) == 2
    assert "pw" not in got[0][0][3] and "t0ken" not in got[0][0][3] and "\n" not in got[0][0][3]
    assert got[0][1][:3] == ("resolved", "execution/eth-geth-1", "OK") and got[0][1][3] == "caught up"
