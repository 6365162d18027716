"""Near-duplicate detection on realistic Indonesian complaint texts."""

from __future__ import annotations

import pytest

from services.intake.domain import duplicates
from services.intake.domain.duplicates import (
    SKETCH_SIZE,
    Root,
    TextSketch,
    flag_possible_duplicates,
    is_near_duplicate,
    most_similar,
    similarity,
    text_fingerprint,
)

ORIGINAL = (
    "Jalan rusak parah",
    "Jalan di depan SDN 012 Sangatta Utara rusak parah dan berlubang besar sejak tiga "
    "bulan lalu. Sudah banyak pengendara motor yang jatuh, mohon segera diperbaiki oleh "
    "dinas PU.",
)

NEAR_DUPLICATES = [
    pytest.param(
        ("Jalan rusak parah!", "Jalan di depan SDN 012 Sangatta Utara rusak parah, dan berlubang "
         "besar sejak tiga bulan lalu!! Sudah banyak pengendara motor yang jatuh. Mohon segera "
         "diperbaiki oleh Dinas PU."),
        id="punctuation and case",
    ),
    pytest.param(
        ("jalan rusak parah", "Jalan di depan SDN 012 Sangata Utara rusak prah dan berlubang besar "
         "sejak tiga bulan lalu. Sudah banyak pengendara motor yg jatuh, mohon segera diperbaiki "
         "oleh dinas PU."),
        id="typos and abbreviation",
    ),
    pytest.param(
        ("JALAN RUSAK PARAH", "JALAN DI DEPAN SDN 012 SANGATTA UTARA RUSAK PARAH DAN BERLUBANG "
         "BESAR SEJAK 3 BULAN LALU. SUDAH BANYAK PENGENDARA MOTOR YANG JATUH, MOHON SEGERA "
         "DIPERBAIKI OLEH DINAS PU"),
        id="shouting with a digit",
    ),
    pytest.param(
        ("", "Jalan di depan SDN 012 Sangatta Utara rusak parah dan berlubang besar sejak tiga "
         "bulan lalu. Sudah banyak pengendara motor yang jatuh, mohon segera diperbaiki oleh "
         "dinas PU. Terima kasih."),
        id="no title and a greeting",
    ),
]

SAME_TOPIC_DIFFERENT_REPORT = [
    pytest.param(
        ("Jalan berlubang", "Jalan poros Sangatta - Bengalon di km 12 berlubang dan tergenang air "
         "saat hujan. Truk tambang sering lewat sehingga kerusakan makin parah. Mohon perhatian "
         "dinas PU."),
        id="other road",
    ),
    pytest.param(
        ("Jalan rusak", "Jalan di depan pasar induk Sangatta Utara rusak dan berdebu, warga "
         "terganggu. Mohon diperbaiki."),
        id="same district, other street",
    ),
    pytest.param(
        ("Jalan rusak parah", "Jembatan kayu di desa Sepaso rusak parah dan sudah miring, anak "
         "sekolah takut menyeberang. Sudah tiga bulan tidak ada perbaikan dari dinas PU."),
        id="same title, other object",
    ),
    pytest.param(
        ("Lampu jalan mati", "Lampu penerangan jalan umum di Jl. Yos Sudarso Sangatta Utara mati "
         "sejak dua minggu, rawan kejahatan pada malam hari. Mohon segera diperbaiki."),
        id="other category",
    ),
]


@pytest.mark.parametrize("other", NEAR_DUPLICATES)
def test_near_identical_texts_are_duplicates(other: tuple[str, str]) -> None:
    assert is_near_duplicate(TextSketch.of(*ORIGINAL), TextSketch.of(*other))
    assert similarity(TextSketch.of(*ORIGINAL), TextSketch.of(*other)) > 0.85


@pytest.mark.parametrize("other", SAME_TOPIC_DIFFERENT_REPORT)
def test_same_topic_different_text_is_not(other: tuple[str, str]) -> None:
    assert not is_near_duplicate(TextSketch.of(*ORIGINAL), TextSketch.of(*other))


def test_short_texts() -> None:
    mawar = TextSketch.of("", "Lampu jalan di gang Mawar mati.")
    assert is_near_duplicate(mawar, TextSketch.of("", "lampu jalan di Gang Mawar mati!!"))
    assert not is_near_duplicate(mawar, TextSketch.of("", "Lampu jalan di gang Melati mati."))


def test_fingerprint_ignores_case_accents_punctuation_spacing() -> None:
    assert text_fingerprint("Pelayanan  RSUD", "Café—ditutup!\n\nKenapa?") == (
        "pelayanan rsud cafe ditutup kenapa"
    )
    assert text_fingerprint("", "...") == ""


def test_sketch_is_small_and_storable() -> None:
    long_body = " ".join(f"kalimat nomor {n} tentang banjir di kelurahan" for n in range(500))
    sketch = TextSketch.of("Banjir", long_body)
    assert len(sketch.hashes) == SKETCH_SIZE
    assert list(sketch.hashes) == sorted(sketch.hashes)
    assert all(0 <= h < 2**63 for h in sketch.hashes)  # fits BSON int64
    assert TextSketch.from_stored(reversed(sketch.hashes)) == sketch
    # Stable across processes and releases (BLAKE2b, not Python's randomised hash()).
    assert TextSketch.of("", "ABCDE!").hashes == (7954000227646411635,)
    sketch = TextSketch.of("Jalan rusak", "Lubang besar di Jl. Poros Sangatta")
    assert (len(sketch.hashes), sketch.hashes[:3]) == (
        41, (56617494742644123, 755797024303273496, 1303795557899825716))


@pytest.mark.parametrize("seed", range(20))
def test_the_smallest_hashes_are_those_of_a_full_sort(seed: int) -> None:
    import random

    rng = random.Random(seed)
    uniform = {rng.randrange(2**63) for _ in range(rng.randrange(0, 600))}
    assert duplicates.smallest(uniform) == sorted(uniform)[:SKETCH_SIZE]
    # Far from uniform: too few below the bound, so all of them are sorted.
    crowded_top = {2**63 - 1 - rng.randrange(10**6) for _ in range(300)}
    assert duplicates.smallest(crowded_top) == sorted(crowded_top)[:SKETCH_SIZE]


def test_a_full_hash_cache_is_emptied_without_changing_sketches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    body = ORIGINAL[1]
    expected = TextSketch.of(ORIGINAL[0], body)
    duplicates._shingle_hash.clear()
    monkeypatch.setattr(duplicates, "HASH_CACHE_SIZE", 10)
    assert TextSketch.of(ORIGINAL[0], body) == expected
    assert 0 < len(duplicates._shingle_hash) <= 10


def test_long_texts_compare_by_sketch() -> None:
    body = " ".join(f"warga RT {n} mengeluhkan air PDAM keruh dan berbau" for n in range(300))
    a = TextSketch.of("Air keruh", body)
    assert is_near_duplicate(a, TextSketch.of("Air keruh", body.replace("keruh", "kruh", 5)))
    other = " ".join(f"sekolah {n} kekurangan guru honorer sejak semester lalu" for n in range(300))
    assert not is_near_duplicate(a, TextSketch.of("Guru", other))


def test_empty_text_matches_nothing() -> None:
    empty = TextSketch.of("", "!!!")
    assert similarity(empty, empty) == 0.0
    assert not is_near_duplicate(empty, TextSketch.of(*ORIGINAL))


def test_most_similar_picks_the_best_candidate() -> None:
    new = TextSketch.of(*ORIGINAL)
    candidates = [
        ("AAAA-AAAA-0", TextSketch.of("Lampu mati", "Lampu jalan di gang Mawar mati.")),
        ("BBBB-BBBB-0", TextSketch.of("jalan rusak parah", ORIGINAL[1].replace("tiga", "3"))),
        ("CCCC-CCCC-0", TextSketch.of(*ORIGINAL)),
        ("DDDD-DDDD-0", TextSketch.of(*ORIGINAL)),
    ]
    assert most_similar(new, candidates) == "CCCC-CCCC-0"
    assert most_similar(new, candidates[:1]) is None
    assert most_similar(new, []) is None


def test_sketch_bytes_round_trip() -> None:
    sketch = TextSketch.of(*ORIGINAL)
    data = sketch.to_bytes()
    assert len(data) == 8 * len(sketch.hashes) <= 512
    assert TextSketch.from_bytes(data) == sketch
    assert TextSketch.from_bytes(b"") == TextSketch(())


def test_fingerprint_fast_path_matches_unicode_path() -> None:
    assert text_fingerprint("Cafe\u0301", "na\u00efve \u2013 ok") == "cafe naive ok"
    assert text_fingerprint("Cafe", "naive - ok") == "cafe naive ok"


BUCKET, OTHER_BUCKET = ("infrastructure.roads", "64.08.04"), ("infrastructure.roads", "64.08.01")


def test_flags_against_stored_roots_and_within_the_batch() -> None:
    original = TextSketch.of(*ORIGINAL)
    copy = TextSketch.of(*NEAR_DUPLICATES[0].values[0])
    other = TextSketch.of(*SAME_TOPIC_DIFFERENT_REPORT[0].values[0])
    stored = {BUCKET: [Root("AAAA-AAAA-A", original)]}
    new = [
        (BUCKET, "N1", copy),  # near-copy of a stored root
        (BUCKET, "N2", other),  # new text: a root for what follows
        (BUCKET, "N3", TextSketch.of(*SAME_TOPIC_DIFFERENT_REPORT[0].values[0])),
        (OTHER_BUCKET, "N4", original),  # same text, other region: not compared
        (OTHER_BUCKET, "N5", copy),  # ... but the batch's own root there is
    ]
    assert flag_possible_duplicates(new, stored) == ["AAAA-AAAA-A", None, "N2", None, "N4"]


def test_a_flagged_complaint_is_no_root_so_copies_point_to_the_first() -> None:
    original = TextSketch.of(*ORIGINAL)
    new = [(BUCKET, f"N{i}", original) for i in range(4)]
    assert flag_possible_duplicates(new, {}) == [None, "N0", "N0", "N0"]


def test_oldest_root_wins_a_tie() -> None:
    sketch = TextSketch.of(*ORIGINAL)
    roots = {BUCKET: [Root("OLD", sketch), Root("NEW", sketch)]}
    assert flag_possible_duplicates([(BUCKET, "N", sketch)], roots) == ["OLD"]


def test_the_upper_bound_shortcut_never_changes_the_answer() -> None:
    """`most_similar` skips pairs whose shared hashes cannot reach the best score; the
    answer is the one a plain comparison with every candidate gives."""
    import random

    from services.intake.domain.duplicates import DUPLICATE_THRESHOLD, most_similar, similarity

    rng = random.Random(7)
    words = ("jalan rusak lubang banjir sampah lampu mati air keruh sekolah puskesmas "
             "gang mawar melati pasar sangatta bengalon muara wahau kecamatan rt").split()

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    def plain(new: TextSketch, candidates: list[tuple[str, TextSketch]]) -> str | None:
        best_id, best = None, DUPLICATE_THRESHOLD
        for tid, sketch in candidates:
            score = similarity(new, sketch)
            if score >= best and (best_id is None or score > best):
                best_id, best = tid, score
        return best_id

    bases = [text(rng.choice((2, 5, 12, 40))) for _ in range(40)]
    for trial in range(300):
        base = rng.choice(bases)
        variants = [base, base + " " + text(1), text(3) + " " + base, base[: len(base) // 2]]
        candidates = [(f"T{i}", TextSketch.of("", rng.choice(variants + bases)))
                      for i in range(rng.randint(1, 12))]
        new = TextSketch.of("", rng.choice(variants))
        assert most_similar(new, candidates) == plain(new, candidates), trial


def test_the_estimate_is_the_bottom_k_share_of_the_union() -> None:
    """`similarity` walks down from the top of the two sketches instead of sorting their
    union; its estimate is the definition's: among the k smallest hashes of the union,
    the share in both sketches. Sketches of every size (empty, short, full) and overlap."""
    import random

    def by_definition(a: TextSketch, b: TextSketch) -> float:
        if not a.hashes or not b.hashes:
            return 0.0
        union = sorted(set(a.hashes) | set(b.hashes))[:SKETCH_SIZE]
        return sum(1 for h in union if h in a.hashes and h in b.hashes) / len(union)

    rng = random.Random(11)
    for trial in range(5000):
        pool = rng.sample(range(1 << 62), rng.choice((10, 70, 150, 400)))
        a = TextSketch.from_stored(rng.sample(pool, rng.randint(0, min(len(pool), 90))))
        b = TextSketch.from_stored(rng.sample(pool, rng.randint(0, min(len(pool), 90))))
        assert similarity(a, b) == by_definition(a, b), trial
        assert similarity(b, a) == similarity(a, b), trial


def test_an_estimate_below_the_floor_stops_early_and_stays_below_it() -> None:
    """The search passes the best score so far as a floor: an estimate that reaches it is
    exact, one that does not comes back below it, whatever the walk skipped."""
    import random

    from services.intake.domain.duplicates import _estimate

    rng = random.Random(5)
    stopped_early = 0
    for trial in range(5000):
        pool = rng.sample(range(1 << 62), rng.choice((70, 100, 150)))
        a = TextSketch.from_stored(rng.sample(pool, rng.randint(40, min(len(pool), 90))))
        b = TextSketch.from_stored(rng.sample(pool, rng.randint(40, min(len(pool), 90))))
        shared = len(a.members & b.members)
        exact = _estimate(a.hashes, b.hashes, shared)
        assert exact == similarity(a, b), trial
        floor = rng.choice((0.3, 0.5, 0.6, 0.75, 0.9))
        floored = _estimate(a.hashes, b.hashes, shared, floor)
        if exact >= floor:
            assert floored == exact, trial
        else:
            assert floored < floor, trial
            stopped_early += floored != exact
    assert stopped_early > 100  # the early stop is taken, not only allowed


def test_the_bitmaps_never_count_fewer_shared_hashes_than_there_are() -> None:
    import random

    from services.intake.domain.duplicates import BITMAP_BITS

    rng = random.Random(3)
    pool = [rng.getrandbits(63) for _ in range(300)]
    for _ in range(500):
        a = TextSketch(tuple(sorted(set(rng.sample(pool, rng.randint(0, 64))))))
        b = TextSketch(tuple(sorted(set(rng.sample(pool, rng.randint(0, 64))))))
        assert (a.bits & b.bits).bit_count() + a.bits_lost >= len(a.members & b.members)
    # Hashes that share a bit: five common hashes, two bits; still a near-duplicate.
    crowded = TextSketch((5, 7, 7 + BITMAP_BITS, 7 + 2 * BITMAP_BITS, 7 + 3 * BITMAP_BITS))
    assert (crowded.bits & crowded.bits).bit_count() == 2 and crowded.bits_lost == 3
    assert most_similar(crowded, [("SAME", TextSketch(crowded.hashes))]) == "SAME"
