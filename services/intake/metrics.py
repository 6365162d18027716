from prometheus_client import Counter, Histogram

SUBMISSIONS_RECEIVED = Counter(
    "lapor_intake_submissions_total", "Submissions taken from complaints.submitted, by channel.",
    ["channel"])
COMPLAINTS_ACCEPTED = Counter(
    "lapor_intake_complaints_accepted_total", "New complaints stored and published, by channel.",
    ["channel"])
SUBMISSIONS_REJECTED = Counter(
    "lapor_intake_rejections_total", "Errors on rejected submissions, by error code.", ["code"])
SUBMISSIONS_DEAD_LETTERED = Counter(
    "lapor_intake_dead_lettered_total", "Submissions that were not a JSON object.")
DUPLICATE_SUBMISSIONS = Counter(
    "lapor_intake_duplicate_submissions_total",
    "Submissions whose (channel, channel_ref) was already stored.")
POSSIBLE_DUPLICATES = Counter(
    "lapor_intake_possible_duplicates_total",
    "Complaints flagged as a possible duplicate of a recent one.")
PROCESSING_SECONDS = Histogram(
    "lapor_intake_processing_seconds", "Time from submission taken to complaint published.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
