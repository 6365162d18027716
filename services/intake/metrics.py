"""Intake's business metrics (the consumer's generic ones live in shared/metrics.py).
All are incremented once per batch, after its answers are published (handlers.Tally)."""

from prometheus_client import Counter, Gauge, Histogram

SUBMISSIONS_RECEIVED = Counter(
    "lapor_intake_submissions_total",
    "Submissions taken from complaints.submitted that were JSON objects, by channel "
    "(\"unknown\" when the channel is missing or not a known one).",
    ["channel"])
COMPLAINTS_ACCEPTED = Counter(
    "lapor_intake_complaints_accepted_total", "New complaints stored and published, by channel.",
    ["channel"])
SUBMISSIONS_REJECTED = Counter(
    "lapor_intake_rejections_total",
    "Errors on submission.rejected answers, by error code (rate_limited included).", ["code"])
SUBMISSIONS_DEAD_LETTERED = Counter(
    "lapor_intake_dead_lettered_total",
    "Submissions that were not a JSON object, sent to complaints.submitted.dlq.")
DUPLICATE_SUBMISSIONS = Counter(
    "lapor_intake_duplicate_submissions_total",
    "Submissions whose (channel, channel_ref) was already stored or already in the batch: "
    "answered with the stored complaint.")
POSSIBLE_DUPLICATES = Counter(
    "lapor_intake_possible_duplicates_total",
    "New complaints flagged as a possible duplicate of a recent one (possible_duplicate_of).")
PROCESSING_SECONDS = Histogram(
    "lapor_intake_processing_seconds",
    "Per answered submission: time from its batch being taken to the answers published.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
FLOOD_GUARD_MARKS = Gauge(
    "lapor_intake_flood_guard_marks",
    "Complaints in this instance's flood guard window in memory: every instance's of the "
    "last hour (at most LAPOR_INTAKE_FLOOD_GUARD_MAX_MARKS).")
FLOOD_GUARD_FORGOTTEN = Counter(
    "lapor_intake_flood_guard_forgotten_total",
    "Complaints the flood guard forgot before their hour was over, its window full: their "
    "reporters' contacts count less.")
