"""Near-duplicate detection for `possible_duplicate_of` (CONTRACT.md section 4).

The same citizen often sends one complaint twice (a retry on another channel, a
re-post with a typo fixed), and neighbours copy a message around. Intake marks
such a complaint with the tracking id of the earlier one; it never refuses it.

How it works:

1. `text_fingerprint(title, body)`: lower case, accents folded, punctuation
   removed, whitespace collapsed. Punctuation and case changes vanish here.
2. The fingerprint is cut into character 5-grams ("shingles"): a typo touches at
   most five of them, so near-identical texts keep almost all shingles in common,
   while two different texts on the same topic ("jalan rusak ...") share few.
3. Each shingle is hashed (BLAKE2b, stable across processes, 63 bits so it fits a
   BSON int64) and only the SKETCH_SIZE smallest hashes are kept: a bottom-k
   sketch. That is all that is stored per complaint (at most 64 integers, about
   0.5 KB), whatever the body's length.
4. `similarity` estimates the Jaccard similarity of the two shingle sets from the
   two sketches (exact when a text has fewer than SKETCH_SIZE shingles), and
   `is_near_duplicate` compares it with DUPLICATE_THRESHOLD.

Intake compares a new complaint only with *roots*: recent complaints of the same
category and region that were not themselves flagged. A near-copy of a near-copy
therefore points at the first complaint of its kind (what an agency wants to see),
and the candidates per (category, region) stay few even when one message is sent
around hundreds of times. `flag_possible_duplicates` applies this to a batch, also
comparing the batch's own complaints with each other, oldest first.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

SHINGLE_CHARS = 5
SKETCH_SIZE = 64
BITMAP_BITS = 1024  # a sketch's bitmap (`TextSketch.bits`): 128 bytes
_BITMAP_MASK = BITMAP_BITS - 1
DUPLICATE_THRESHOLD = 0.6
"""Estimated Jaccard similarity of the character 5-gram sets at or above which two
complaints are near-duplicates. Measured on Indonesian complaint texts of a few
sentences: re-sent text with typos, case or punctuation changes scores above 0.85,
different reports on the same topic (same street, same agency) below 0.35; in a
one-line text a single changed word ("gang Mawar" / "gang Melati") scores about 0.5,
so it is still told apart."""

_NOT_WORD = re.compile(r"[\W_]+")


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _without_marks(match: re.Match[str]) -> str:
    return "".join(ch for ch in match.group() if not unicodedata.combining(ch))


def text_fingerprint(title: str, body: str) -> str:
    """Title and body in a form where case, accents, punctuation and spacing no longer matter."""
    text = f"{title} {body}".casefold()
    if not text.isascii():  # ASCII has neither decompositions nor combining marks
        text = _NON_ASCII.sub(_without_marks, unicodedata.normalize("NFKD", text))
    return _NOT_WORD.sub(" ", text).strip()


HASH_CACHE_SIZE = 1 << 16


class _ShingleHashes(dict[str, int]):
    """Shingle -> hash, computed once: the 5-grams of one language repeat a lot from
    complaint to complaint, and one BLAKE2b call costs more than the rest of a shingle's
    handling. A plain dict lookup is cheaper than an `lru_cache` call; the cache is emptied
    when full (a new complaint refills what it needs)."""

    def __missing__(self, shingle: str) -> int:
        if len(self) >= HASH_CACHE_SIZE:
            self.clear()
        digest = hashlib.blake2b(shingle.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        value = self[shingle] = int.from_bytes(digest, "big") >> 1
        return value


_shingle_hash = _ShingleHashes()


def shingle_hashes(fingerprint: str) -> set[int]:
    """The hashes of the fingerprint's character 5-grams (of the whole text if shorter)."""
    if len(fingerprint) <= SHINGLE_CHARS:
        return {_shingle_hash[fingerprint]} if fingerprint else set()
    lookup = _shingle_hash.__getitem__
    return {lookup(fingerprint[i : i + SHINGLE_CHARS])
            for i in range(len(fingerprint) - SHINGLE_CHARS + 1)}


_HASH_SPACE = 1 << 63  # shingle hashes are uniform below this
_EXPECTED_BELOW = SKETCH_SIZE + 32  # 3 to 4 standard deviations above SKETCH_SIZE


def smallest(hashes: set[int]) -> list[int]:
    """The SKETCH_SIZE smallest hashes, ascending. A text of a few sentences has hundreds of
    shingles, and sorting them all (large integers, slow to compare) cost as much as hashing
    them: the hashes are uniform, so those below the bound where about 96 are expected are
    sorted instead, all of them only when fewer than SKETCH_SIZE fall below it (for a text
    of 250 shingles one in 100,000, of 2,000 one in 6,000). The result is the same either
    way."""
    count = len(hashes)
    if count > 2 * SKETCH_SIZE:
        bound = _HASH_SPACE * _EXPECTED_BELOW // count
        below = [h for h in hashes if h < bound]
        if len(below) >= SKETCH_SIZE:
            below.sort()
            return below[:SKETCH_SIZE]
    return sorted(hashes)[:SKETCH_SIZE]


@dataclass(frozen=True)
class TextSketch:
    """What is stored per complaint for duplicate search: the smallest shingle hashes, ascending."""

    hashes: tuple[int, ...]

    @functools.cached_property
    def members(self) -> frozenset[int]:
        """The hashes as a set, built once per sketch (a root is compared many times)."""
        return frozenset(self.hashes)

    @functools.cached_property
    def bits(self) -> int:
        """The hashes as a bitmap of `BITMAP_BITS` bits (bit `h % BITMAP_BITS` of each):
        two sketches' common hashes are counted, give or take collisions, by one `&` and
        one `bit_count` on 128-byte integers, a quarter of the time of a set
        intersection, which also allocates the intersection."""
        value = 0
        for h in self.hashes:
            value |= 1 << (h & _BITMAP_MASK)
        return value

    @functools.cached_property
    def bits_lost(self) -> int:
        """How many of the sketch's hashes share a bit with another of them: a count of
        common hashes from `bits` may fall short of the true one by at most this."""
        return len(self.hashes) - self.bits.bit_count()

    @classmethod
    def of(cls, title: str, body: str) -> TextSketch:
        return cls(tuple(smallest(shingle_hashes(text_fingerprint(title, body)))))

    @classmethod
    def from_stored(cls, hashes: Iterable[int]) -> TextSketch:
        return cls(tuple(sorted(set(hashes))[:SKETCH_SIZE]))

    def to_bytes(self) -> bytes:
        """8 bytes per hash, big-endian: the compact stored form (a BSON binary of at most
        512 bytes; far cheaper for a database to read back than an array of integers)."""
        return b"".join(h.to_bytes(8, "big") for h in self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> TextSketch:
        return cls.from_stored(
            int.from_bytes(data[i : i + 8], "big") for i in range(0, len(data) - 7, 8))


def similarity(a: TextSketch, b: TextSketch) -> float:
    """Estimated Jaccard similarity (0..1) of the two texts' shingle sets."""
    return _estimate(a.hashes, b.hashes, len(a.members & b.members))


def _estimate(x: tuple[int, ...], y: tuple[int, ...], shared: int, floor: float = 0.0) -> float:
    """The bottom-k estimate from two sketches (ascending) that have `shared` hashes in
    common: among the k smallest hashes of the union, the share found in both sketches. A
    hash among those k that is in a text's shingles is necessarily among that text's own k
    smallest, so "not in the sketch" means "not in the text".

    An estimate below `floor` is not worked out to the end: some value below `floor` is
    returned as soon as the estimate cannot reach it (the search only asks whether a
    candidate beats the best so far)."""
    if not x or not y:
        return 0.0
    union = len(x) + len(y) - shared
    if union <= SKETCH_SIZE:
        return shared / union
    # Walk down from the top of both sketches, dropping the union's largest hashes until k
    # are left, and take the shared ones among them off the count (no sort of the union:
    # a quarter of the cost, and the search compares a new complaint with every root).
    # The hashes of one sketch above the other's largest are in one sketch only: dropped
    # first, skipped in one step.
    if x[-1] < y[-1]:
        x, y = y, x
    above = len(x) - bisect_right(x, y[-1])
    excess = union - SKETCH_SIZE
    if above >= excess:
        return shared / SKETCH_SIZE
    i, j, excess = len(x) - 1 - above, len(y) - 1, excess - above
    needed = floor * SKETCH_SIZE
    while excess and i >= 0 and j >= 0:
        if x[i] > y[j]:
            i -= 1
        elif y[j] > x[i]:
            j -= 1
        else:
            i, j, shared = i - 1, j - 1, shared - 1
            if shared < needed:
                break  # below the floor already: no need for the exact value
        excess -= 1
    return shared / SKETCH_SIZE


def is_near_duplicate(a: TextSketch, b: TextSketch) -> bool:
    return similarity(a, b) >= DUPLICATE_THRESHOLD


def most_similar(new: TextSketch, candidates: Iterable[tuple[str, TextSketch]]) -> str | None:
    """The tracking id of the candidate most similar to `new`, if it is a near-duplicate.
    Ties go to the first candidate, so pass them oldest first."""
    best_id, best_score = None, DUPLICATE_THRESHOLD
    mine, mine_bits, lost = new.members, new.bits, new.bits_lost
    for tracking_id, sketch in candidates:
        # An upper bound first: the estimate counts shared hashes among at least max(len)
        # members of the union, so a pair sharing fewer than best_score of that cannot
        # reach it (most pairs: different texts). The bitmaps bound the shared hashes
        # from above (common hashes that share a bit count once: at most `lost` of them)
        # in a quarter of the time of the exact count, which follows for the rest.
        limit = best_score * max(len(mine), len(sketch.hashes))
        if (mine_bits & sketch.bits).bit_count() + lost < limit:
            continue
        shared = len(mine & sketch.members)
        if shared < limit:
            continue
        score = _estimate(new.hashes, sketch.hashes, shared, best_score)
        if score >= best_score and (best_id is None or score > best_score):
            best_id, best_score = tracking_id, score
    return best_id


Bucket = Hashable
"""What candidates must share with a new complaint: intake uses (category, region_code)."""


@dataclass(frozen=True)
class Root:
    """A recent complaint that new ones may be a near-copy of."""

    tracking_id: str
    sketch: TextSketch


def flag_possible_duplicates(
    new: Sequence[tuple[Bucket, str, TextSketch]],
    roots: Mapping[Bucket, Sequence[Root]],
) -> list[str | None]:
    """For each new complaint `(bucket, tracking_id, sketch)`, in arrival order, the
    tracking id of the root it is a near-duplicate of, or None.

    `roots` holds the stored roots per bucket, oldest first. A new complaint that is not
    flagged becomes a root for the ones after it in the same batch.
    """
    # Per bucket, its stored roots then the batch's own, built once per bucket: a bucket
    # holds up to 200 roots, and a batch's complaints often share buckets.
    candidates: dict[Bucket, list[tuple[str, TextSketch]]] = {}
    flags: list[str | None] = []
    for bucket, tracking_id, sketch in new:
        known = candidates.get(bucket)
        if known is None:
            known = candidates[bucket] = [(root.tracking_id, root.sketch)
                                          for root in roots.get(bucket, ())]
        flag = most_similar(sketch, known)
        if flag is None:
            known.append((tracking_id, sketch))
        flags.append(flag)
    return flags
