"""Keyed random numbers: every draw is a pure function of (seed, replicate, purpose, entity, counter).

Why: common random numbers (CRN) make a paired comparison of two scenarios precise only if the same
entity gets the same numbers in both arms, whatever else the scenario changes. A sequential generator
per purpose does not give that: one extra agent, one extra option or one extra observer shifts every
later draw and the arms drift apart (docs/ODD.md, "Stochasticity"). Here nothing is sequential. A draw
is a hash of its key, so an entity that draws more or fewer numbers never moves another entity's
numbers, and the order in which the model asks for them does not matter.

The key of a draw is the tuple of 64-bit words::

    (root_seed, replicate, salt, purpose, word_1, ..., word_n)

``salt`` is 0 under common random numbers and a hash of the scenario name otherwise (``crn=false``);
``purpose`` is the index of the purpose's name in :data:`PURPOSES` (append-only: reordering changes
every result); the words are entity keys (stable hashes of what an entity *is*, never Mesa's
creation-order ids, see :func:`entity_key`), counters (a decision's number) and times (a day, an
index on the sensing time grid). The words are folded in order with the finaliser of splitmix64
(Steele, Lea and Flood 2014), ``h <- mix64(h XOR word)``, starting from ``mix64`` of the golden-ratio
constant; the 53 high bits of the result give a uniform on (0, 1). This is a counter-based generator in
the sense of Salmon et al. (2011): stateless, vectorised over numpy ``uint64`` arrays (a million keyed
uniforms cost a few milliseconds), and reproducible on every platform numpy supports.

Rare draws that need a full distribution library (a binomial, a weighted sample) take a numpy
``Generator`` built on ``Philox`` keyed from the same hash (:meth:`KeyedRandom.generator`); it costs
about 20 microseconds, so it is for events, not for inner loops.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import gammaln

#: Every purpose that draws random numbers. Append only: the index is part of every key.
PURPOSES: tuple[str, ...] = (
    "init",  # initial state: cells, parties, links, caves a force knows
    "weather",  # rainfall and the truffle year (exogenous)
    "inflow",  # fighters arriving from outside the district (exogenous)
    "plans",  # villagers' daily plans: who goes out, party sizes (exogenous)
    "traffic",  # drivers' trips: how many, when, how many aboard (exogenous)
    "tasking",  # coalition ISR tasking outside the district (exogenous)
    "sense",  # detection of insurgents by posts, patrols, ISR, searches (observer x target x time)
    "sight",  # villagers noticing insurgents (villager x target x time)
    "watch",  # insurgents noticing security forces (cell x observer x time)
    "decide",  # insurgent decisions: when to consider, option noise (cell x decision)
    "act",  # outcomes of insurgent actions (cell x action)
    "report",  # villagers' choice to report, and delivery (villager x sighting)
    "share",  # a message passed between forces (message)
    "combat",  # engagements, strikes, searches, arrests (event)
    "social",  # trust, fear, recruitment, links (villager x day)
    "patrol",  # patrol sorties and route choice (patrol x day)
    "mesa",  # Mesa's own model.random (agent-set shuffles)
)
_PURPOSE_INDEX = {name: i for i, name in enumerate(PURPOSES)}

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53
_G = np.uint64(_GOLDEN)


def _mix_int(x: int) -> int:
    """splitmix64's finaliser on a Python int (for scalar prefixes)."""
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _mix_array(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (in place; wraps modulo 2**64). One scratch array
    serves the three shifts: on the small arrays of one decision the calls, not the arithmetic,
    are the cost."""
    x += _G
    t = x >> _S30
    x ^= t
    x *= _M1
    np.right_shift(x, _S27, out=t)
    x ^= t
    x *= _M2
    np.right_shift(x, _S31, out=t)
    x ^= t
    return x


def _as_word(value: Any) -> np.ndarray | int:
    """An int or an integer array as 64-bit words (negative ints wrap)."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint64:
            return value
        return value.astype(np.int64, copy=False).view(np.uint64)
    return int(value) & _MASK


def _fold_ints(h: int, words: tuple) -> int | None:
    """The all-integer fast path of :func:`fold` (None if a word is an array)."""
    for w in words:
        if type(w) is not int:
            if isinstance(w, np.integer):
                w = int(w)
            else:
                return None
        x = ((h ^ (w & _MASK)) + _GOLDEN) & _MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        h = x ^ (x >> 31)
    return h


def fold(prefix: int, *words: Any) -> np.ndarray | int:
    """Hash ``words`` (ints or broadcastable int arrays) onto a prefix: ``h <- mix(h ^ w)``."""
    fast = _fold_ints(prefix, words)
    if fast is not None:
        return fast
    h: np.ndarray | int = prefix
    owned = False  # whether h is an array this function allocated (safe to modify in place)
    for w in words:
        w = _as_word(w)
        if isinstance(h, int) and isinstance(w, int):
            h = _mix_int(h ^ w)
        elif owned and (isinstance(w, int) or w.shape == h.shape
                        or np.broadcast_shapes(h.shape, w.shape) == h.shape):
            h ^= w
            _mix_array(h)
        else:
            h = _mix_array(np.bitwise_xor(np.asarray(h, dtype=np.uint64), w, dtype=np.uint64))
            owned = True
    return h


def entity_key(*parts: int | str) -> int:
    """A stable 64-bit key for an entity from what it *is* (kind, home, index, ...).

    Strings are hashed with SHA-256 (stable across processes, unlike ``hash``), ints are used as
    they are; the same parts give the same key in every scenario, which is what keeps an entity's
    draws paired across scenarios.
    """
    h = _mix_int(_GOLDEN)
    for part in parts:
        if isinstance(part, str):
            part = int.from_bytes(hashlib.sha256(part.encode()).digest()[:8], "little")
        h = _mix_int(h ^ (int(part) & _MASK))
    return h


def scenario_salt(name: str) -> int:
    """The salt of a scenario's keys when common random numbers are off."""
    return entity_key("scenario", name)


def _to_unit(h: np.ndarray | int) -> np.ndarray | float:
    """Uniform on (0, 1) from the 53 high bits (never exactly 0 or 1)."""
    if isinstance(h, int):
        return ((h >> 11) + 0.5) * _TO_UNIT
    u = (h >> _S11).astype(np.float64)
    u += 0.5
    u *= _TO_UNIT
    return u


#: Largest Poisson mean and binomial size inverted with a table here (scipy beyond).
_SMALL = 60.0
_SMALL_N = 400


@functools.lru_cache(maxsize=4096)
def _poisson_cdf(lam: float) -> np.ndarray:
    """CDF of Poisson(lam) on 0..K, K far enough into the tail that the rest is below 1e-15."""
    if lam <= 0:
        return np.ones(1)
    k_max = int(lam + 12.0 * math.sqrt(lam) + 20)
    k = np.arange(k_max + 1)
    logpmf = k * math.log(lam) - lam - gammaln(k + 1)
    return np.cumsum(np.exp(logpmf))


@functools.lru_cache(maxsize=4096)
def _binomial_cdf(n: int, p: float) -> np.ndarray:
    """CDF of Binomial(n, p) on 0..n."""
    if p <= 0:
        return np.ones(n + 1)
    if p >= 1:
        cdf = np.zeros(n + 1)
        cdf[-1] = 1.0
        return cdf
    k = np.arange(n + 1)
    logpmf = (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
              + k * math.log(p) + (n - k) * math.log1p(-p))
    return np.cumsum(np.exp(logpmf))


class KeyedRandom:
    """Keyed draws for one replicate (see the module docstring for the key scheme).

    Args:
        root_seed: the experiment's seed (``seed=``).
        replicate: replicate id; the same id in two scenarios gives the same numbers under CRN.
        salt: 0 under common random numbers, :func:`scenario_salt` otherwise.
    """

    def __init__(self, root_seed: int, replicate: int, salt: int = 0) -> None:
        self.root_seed = int(root_seed)
        self.replicate = int(replicate)
        self.salt = int(salt)
        base = fold(_mix_int(_GOLDEN), self.root_seed, self.replicate, self.salt)
        self._prefix = [int(fold(base, i)) for i in range(len(PURPOSES))]

    def key(self, purpose: str, *words: Any) -> np.ndarray | int:
        """The 64-bit hash of a draw's key (ints or arrays broadcast together)."""
        return fold(self._prefix[_PURPOSE_INDEX[purpose]], *words)

    # -- continuous draws -----------------------------------------------------------------
    def uniform(self, purpose: str, *words: Any) -> np.ndarray | float:
        """Uniform on (0, 1)."""
        return _to_unit(self.key(purpose, *words))

    def uniforms(self, purpose: str, n: int, *words: Any) -> np.ndarray:
        """A fixed-size vector of ``n`` uniforms for one key (index appended as the last word)."""
        return np.asarray(_to_unit(self.key(purpose, *words, np.arange(n, dtype=np.uint64))))

    def normal(self, purpose: str, *words: Any, loc: float = 0.0, scale: float = 1.0) -> Any:
        """Normal draw (Box-Muller on two keyed uniforms)."""
        u1 = self.uniform(purpose, *words, 0)
        u2 = self.uniform(purpose, *words, 1)
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)
        return loc + scale * (float(z) if np.ndim(z) == 0 else z)

    def exponential(self, purpose: str, *words: Any, scale: float = 1.0) -> Any:
        """Exponential draw with the given mean."""
        u = self.uniform(purpose, *words)
        return -scale * (math.log(u) if isinstance(u, float) else np.log(u))

    def gumbel(self, purpose: str, n: int, *words: Any, scale: float = 1.0) -> np.ndarray:
        """A fixed-size vector of ``n`` Gumbel(0, scale) draws (option noise for one decision)."""
        return -scale * np.log(-np.log(self.uniforms(purpose, n, *words)))

    # -- discrete draws -------------------------------------------------------------------
    def poisson(self, purpose: str, lam: float | np.ndarray, *words: Any) -> Any:
        """Poisson draw by inversion of the CDF (exact; vectorised over the key and ``lam``)."""
        u = self.uniform(purpose, *words)
        if np.ndim(lam) == 0 and float(lam) <= _SMALL:
            cdf = _poisson_cdf(float(lam))
            out = np.searchsorted(cdf, u, side="right")
            return int(out) if np.ndim(out) == 0 else out.astype(np.int64)
        out = stats.poisson.ppf(u, lam)
        return int(out) if np.ndim(out) == 0 else out.astype(np.int64)

    def binomial(self, purpose: str, n: int | np.ndarray, p: float | np.ndarray, *words: Any) -> Any:
        """Binomial draw by inversion of the CDF (exact)."""
        u = self.uniform(purpose, *words)
        if np.ndim(n) == 0 and np.ndim(p) == 0 and int(n) <= _SMALL_N:
            cdf = _binomial_cdf(int(n), float(p))
            out = np.minimum(np.searchsorted(cdf, u, side="right"), int(n))
            return int(out) if np.ndim(out) == 0 else out.astype(np.int64)
        out = stats.binom.ppf(u, n, p)
        return int(out) if np.ndim(out) == 0 else out.astype(np.int64)

    def bernoulli(self, purpose: str, p: float | np.ndarray, *words: Any) -> Any:
        """True with probability ``p``."""
        u = self.uniform(purpose, *words)
        return u < p

    def choice(self, purpose: str, weights: Sequence[float] | np.ndarray, *words: Any) -> int:
        """Index drawn with probability proportional to ``weights`` (one keyed uniform)."""
        w = np.asarray(weights, dtype=float)
        cum = np.cumsum(w)
        if cum[-1] <= 0:
            raise ValueError("choice needs a positive total weight")
        return int(min(np.searchsorted(cum, self.uniform(purpose, *words) * cum[-1], side="right"),
                       len(w) - 1))

    def generator(self, purpose: str, *words: Any) -> np.random.Generator:
        """A numpy Generator (Philox) keyed by this draw's key, for rare multi-number draws."""
        h = int(self.key(purpose, *words))
        return np.random.Generator(np.random.Philox(key=[h, _mix_int(h)]))

    def python_seed(self, purpose: str = "mesa", *words: Any) -> int:
        """A 63-bit seed for a stdlib ``random.Random`` (Mesa's ``model.random``)."""
        return int(self.key(purpose, *words)) >> 1
