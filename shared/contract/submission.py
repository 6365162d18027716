"""The submission a channel adapter writes to `complaints.submitted` (CONTRACT.md section 3).

Adapters may build it with this model; intake does not trust it and validates
the raw JSON rule by rule so every broken rule gets its own error code.
"""

from __future__ import annotations

from pydantic import Field

from .common import Attachment, Channel, ContractModel, Kind, Location, Reporter, UtcDatetime


class Submission(ContractModel):
    channel: Channel
    channel_ref: str = Field(min_length=1, max_length=200)
    submitted_at: UtcDatetime
    kind: Kind = Kind.COMPLAINT
    title: str = Field(default="", max_length=200)
    body: str = Field(min_length=10, max_length=10000)
    category: str | None = None
    region_code: str | None = None
    location: Location | None = None
    reporter: Reporter = Field(default_factory=Reporter)
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)

    @property
    def idempotency_key(self) -> str:
        return submission_key(self.channel, self.channel_ref)


def submission_key(channel: str, channel_ref: str) -> str:
    """Kafka key of `complaints.submitted` and `complaints.rejected`."""
    return f"{channel}:{channel_ref}"
