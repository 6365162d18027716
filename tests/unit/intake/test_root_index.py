"""The roots' inverted index: the search compares a sketch only with the roots that can
match it, and finds what a comparison with every root finds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.intake.domain.duplicates import Root, TextSketch, flag_possible_duplicates
from services.intake.domain.root_index import BucketRoots, RootIndex

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BUCKET = ("infrastructure.roads", "64.08.04")
WORDS = ("jalan rusak lubang banjir sampah lampu mati air keruh sekolah puskesmas gang "
         "mawar melati pasar sangatta bengalon muara wahau kecamatan rt pdam").split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _index(roots: list[tuple[Root, datetime]]) -> RootIndex:
    index = RootIndex()
    for root, at in roots:
        index.add(root, at)
    return index


def test_the_index_flags_what_a_comparison_with_every_root_flags() -> None:
    rng = random.Random(11)
    bases = [_text(rng, rng.choice((2, 5, 12, 40))) for _ in range(60)]
    for trial in range(200):
        roots = []
        for i in range(rng.randint(0, 80)):
            base = rng.choice(bases)
            text = rng.choice([base, base + " " + _text(rng, 1), _text(rng, 3) + " " + base])
            at = T0 + timedelta(minutes=rng.randint(0, 600))
            roots.append((Root(f"R{i}", TextSketch.of("", text)), at))
        since = T0 + timedelta(minutes=rng.choice((0, 100, 300)))
        ordered = sorted(roots, key=lambda entry: entry[1])  # stable: ties in added order
        every_root = [root for root, at in ordered if at >= since]
        new = [(BUCKET, f"N{j}", TextSketch.of("", rng.choice(bases) + " " * j))
               for j in range(rng.randint(1, 6))]
        indexed = BucketRoots(_index(roots), since)
        assert flag_possible_duplicates(new, {BUCKET: indexed}) == \
            flag_possible_duplicates(new, {BUCKET: every_root}), trial
        assert list(indexed) == every_root, trial


def test_roots_are_oldest_first_and_the_oldest_wins_a_tie() -> None:
    sketch = TextSketch.of("Jalan rusak", "Jalan rusak parah di depan pasar Sangatta.")
    index = _index([(Root("LATE", sketch), T0 + timedelta(hours=2)),
                    (Root("EARLY", sketch), T0),
                    (Root("SAME-TIME", sketch), T0)])
    assert [root.tracking_id for root in index.roots()] == ["EARLY", "SAME-TIME", "LATE"]
    assert [root.tracking_id for root in index.sharing(sketch)] == \
        ["EARLY", "SAME-TIME", "LATE"]
    assert flag_possible_duplicates([(BUCKET, "NEW", sketch)],
                                    {BUCKET: BucketRoots(index)}) == ["EARLY"]
    assert not index.add(Root("EARLY", sketch), T0)  # once only


def test_roots_that_share_too_little_are_not_candidates() -> None:
    near = TextSketch.of("Lampu jalan mati", "Lampu jalan di gang Mawar mati sejak kemarin.")
    other = TextSketch.of("Sampah menumpuk", "Sampah di pasar Sangatta belum diangkut.")
    index = _index([(Root("OTHER", other), T0), (Root("NEAR", near), T0)])
    assert [root.tracking_id for root in index.sharing(near)] == ["NEAR"]
    assert index.sharing(TextSketch(())) == []


def test_dropped_roots_leave_the_index() -> None:
    texts = ["Jalan rusak parah di depan pasar Sangatta.", "Lampu jalan di gang Mawar mati.",
             "Sampah menumpuk di Bengalon.", "Air PDAM keruh sejak Senin di Muara Wahau.",
             "Puskesmas tutup pada jam pelayanan."]
    sketches = [TextSketch.of("", text) for text in texts]
    index = _index([(Root(f"R{i}", s), T0 + timedelta(minutes=i))
                    for i, s in enumerate(sketches)])
    assert index.keep_newest(3) == ["R0", "R1"]
    assert index.drop_before(T0 + timedelta(minutes=3)) == ["R2"]
    assert index.drop_before(T0) == []
    assert len(index) == 2 and "R0" not in index and "R3" in index
    assert index.sharing(sketches[0]) == [] and index.sharing(sketches[1]) == []
    assert [root.tracking_id for root in index.sharing(sketches[4])] == ["R4"]
    assert index.drop_before(T0 + timedelta(days=1)) == ["R3", "R4"]
    assert index.roots() == [] and index._holders == {}  # nothing left behind
    index.add(Root("AGAIN", sketches[0]), T0)  # an empty index takes any time again
    assert [root.tracking_id for root in index.sharing(sketches[0])] == ["AGAIN"]


def test_roots_not_indexed_yet_come_after_the_indexed_ones_once() -> None:
    sketch = TextSketch.of("Jalan rusak", "Jalan rusak parah di depan pasar Sangatta.")
    index = _index([(Root("STORED", sketch), T0)])
    roots = BucketRoots(index).with_more([Root("STORED", sketch), Root("BATCH", sketch)])
    roots = roots.with_more([Root("BATCH", sketch)])
    assert [root.tracking_id for root in roots] == ["STORED", "BATCH"]
    assert [root.tracking_id for root in roots.candidates(sketch)] == ["STORED", "BATCH"]


def _sketch(*hashes: int) -> TextSketch:
    return TextSketch(tuple(sorted(hashes)))


def test_a_root_sharing_just_enough_through_one_rare_hash_is_found() -> None:
    """Ten hashes, a near-duplicate shares six (0.6): a root holding six of them holds one
    of any five, here only the rarest one that any root holds (four are held by none)."""
    new = _sketch(*range(1, 11))
    index = _index([(Root("JUST-ENOUGH", _sketch(5, 6, 7, 8, 9, 10)), T0),
                    (Root("FIVE-ONLY", _sketch(6, 7, 8, 9, 10, 99)), T0),
                    (Root("COMMON", _sketch(6, 7, 8, 9, 10, 98)), T0)])
    assert [root.tracking_id for root in index.sharing(new)] == ["JUST-ENOUGH"]
    every_root = index.roots()
    assert flag_possible_duplicates([(BUCKET, "NEW", new)], {BUCKET: BucketRoots(index)}) \
        == flag_possible_duplicates([(BUCKET, "NEW", new)], {BUCKET: every_root}) \
        == ["JUST-ENOUGH"]
