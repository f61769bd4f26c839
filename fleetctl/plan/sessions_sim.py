"""Session planning: the what-if table ``fleetctl scale`` prints and the Monte Carlo of session wins.

Built on the protocol math of :mod:`fleetctl.pocket.sessions` (the exact odds, the reward
formulas, the selection algorithms byte for byte as the chain runs them):

* :func:`what_if` / :func:`pick`: the table ``fleetctl scale --what-if`` prints, for
  ``m = current … current+extra`` identities (each new identity joins ``N`` as well), and how
  many identities to run for a target share, a number to add or a budget;
  :func:`observed_relays_per_session`: the relays per session the table uses (the fleet's own
  claims, else :data:`DEFAULT_RELAYS_PER_SESSION`).
* :func:`monte_carlo`: the share of sessions that include one of ours, drawn with the chain's
  algorithms over random block hashes and applications (it agrees with the exact formula).

Pure model: no SSH, no writes; the claims store is only read (:func:`observed_relays_per_session`).
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from collections.abc import Collection, Iterator, Sequence
from dataclasses import field
from fractions import Fraction
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.pocket.sessions import (
    DEFAULTS,
    Protocol,
    Rational,
    _check_nkm,
    _count,
    _log_q,
    _no_session,
    _rational,
    morse_session_nodes,
    p_at_least_one,
    sessions_per_day,
    shannon_session_suppliers,
)
from fleetctl.spec.address import bech32_encode

__all__ = ["DEFAULT_RELAYS_PER_SESSION", "WhatIf", "monte_carlo", "observed_relays_per_session", "pick", "what_if"]

_sha3_256 = hashlib.sha3_256


# --------------------------------------------------------------------------- what-if


@record
class WhatIf:
    """The what-if table: one row per ``m`` (see :func:`what_if` for the columns)."""

    protocol: str
    service: str
    N: int
    K: int
    current: int
    extra: int
    apps: int
    sessions_per_day_per_app: Fraction
    relays_per_session: Fraction
    upokt_per_relay: Fraction
    stake_per_supplier_upokt: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def others(self) -> int:
        """Eligible identities that are not ours (constant while we add ours)."""
        return self.N - self.current

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "service": self.service,
            "N": self.N,
            "K": self.K,
            "current": self.current,
            "apps": self.apps,
            "sessions_per_day_per_app": _fraction_text(self.sessions_per_day_per_app),
            "relays_per_session": _fraction_text(self.relays_per_session),
            "upokt_per_relay": _fraction_text(self.upokt_per_relay),
            "stake_per_supplier_upokt": self.stake_per_supplier_upokt,
            "rows": self.rows,
        }


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(value)


#: Relays one supplier serves in one session when the fleet's own claims show none (``scale``).
DEFAULT_RELAYS_PER_SESSION = 100.0


def observed_relays_per_session(store_path: Any, suppliers: Collection[str], service: str
                                ) -> tuple[float, str]:
    """(relays per session, where the figure comes from) for ``scale``: the average of the
    fleet's own claims of ``service`` (the claims store ``fleetctl claims`` and ``health`` fill,
    :func:`fleetctl.pocket.claims.observed_relays_per_session`: the relays each claim of the
    last 50 session ends counted, summed per supplier and session), else
    :data:`DEFAULT_RELAYS_PER_SESSION` with why."""
    from fleetctl.pocket.claims import observed_relays_per_session as observed
    from fleetctl.state.db import HistoryError

    why = "no claims of the fleet's suppliers for this service in the claims store yet"
    if suppliers and store_path is not None:
        try:
            value = observed(Path(store_path), suppliers, service=service)
        except (HistoryError, OSError) as exc:
            value, why = None, f"claims store unreadable ({str(exc)[:160]})"
        if value is not None and math.isfinite(value) and value >= 0:
            return float(value), f"observed: the fleet's own claims of {service} (claims store {store_path})"
    return DEFAULT_RELAYS_PER_SESSION, f"default: {why} (pass --relays-per-session R)"


def what_if(*, protocol: Protocol, service: str, N: int, K: int, current: int, extra: int,
            apps: int, relays_per_session: Rational,
            blocks_per_session: int | None = None, block_time_s: Rational | None = None,
            upokt_per_relay: Rational | None = None,
            stake_per_supplier_upokt: int | None = None) -> WhatIf:
    """Rows for ``m = current … current+extra`` of our identities among the service's ``N``.

    ``N`` counts every eligible identity now, ours (``current``) included; an identity we add
    joins the draw, so row ``m`` has ``N_m = N - current + m``. ``apps``: applications staked
    for the service (each has its own session every session period); ``relays_per_session``:
    relays one of our identities serves in a session it is in (observed). Unset inputs take
    the protocol's mainnet figures (:data:`DEFAULTS`): session length, block time, the
    supplier's upokt per relay (:meth:`ShannonRewardParams.upokt_per_relay`,
    :meth:`MorseRewardParams.upokt_per_relay`), the minimum stake.

    On Morse a row with ``N_m < K`` has no session at all (:func:`_no_session`): its share,
    expectation and rewards are 0.

    Each row: ``m``, ``N``; ``p_session`` (share of the service's sessions with >= 1 of ours);
    ``expected_per_session`` (ours per session, ``K*m/N_m``); ``sessions_per_day`` (``apps *
    sessions/day * p_session``: sessions that include one of ours); ``slots_per_day`` (``apps *
    sessions/day * expected_per_session``: claims per day); ``relays_per_day``;
    ``rewards_upokt_per_day`` (int, the floor of the exact expectation); ``stake_upokt``
    (stake locked for the ``m - current`` new identities); ``marginal_p`` and
    ``marginal_rewards_upokt_per_day``: what the next identity (``m+1``) would add.

    One pass: ``q_m = C(N-current, K)/C(N_m, K)`` satisfies ``q_m = q_{m-1} * (1 - K/N_m)``,
    so each row costs one ``log1p`` on top of the previous row's log-product.
    """
    if protocol not in DEFAULTS:
        raise ValueError(f"protocol must be shannon or morse, got {protocol!r}")
    defaults = DEFAULTS[protocol]
    _check_nkm(N, K, _count(current, "current"))
    _count(extra, "extra")
    _count(apps, "apps")
    blocks = defaults.num_blocks_per_session if blocks_per_session is None else blocks_per_session
    seconds = defaults.block_time_s if block_time_s is None else block_time_s
    per_app = sessions_per_day(blocks, seconds)
    relays = _rational(relays_per_session, "relays_per_session")
    rate = defaults.upokt_per_relay if upokt_per_relay is None else _rational(
        upokt_per_relay, "upokt_per_relay")
    stake = defaults.stake_per_supplier_upokt if stake_per_supplier_upokt is None else _count(
        stake_per_supplier_upokt, "stake_per_supplier_upokt")
    if relays < 0 or rate < 0:
        raise ValueError("relays_per_session and upokt_per_relay must be >= 0")

    result = WhatIf(protocol, service, N, K, current, extra, apps, per_app, relays, rate, stake)
    others = N - current
    day = apps * per_app                        # sessions per day over the service's apps
    day_f = float(day)
    relays_f = float(relays)
    money = day * relays * rate                 # upokt per day per expected slot
    money_num, money_den = money.numerator, money.denominator

    # Columns for m = current … current+extra+1 (the last one only feeds the marginals).
    last = current + extra + 1
    ps: list[float] = []
    es: list[float] = []
    rewards: list[int] = []
    log_q = _log_q(N, K, current)
    for m in range(current, last + 1):
        n_m = others + m
        if m > current and log_q != -math.inf:
            log_q += math.log1p(-K / n_m) if n_m > K else -math.inf
        if m == 0 or K == 0 or _no_session(protocol, n_m, K):
            p, e, reward = 0.0, 0.0, 0
        elif n_m <= K:
            p, e, reward = 1.0, float(m), money_num * m // money_den
        else:
            p = 1.0 if log_q == -math.inf else -math.expm1(log_q)
            e = K * m / n_m
            reward = money_num * K * m // (money_den * n_m)
        ps.append(p)
        es.append(e)
        rewards.append(reward)

    rows = result.rows
    for i in range(extra + 1):
        m = current + i
        p, e = ps[i], es[i]
        slots = day_f * e
        rows.append({
            "m": m,
            "N": others + m,
            "p_session": p,
            "expected_per_session": e,
            "sessions_per_day": day_f * p,
            "slots_per_day": slots,
            "relays_per_day": slots * relays_f,
            "rewards_upokt_per_day": rewards[i],
            "stake_upokt": i * stake,
            "marginal_p": ps[i + 1] - p,
            "marginal_rewards_upokt_per_day": rewards[i + 1] - rewards[i],
        })
    return result


def pick(what_if: WhatIf, *, target_share: float | None = None, add: int | None = None,
         budget_upokt: int | None = None) -> int:
    """How many identities (``m``, ours in total) to run; exactly one criterion:

    * ``target_share``: the smallest ``m >= current`` whose ``p_session`` reaches it (rows
      first, then beyond the table by bisection on the exact formula); ValueError if no
      ``m`` up to 10^9 more reaches it (e.g. a share of 1 while others outnumber ``K``);
    * ``add``: ``current + add``;
    * ``budget_upokt``: ``current`` plus as many identities as the budget stakes at
      ``stake_per_supplier_upokt`` each (transaction fees not counted).
    """
    given = [name for name, value in (("target_share", target_share), ("add", add),
                                      ("budget_upokt", budget_upokt)) if value is not None]
    if len(given) != 1:
        raise ValueError("pick needs exactly one of target_share, add, budget_upokt")
    current = what_if.current
    if add is not None:
        return current + _count(add, "add")
    if budget_upokt is not None:
        _count(budget_upokt, "budget_upokt")
        if what_if.stake_per_supplier_upokt <= 0:
            raise ValueError("stake_per_supplier_upokt must be > 0 to spend a budget")
        return current + budget_upokt // what_if.stake_per_supplier_upokt
    assert target_share is not None
    target = float(target_share)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target_share must be within [0, 1], got {target_share!r}")
    for row in what_if.rows:
        if row["p_session"] >= target:
            return int(row["m"])
    others, K = what_if.others, what_if.K

    def share(m: int) -> float:
        return p_at_least_one(others + m, K, m,
                              protocol="morse" if what_if.protocol == "morse" else "shannon")

    low = current + what_if.extra          # known short of the target
    high = max(low + 1, 2 * low)
    while share(high) < target:
        if high - current > 10**9:
            raise ValueError(f"no number of identities reaches a session share of {target}")
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if share(mid) >= target:
            high = mid
        else:
            low = mid
    return high


# --------------------------------------------------------------------------- Monte Carlo


def _mc_suppliers(N: int) -> list[str]:
    return [bech32_encode("pokt", hashlib.sha256(f"mc-supplier-{i}".encode()).digest()[:20])
            for i in range(N)]


def _mc_apps(count: int = 64) -> list[str]:
    return [bech32_encode("pokt", hashlib.sha256(f"mc-app-{i}".encode()).digest()[:20])
            for i in range(count)]


_MC_SERVICE = "anvil"
_MC_CHAIN = "0021"


def _shannon_draws(rng: random.Random, apps: Sequence[str], sessions: int
                   ) -> Iterator[tuple[bytes, str, int]]:
    for _ in range(sessions):
        yield rng.randbytes(32), apps[rng.randrange(len(apps))], rng.randrange(1, 1 << 40)


def _morse_draws(rng: random.Random, sessions: int) -> Iterator[tuple[str, str]]:
    for _ in range(sessions):
        yield rng.randbytes(32).hex(), rng.randbytes(32).hex()


def _mc_hits_reference(protocol: Protocol, N: int, K: int, m: int, sessions: int,
                       seed: int) -> int:
    """Sessions including one of ours, by calling the public algorithm per session (the
    straightforward way, and the reference the fast path is tested against)."""
    rng = random.Random(seed)
    if protocol == "shannon":
        candidates = _mc_suppliers(N)
        ours = set(candidates[:m])
        return sum(not ours.isdisjoint(shannon_session_suppliers(
            block_hash, _MC_SERVICE, app, start, candidates, K))
            for block_hash, app, start in _shannon_draws(rng, _mc_apps(), sessions))
    nodes = [hashlib.sha256(f"mc-node-{i}".encode()).hexdigest()[:40] for i in range(N)]
    ours = set(nodes[:m])
    return sum(not ours.isdisjoint(morse_session_nodes(pub_key, _MC_CHAIN, block_hash, nodes, K))
               for pub_key, block_hash in _morse_draws(rng, sessions))


def _mc_hits_shannon(N: int, K: int, m: int, sessions: int, seed: int) -> int:
    """Fast Shannon draw: same inputs and outcome as the reference, less Python per candidate.

    Per session: one SHA3 state over ``sessionIdBz ‖ "."`` copied per candidate (one update,
    one digest), the signed big-endian weights unpacked from the joined digests with one
    ``struct`` call, and a C sort; our best weight below the K-th smallest is in the session,
    above it is not, equal to it (and to no other weight) is the K-th; only a real 64-bit tie
    at the K-th place goes through the exact tie-break (:func:`shannon_session_suppliers`).
    """
    rng = random.Random(seed)
    candidates = _mc_suppliers(N)
    apps = _mc_apps()
    draws = _shannon_draws(rng, apps, sessions)
    if N <= K:      # the hydrator takes every candidate: ours are always in
        return sessions if m else 0
    if m == 0:
        return 0
    encoded = [c.encode() for c in candidates]
    unpack = struct.Struct(">" + "q24x" * N).unpack
    service, apps_b = _MC_SERVICE.encode(), {a: a.encode() for a in apps}
    sha3 = _sha3_256
    join = b"".join
    kth = K - 1
    hits = 0
    for block_hash, app, start in draws:
        base = sha3(join((block_hash, b".", service, b".", apps_b[app], b".",
                          start.to_bytes(8, "little"), b".")))
        copy = base.copy
        digests: list[bytes] = []
        append = digests.append
        for address in encoded:
            state = copy()
            state.update(address)
            append(state.digest())
        weights = unpack(join(digests))
        best = min(weights[:m])
        threshold = sorted(weights)[kth]
        if best < threshold:
            hits += 1
        elif best == threshold and weights.count(best) == 1:   # ours is the K-th itself
            hits += 1
        elif best == threshold:   # a 64-bit tie at the K-th place: decide exactly
            picked = shannon_session_suppliers(block_hash, _MC_SERVICE, app, start,
                                               candidates, K)
            hits += not set(candidates[:m]).isdisjoint(picked)
    return hits


def _mc_hits_morse(N: int, K: int, m: int, sessions: int, seed: int) -> int:
    """Fast Morse draw: the session key per session, then the index loop on integers (ours
    are nodes ``0 … m-1``; stop at the first of ours or at K distinct nodes)."""
    if N < K:
        raise ValueError(f"insufficient nodes: {N} for a session of {K}")
    rng = random.Random(seed)
    sha3 = _sha3_256
    from_bytes = int.from_bytes
    hits = 0
    for pub_key, block_hash in _morse_draws(rng, sessions):
        if m == 0:
            continue
        key = sha3(('{"app_pub_key":"' + pub_key + '","chain":"' + _MC_CHAIN
                    + '","blockchain":"' + block_hash + '"}').encode()).digest()
        seen: set[int] = set()
        while True:
            index = from_bytes(key[:8], "big") % N
            key = sha3(key).digest()
            if index in seen:
                continue
            if index < m:
                hits += 1
                break
            seen.add(index)
            if len(seen) == K:
                break
    return hits


def monte_carlo(protocol: Protocol, N: int, K: int, m: int, sessions: int, seed: int) -> float:
    """Share of ``sessions`` random sessions that include at least one of our ``m``.

    Each session is drawn with the real algorithm (:func:`shannon_session_suppliers` /
    :func:`morse_session_nodes`, via equivalent fast paths) over ``N`` candidate addresses,
    ours being ``m`` of them, with a random block hash and application (Shannon: one of 64
    application addresses and a random session start height; Morse: a random app public key),
    from ``random.Random(seed)``: the same seed gives the same answer. Compare with
    :func:`p_at_least_one`. Morse needs ``N >= K`` (the chain refuses smaller sessions).
    """
    if protocol not in ("shannon", "morse"):
        raise ValueError(f"protocol must be shannon or morse, got {protocol!r}")
    _check_nkm(N, K, m)
    _count(sessions, "sessions")
    if sessions == 0:
        raise ValueError("sessions must be > 0")
    if N == 0 or K == 0:
        return 0.0
    if protocol == "shannon":
        return _mc_hits_shannon(N, K, m, sessions, seed) / sessions
    return _mc_hits_morse(N, K, m, sessions, seed) / sessions
