"""Commands on `complaints.actions` (CONTRACT.md section 5)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .common import Actor, ContractModel, UtcDatetime


class ActionName(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REQUEST_INFO = "request_info"
    RESOLVE = "resolve"
    DECLINE = "decline"
    TRANSFER = "transfer"
    REPLY = "reply"
    CONFIRM = "confirm"
    REOPEN = "reopen"
    RATE = "rate"
    ASSIGN = "assign"
    REJECT = "reject"
    CLOSE = "close"
    AUTO_CLOSE = "auto_close"


class Action(ContractModel):
    action_id: str = Field(min_length=1, max_length=100)
    tracking_id: str = Field(min_length=1, max_length=40)
    occurred_at: UtcDatetime
    actor: Actor
    action: ActionName
    message: str | None = Field(default=None, max_length=10000)
    target_agency_id: str | None = Field(default=None, max_length=100)
    rating: int | None = Field(default=None, ge=1, le=5)
    citizen_secret: str | None = Field(default=None, max_length=200)
