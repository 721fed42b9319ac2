"""Sensing: who sees whom, resolved along every path at a fixed time resolution, whatever the tick.

Why this design: detection is a hazard -- a post, a patrol, a searching unit or the coalition's sensor
sees a moving group at a rate that falls with distance and cover (DOMAIN 4.7 item 1) -- and a group
can be seen anywhere on its way, not only where a time step ends. Positions are known at every moment
(movement plans, patrol sorties, villagers' schedules), so the process samples them on one absolute
grid of times ``k * dt``, with ``dt`` the time a walking group needs to cross one grid cell. A sample's
detection draw is keyed by (observer, group, k): the same draws whatever the batching, so the model's
``tick_hours`` -- the length of a lookahead batch -- changes the work, not the outcome.

The process looks ahead: from now to now + ``tick_hours`` it finds the first moment a security force
detects a group, and schedules that detection as a Mesa event at that moment. Villagers' sightings
before it are scheduled as events too (each may become a tip), and what the groups notice of the
forces (posts, patrols, units; for their threat memory) is kept and committed as time passes. Anything
that changes a plan (a group setting out or fleeing, a unit arriving, a sweep starting) calls
:meth:`Sensing.plans_changed`, which drops what was foreseen after now and looks ahead again; the keyed
draws make the second look see the same things wherever nothing changed.

What is seen at an instant is seen after everything else that happens at that instant: sightings and
detections are ``Priority.LOW`` events, like the lookahead itself. Mesa runs the events of one instant
by priority, then in order of creation, so these run after every other event of their instant, and
before the next lookahead (created after them). A lookahead creates its events at a moment that
depends on the batch length, so at ``Priority.DEFAULT`` a sighting at 06:00
could fire before or after a kidnapping at 06:00 (and see the village's fear before or after it)
depending on ``tick_hours``. Sample times are multiples of ``dt`` (1/14 h on the 250 m terrain),
which include every whole and half hour, so such ties are common, not rare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from mesa.time import Priority

from sim.model.clock import light_at
from sim.model.combat import engage
from sim.model.command import COALITION
from sim.model.memory import PATROL, POST, TRANSIENT
from sim.model.params import at_level
from sim.model.plans import CIVILIAN, LIE_UP
from sim.model.posture import JOINT
from sim.model.villagers import Sighting
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.insurgents import InsurgentCell
    from sim.model.model import SecurityGapModel

#: Observer kinds (for detections).
POSTS, PATROLS, SEARCH, SWEEP, ISR = range(5)
KIND_NAMES = ("post", "patrol", "search", "sweep", "isr")
_ISR_KEY = entity_key("isr_sensor")
#: Observer-sample pairs farther apart than this many of the observer's range are not drawn (their
#: kernel is below 1e-5). The cut is made per pair, so which pairs are drawn never depends on how the
#: samples were batched; the bounding-box filters below only skip observers the cut would drop anyway.
_REACH = 3.4


def _last_sample_at_or_before(t_h: float, dt_h: float) -> int:
    """The largest k with ``k * dt_h <= t_h`` as computed in floating point (the sample times are
    ``k * dt_h``): ``floor(t_h / dt_h)`` alone can be off by one at a sample time, which would let a
    look starting exactly at a sample see that sample again."""
    k = math.floor(t_h / dt_h)
    while k * dt_h > t_h:
        k -= 1
    while (k + 1) * dt_h <= t_h:
        k += 1
    return k


def _kernel(d_km: np.ndarray, range_km: np.ndarray | float) -> np.ndarray:
    """The distance kernel exp(-(d/r)^2), exactly 0 beyond ``_REACH`` ranges (see ``_REACH``)."""
    ratio = d_km / range_km
    k = ratio * ratio
    np.negative(k, out=k)
    np.exp(k, out=k)
    k[ratio >= _REACH] = 0.0
    return k


class Sensing:
    """The lookahead sensing process of one model (see the module docstring)."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        p = model.params
        self.dt = model.terrain.cell_km / p.fighter_speed_kmh
        self.window = p.tick_hours
        self._next = None
        self._window_end = -math.inf
        self._scheduled_now = False
        self._detection_event = None
        self._pending: tuple | None = None
        self._sightings: list = []  # (event, Sighting) scheduled by the last lookahead
        self._watch: list[tuple[float, int, np.ndarray, float, int, int]] = []
        self.last_detect: dict[tuple[int, int], float] = {}
        self.last_sight: dict[tuple[int, int], float] = {}
        self.last_watch: dict[tuple[int, int], float] = {}
        self.lookaheads = 0
        self.samples = 0

    # -- control --------------------------------------------------------------------------------
    def start(self) -> None:
        self.plans_changed()

    def plans_changed(self, from_t: float | None = None) -> None:
        """Something moves differently from what was foreseen, from ``from_t`` on (default: now):
        forget the future and look again -- unless the next look comes before the change matters."""
        if self._scheduled_now:
            return
        if self._detection_event is not None and self._pending[0] <= self.model.time:
            # A detection foreseen for this very moment is still to fire: it was found with where
            # everyone is now, which the change does not alter, and it looks again itself once it
            # has fired. Dropping it here would make the outcome depend on where the last look's
            # window happened to end (issue 13, tick invariance).
            return
        if from_t is not None:
            upcoming = [e.time for e in (self._next, self._detection_event) if e is not None and not e.CANCELED]
            if upcoming and from_t >= min(upcoming) and from_t >= self._window_end:
                return
        now = self.model.time
        self.sync()
        self._watch = []
        for event, sighting in self._sightings:
            if sighting.t > now or event.time > now:
                event.cancel()
                self.model.villagers.pending.discard(sighting)
        self._sightings = [(e, s) for e, s in self._sightings if not e.CANCELED and e.time >= now]
        if self._detection_event is not None:
            self._detection_event.cancel()
            self._detection_event = None
        if self._next is not None:
            self._next.cancel()
        self._next = self.model.schedule_event(self.lookahead, at=now, priority=Priority.LOW)
        self._scheduled_now = True

    def sync(self) -> None:
        """Commit what the groups noticed up to now into their memories."""
        now = self.model.time
        if not self._watch:
            return
        keep = []
        cells = self.model.cell_by_uid
        for entry in self._watch:
            t, uid, xy, weight, kind, okey = entry
            if t <= now:
                cell = cells.get(uid)
                if cell is not None and cell.alive:
                    cell.remember(xy, t, weight, kind)
                    self.last_watch[(cell.key, okey)] = t
            else:
                keep.append(entry)
        self._watch = keep

    # -- the lookahead ----------------------------------------------------------------------------
    def lookahead(self) -> None:
        self._scheduled_now = False
        self._next = None
        self.sync()
        model = self.model
        t0 = model.time
        t1 = t0 + self.window
        self._window_end = t1
        cells = model.cells()
        movers = [c for c in cells if c.alive and c.plan and c.plan.end > t0 and c.plan.start < t1]
        if not movers:
            later = [c.plan.start for c in cells if c.alive and c.plan and c.plan.start >= t1]
            self._window_end = min(later) if later else math.inf
            if later:
                # Nobody moves before the first departure: look again from the last sample before it,
                # so that the sample at the departure itself is examined -- as it is whenever a
                # regular window covers it. A look *at* the departure starts after its sample, which
                # made a detection at the moment a group set out depend on the tick (MODEL_VERSION 4).
                start = min(later)
                k = _last_sample_at_or_before(start, self.dt)
                if k * self.dt >= start:
                    k -= 1
                at = k * self.dt if k * self.dt > t0 else start
                self._next = model.schedule_event(self.lookahead, at=at, priority=Priority.LOW)
            return
        k0 = _last_sample_at_or_before(t0, self.dt) + 1
        k1 = _last_sample_at_or_before(t1, self.dt)
        if k1 < k0:
            self._next = model.schedule_event(self.lookahead, at=t1, priority=Priority.LOW)
            return
        ks = np.arange(k0, k1 + 1, dtype=np.int64)
        ts = ks * self.dt
        self.lookaheads += 1
        batch = _Batch(self, movers, ks, ts)
        if not batch.n:
            self._next = model.schedule_event(self.lookahead, at=t1, priority=Priority.LOW)
            return
        obs = _Observers(self, ts, batch)
        best = self._detect(batch, obs)
        t_cut = best[0] if best is not None else t1
        keep = batch.ts <= t_cut
        if model.on("informants"):
            self._sight(batch, obs, keep)
        if model.on("insurgent_learning"):
            self._notice(batch, obs, keep)
        if best is not None:
            self._pending = best
            self._detection_event = model.schedule_event(self.detected, at=best[0], priority=Priority.LOW)
        else:
            self._next = model.schedule_event(self.lookahead, at=t1, priority=Priority.LOW)

    def _detect(self, b: _Batch, obs: _Observers):
        """The first sample at which any security observer detects any group, or None."""
        model = self.model
        p = model.params
        self.samples += b.n
        m = obs.matrix()
        if m is None:
            return None
        haz = m.rate[:, None] * _kernel(m.d, m.rng) * b.open[None, :] * m.active
        prob = -np.expm1(-haz * self.dt)
        oi, si = np.nonzero(prob > 1e-6)
        if not len(oi):
            return None
        u = model.rand.uniform("sense", m.keys[oi], b.mkey[si], b.ks[si])
        hit = u < prob[oi, si]
        if not hit.any():
            return None
        oi, si = oi[hit], si[hit]
        for j in np.lexsort((oi, b.ts[si])):
            o, s = int(oi[j]), int(si[j])
            t = float(b.ts[s])
            cell = b.movers[b.mi[s]]
            if t < self.last_detect.get((int(m.keys[o]), cell.key), -1e18) + p.sense_refractory_h:
                continue
            return (t, cell, int(m.kind[o]), o, b.pts[s].copy(), m.where(o, s), int(m.force[o]),
                    int(m.keys[o]))
        return None

    def _sight(self, b: _Batch, obs: _Observers, keep: np.ndarray) -> None:
        """Villagers who notice a group before the cut: each sighting becomes an event."""
        model = self.model
        p = model.params
        sel = np.flatnonzero(keep)
        if not len(sel):
            return
        home, work, out, vidx = obs.villagers()
        if not len(vidx):
            return
        pts = b.pts[sel]
        at_work = out[:, b.si[sel]]  # (v, n): where each household is at each sample
        x = np.where(at_work, work[:, 0:1], home[:, 0:1])
        y = np.where(at_work, work[:, 1:2], home[:, 1:2])
        d = np.hypot(x - pts[None, :, 0], y - pts[None, :, 1])
        rng_km = np.where(b.light[sel], p.sight_range_day_km, p.sight_range_night_km)
        haz = p.see_rate_per_h * _kernel(d, rng_km[None, :]) * b.open_to_villagers[sel][None, :]
        prob = -np.expm1(-haz * self.dt)
        vi, sj = np.nonzero(prob > 1e-6)
        if not len(vi):
            return
        vkeys = model.villagers.keys[vidx[vi]]
        s_all = sel[sj]
        u = model.rand.uniform("sight", vkeys, b.mkey[s_all], b.ks[s_all])
        hit = np.flatnonzero(u < prob[vi, sj])
        first: dict[tuple[int, int], int] = {}
        for j in hit[np.argsort(b.ts[s_all[hit]], kind="stable")]:
            pair = (int(vidx[vi[j]]), int(b.mi[s_all[j]]))
            if pair in first:
                continue
            t = float(b.ts[s_all[j]])
            if t >= self.last_sight.get((pair[0], b.movers[pair[1]].key), -1e18) + p.sighting_refractory_h:
                first[pair] = int(s_all[j])
        for (v, m), s in sorted(first.items(), key=lambda kv: (b.ts[kv[1]], kv[0])):
            cell = b.movers[m]
            t = float(b.ts[s])
            key = int(model.rand.key("sight", int(model.villagers.keys[v]), cell.key, int(b.ks[s]), 1))
            sighting = Sighting(model, v, cell.unique_id, cell.cave, b.pts[s].copy(), t, key)
            model.villagers.pending.add(sighting)
            event = model.schedule_event(sighting.fire, at=t, priority=Priority.LOW)
            self._sightings.append((event, sighting))

    def record_sight(self, sighting: Sighting) -> None:
        """A sighting happened: the villager's refractory clock for that group starts."""
        cell = self.model.cell_by_uid.get(sighting.cell_uid)
        if cell is not None:
            self.last_sight[(sighting.villager, cell.key)] = sighting.t

    def _notice(self, b: _Batch, obs: _Observers, keep: np.ndarray) -> None:
        """What the groups notice of posts, patrols and units before the cut (threat memory)."""
        model = self.model
        p = model.params
        m = obs.matrix()
        sel = np.flatnonzero(keep)
        if m is None or not len(sel):
            return
        seen_by = np.flatnonzero(m.kind != ISR)  # a group cannot see the coalition's sensor
        rng_km = np.where(b.light[sel], p.sight_range_day_km, p.sight_range_night_km)
        d = m.d[np.ix_(seen_by, sel)]
        haz = p.watch_rate_per_h * _kernel(d, rng_km[None, :]) * m.active[np.ix_(seen_by, sel)]
        prob = -np.expm1(-haz * self.dt)
        oi, sj = np.nonzero(prob > 1e-4)
        if not len(oi):
            return
        oi = seen_by[oi]
        s_all = sel[sj]
        u = model.rand.uniform("watch", b.mkey[s_all], m.keys[oi], b.ks[s_all])
        hit = np.flatnonzero(u < prob[seen_by.searchsorted(oi), sj])
        first: dict[tuple[int, int], int] = {}
        for j in hit[np.argsort(b.ts[s_all[hit]], kind="stable")]:
            pair = (int(b.mi[s_all[j]]), int(oi[j]))
            if pair in first:
                continue
            t = float(b.ts[s_all[j]])
            if t >= self.last_watch.get((b.movers[pair[0]].key, int(m.keys[pair[1]])), -1e18) \
                    + p.sighting_refractory_h:
                first[pair] = int(j)
        for (mv, o), j in first.items():
            s = int(s_all[j])
            kind = int(m.kind[o])
            mem_kind = POST if kind == POSTS else (PATROL if kind == PATROLS else TRANSIENT)
            self._watch.append((float(b.ts[s]), b.movers[mv].unique_id, m.where(o, s), 1.0,
                                mem_kind, int(m.keys[o])))
        self._watch.sort(key=lambda e: e[0])

    # -- a detection happens ------------------------------------------------------------------
    def detected(self) -> None:
        """The foreseen first detection: the force learns, may engage, the group reacts."""
        self._detection_event = None
        model = self.model
        t, cell, kind, index, xy, oxy, force, okey = self._pending
        self.sync()
        if cell.alive:
            self.last_detect[(okey, cell.key)] = t
            model.recorder.detections += 1
            model.recorder.detected_by[KIND_NAMES[kind]] += 1
            if kind == ISR:
                model.isr.detected(cell, xy, entity_key(okey, cell.key, int(round(t / self.dt))))
            else:
                cell.seen(oxy, t)
                key = entity_key(okey, cell.key, int(round(t / self.dt)))
                model.command.sighting(force, cell.unique_id, xy, t, -1, key)
                if cell.alive:
                    self._maybe_engage(cell, force, xy, oxy, key)
        self.plans_changed()

    def _maybe_engage(self, cell: InsurgentCell, force: int, xy: np.ndarray, oxy: np.ndarray,
                      key: int) -> None:
        """Units (and posts) engage a group they see within range, on their own ground or across the
        line when coordination allows hot pursuit."""
        model = self.model
        p = model.params
        if not cell.alive or float(np.hypot(*(xy - oxy))) > p.engage_range_km:
            return
        if model.holder_at(xy) != force and force != JOINT:
            if not model.on("pursuit"):
                return
            if model.rand.uniform("combat", key, 9) >= at_level(list(p.cross_prob), model.posture.level):
                return
        engage(model, force, cell, xy)


class _Batch:
    """The exposed samples of every moving group in one lookahead, flattened."""

    def __init__(self, sensing: Sensing, movers: list, ks: np.ndarray, ts: np.ndarray) -> None:
        model = sensing.model
        p = model.params
        pts, mi, si, stance = [], [], [], []
        self.movers = []
        for cell in movers:
            xy, on, st = cell.plan.sample(ts)
            idx = np.flatnonzero(on)
            if not len(idx):
                continue
            m = len(self.movers)
            self.movers.append(cell)
            pts.append(xy[idx])
            si.append(idx)
            mi.append(np.full(len(idx), m))
            stance.append(st[idx])
        self.n = sum(len(x) for x in si)
        if not self.n:
            return
        self.pts = np.vstack(pts)
        self.si = np.concatenate(si)
        self.mi = np.concatenate(mi)
        st = np.concatenate(stance)
        self.ks = ks[self.si]
        self.ts = ts[self.si]
        self.light = np.asarray(light_at(self.ts), dtype=bool)
        self.mkey = np.array([c.key for c in self.movers], dtype=np.uint64)[self.mi]
        terrain_cover = model.cover_at(self.pts)
        cover = np.where(st == LIE_UP, np.maximum(terrain_cover, p.lying_up_cover), terrain_cover)
        # Fighters travelling as civilians (market trips, S15) pass posts and patrols as the people
        # they look like; only someone who knows them -- a villager -- can tell them apart.
        self.open = np.where(st == CIVILIAN, 0.0, 1.0 - cover)
        self.open_to_villagers = np.where(st == CIVILIAN, 1.0 - p.civilian_cover, 1.0 - cover)
        self.lo = self.pts.min(axis=0)
        self.hi = self.pts.max(axis=0)

    def near(self, xy: np.ndarray, margin_km: float) -> np.ndarray:
        """Which points (..., 2) lie within ``margin_km`` of the samples' bounding box. Margins are
        a fixed multiple of each observer kind's range (a kernel value below 1e-5 is left out), so
        the filter does not depend on how the samples were batched."""
        lo, hi = self.lo - margin_km, self.hi + margin_km
        x, y = xy[..., 0], xy[..., 1]
        return (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])


@dataclass
class _Matrix:
    """Security observers (o) against the batch's samples (n)."""

    kind: np.ndarray  # (o,)
    keys: np.ndarray  # (o,) entity keys
    force: np.ndarray  # (o,)
    static_xy: np.ndarray  # (o, 2) where a fixed observer is (NaN for patrols)
    moving: dict[int, np.ndarray]  # observer row -> (n, 2) positions of a patrol
    rng: np.ndarray  # (o, n) detection range
    rate: np.ndarray  # (o,) detection hazard at zero distance
    active: np.ndarray  # (o, n) 1 where the observer is out
    d: np.ndarray  # (o, n) distance to the sample's group, km

    def where(self, o: int, s: int) -> np.ndarray:
        """Where observer o was at sample s."""
        track = self.moving.get(o)
        return (track[s] if track is not None else self.static_xy[o]).copy()


class _Observers:
    """The security observers and villagers at one lookahead's samples (computed once)."""

    def __init__(self, sensing: Sensing, ts: np.ndarray, batch: _Batch) -> None:
        self.model = model = sensing.model
        self.ts = ts
        self.b = batch
        p = model.params
        post = model.posture
        max_range = max(p.detect_range_day_km, p.detect_range_night_km, p.detect_range_thermal_km,
                        p.sight_range_day_km, p.sight_range_night_km) \
            * (float(post.post_gain.max()) if len(post.post_gain) else 1.0)
        sel = np.flatnonzero(batch.near(post.post_xy_km, _REACH * max_range))
        self.post_sel = sel
        day_r = p.detect_range_day_km * post.post_gain[sel]
        night_r = np.where(post.post_thermal[sel], p.detect_range_thermal_km, p.detect_range_night_km) \
            * post.post_gain[sel]
        self.post_range = np.where(batch.light[None, :], day_r[:, None], night_r[:, None])
        self._matrix: _Matrix | None | bool = False

    def matrix(self) -> _Matrix | None:
        """Every security observer against every sample of the batch (computed once per look):
        ranges and rates, activity, and the distance matrix. Static observers (posts, units on a
        site, sweeps, the sensor's footprint) are one point each; patrols move."""
        if self._matrix is not False:
            return self._matrix
        model = self.model
        p = model.params
        b = self.b
        n = b.n
        post = model.posture
        sel = self.post_sel
        kind, keys, force, rate, rng, active, d, static_xy = [], [], [], [], [], [], [], []
        moving: dict[int, np.ndarray] = {}  # observer row -> (n, 2) positions (patrols)

        def add_static(k: int, kk, ff, xy: np.ndarray, rr, ra, act) -> None:
            kind.append(np.full(len(kk), k))
            keys.append(kk)
            force.append(ff)
            rate.append(ra)
            rng.append(np.broadcast_to(rr, (len(kk), n)))
            active.append(np.ones((len(kk), n)) if act is None else act)
            d.append(np.hypot(xy[:, None, 0] - b.pts[None, :, 0], xy[:, None, 1] - b.pts[None, :, 1]))
            static_xy.append(xy)

        if len(sel):
            add_static(POSTS, post.post_key[sel], post.post_force[sel].astype(np.int64), post.post_xy_km[sel],
                       self.post_range, np.full(len(sel), p.detect_rate_per_h), None)
        if model.forces.patrols:
            pxy, pout, pforce, pkeys = model.forces.observers(self.ts)
            if len(pkeys):
                sub = pxy[:, b.si]
                act = pout[:, b.si]
                reach = _REACH * max(p.detect_range_day_km, p.detect_range_night_km, p.sight_range_day_km,
                                     p.sight_range_night_km)
                j = np.flatnonzero(np.any(b.near(sub, reach) & act, axis=1))
                if len(j):
                    row0 = sum(len(k) for k in keys)
                    for r, jj in enumerate(j):
                        moving[row0 + r] = sub[jj]
                    kind.append(np.full(len(j), PATROLS))
                    keys.append(pkeys[j])
                    force.append(pforce[j])
                    rate.append(np.full(len(j), p.detect_rate_per_h))
                    rng.append(np.broadcast_to(np.where(b.light, p.detect_range_day_km, p.detect_range_night_km),
                                               (len(j), n)))
                    active.append(act[j].astype(float))
                    d.append(np.hypot(sub[j, :, 0] - b.pts[None, :, 0], sub[j, :, 1] - b.pts[None, :, 1]))
                    static_xy.append(np.full((len(j), 2), np.nan))
        search = model.qrf.searchers(self.ts)
        if search:
            add_static(SEARCH, np.array([u.key for u, _ in search], dtype=np.uint64),
                       np.array([u.force for u, _ in search], dtype=np.int64),
                       np.array([u.site for u, _ in search]), p.qrf_search_range_km,
                       np.full(len(search), p.qrf_search_rate_per_h),
                       np.array([m[b.si] for _, m in search], dtype=float))
        sweeps = model.clearing.observers(self.ts)
        if sweeps:
            add_static(SWEEP, np.array([s.key for s, _ in sweeps], dtype=np.uint64),
                       np.array([s.force for s, _ in sweeps], dtype=np.int64),
                       np.array([s.centre for s, _ in sweeps]), p.clearing_radius_km,
                       np.full(len(sweeps), p.qrf_search_rate_per_h),
                       np.array([m[b.si] for _, m in sweeps], dtype=float))
        orbits = model.isr.footprint(self.ts)
        if orbits:  # one sensor: consecutive days' orbits never overlap in time, so they share its key
            add_static(ISR, np.full(len(orbits), _ISR_KEY, dtype=np.uint64),
                       np.full(len(orbits), COALITION), np.array([c for c, _ in orbits]),
                       p.isr_radius_km, np.full(len(orbits), p.isr_rate_per_h),
                       np.array([act[b.si] for _, act in orbits], dtype=float))
        if not kind:
            self._matrix = None
            return None
        self._matrix = _Matrix(np.concatenate(kind), np.concatenate(keys), np.concatenate(force),
                               np.vstack(static_xy), moving, np.concatenate(rng), np.concatenate(rate),
                               np.concatenate(active), np.concatenate(d))
        return self._matrix

    def villagers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The households whose home or work lies near the batch: homes (v, 2), work sites (v, 2),
        whether each is out at work at the lookahead's sample times (v, k), and their indices."""
        pop = self.model.villagers
        b = self.b
        reach = _REACH * max(self.model.params.sight_range_day_km, self.model.params.sight_range_night_km)
        near = b.near(pop.home_xy, reach) | b.near(pop.work_xy, reach)
        vidx = np.flatnonzero(near)
        if not len(vidx):
            return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, len(self.ts)), dtype=bool), vidx
        return pop.home_xy[vidx], pop.work_xy[vidx], pop.out_at(self.ts, vidx), vidx
