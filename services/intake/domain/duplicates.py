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

The adapter fetches candidates by (category, region_code, received within a
window) and passes their sketches to `most_similar`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

SHINGLE_CHARS = 5
SKETCH_SIZE = 64
DUPLICATE_THRESHOLD = 0.6
"""Estimated Jaccard similarity of the character 5-gram sets at or above which two
complaints are near-duplicates. Measured on Indonesian complaint texts of a few
sentences: re-sent text with typos, case or punctuation changes scores above 0.85,
different reports on the same topic (same street, same agency) below 0.35; in a
one-line text a single changed word ("gang Mawar" / "gang Melati") scores about 0.5,
so it is still told apart."""

_NOT_WORD = re.compile(r"[\W_]+")


def text_fingerprint(title: str, body: str) -> str:
    """Title and body in a form where case, accents, punctuation and spacing no longer matter."""
    text = unicodedata.normalize("NFKD", f"{title} {body}".casefold())
    folded = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", folded).strip()


def _shingles(fingerprint: str) -> set[str]:
    if len(fingerprint) <= SHINGLE_CHARS:
        return {fingerprint} if fingerprint else set()
    return {
        fingerprint[i : i + SHINGLE_CHARS] for i in range(len(fingerprint) - SHINGLE_CHARS + 1)
    }


def _hash(shingle: str) -> int:
    digest = hashlib.blake2b(shingle.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True)
class TextSketch:
    """What is stored per complaint for duplicate search: the smallest shingle hashes, ascending."""

    hashes: tuple[int, ...]

    @classmethod
    def of(cls, title: str, body: str) -> TextSketch:
        hashes = sorted({_hash(s) for s in _shingles(text_fingerprint(title, body))})
        return cls(tuple(hashes[:SKETCH_SIZE]))

    @classmethod
    def from_stored(cls, hashes: Iterable[int]) -> TextSketch:
        return cls(tuple(sorted(set(hashes))[:SKETCH_SIZE]))


def similarity(a: TextSketch, b: TextSketch) -> float:
    """Estimated Jaccard similarity (0..1) of the two texts' shingle sets."""
    if not a.hashes or not b.hashes:
        return 0.0
    # Bottom-k estimator: among the k smallest hashes of the union, the share found in
    # both sketches. A hash among those k that is in a text's shingles is necessarily
    # among that text's own k smallest, so "not in the sketch" means "not in the text".
    union = sorted(set(a.hashes) | set(b.hashes))[:SKETCH_SIZE]
    in_a, in_b = set(a.hashes), set(b.hashes)
    both = sum(1 for h in union if h in in_a and h in in_b)
    return both / len(union)


def is_near_duplicate(a: TextSketch, b: TextSketch) -> bool:
    return similarity(a, b) >= DUPLICATE_THRESHOLD


def most_similar(new: TextSketch, candidates: Iterable[tuple[str, TextSketch]]) -> str | None:
    """The tracking id of the candidate most similar to `new`, if it is a near-duplicate.
    Ties go to the first candidate, so pass them oldest first."""
    best_id, best_score = None, DUPLICATE_THRESHOLD
    for tracking_id, sketch in candidates:
        score = similarity(new, sketch)
        if score >= best_score and (best_id is None or score > best_score):
            best_id, best_score = tracking_id, score
    return best_id
