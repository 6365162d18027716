"""Rendering notifications: email (subject, plain text, HTML) and SMS, per template and language.

Safety rules live here, not in the wording:
- a template sees only the context keys it declares (SPECS), so agency alerts cannot show
  reporter data even when a caller passes it;
- every value is HTML-escaped in the HTML part; the plain-text part and SMS keep it verbatim;
- subjects are single-line (no header injection through a value);
- SMS fits `SMS_MAX_SEGMENTS`, shortening only the free-text `message`.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from string import Template
from typing import Literal
from urllib.parse import quote

from shared.contract import Language

from .formatting import format_duration, format_local_time, percent, stage_label
from .sms import fit_sms, sms_friendly
from .template_texts import AGENCY_FOOTER, FOOTER, TEXTS, Block, BlockKind, TemplateText

SMS_MAX_SEGMENTS = 3

Audience = Literal["citizen", "agency"]


class TemplateId(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    TRIAGE = "triage"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_CITIZEN = "waiting_citizen"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    AGENCY_SLA_WARNING = "agency_sla_warning"
    AGENCY_SLA_BREACHED = "agency_sla_breached"


@dataclass(frozen=True)
class TemplateSpec:
    audience: Audience
    required: frozenset[str]
    optional: frozenset[str] = frozenset()

    @property
    def keys(self) -> frozenset[str]:
        return self.required | self.optional


def _citizen(required: Iterable[str] = (), optional: Iterable[str] = ()) -> TemplateSpec:
    return TemplateSpec(
        "citizen", frozenset({"tracking_id", "public_base_url", *required}),
        frozenset({"title", *optional}),
    )


SPECS: dict[TemplateId, TemplateSpec] = {
    TemplateId.ACKNOWLEDGEMENT: _citizen(
        {"citizen_secret"}, {"body", "category_label", "possible_duplicate_of"}
    ),
    TemplateId.TRIAGE: _citizen(),
    TemplateId.ASSIGNED: _citizen({"agency_name"}, {"message"}),
    TemplateId.IN_PROGRESS: _citizen({"agency_name"}, {"message"}),
    TemplateId.WAITING_CITIZEN: _citizen({"agency_name"}, {"message"}),
    TemplateId.RESOLVED: _citizen({"agency_name"}, {"message"}),
    TemplateId.CLOSED: _citizen((), {"message", "agency_name"}),
    TemplateId.REJECTED: _citizen((), {"message"}),
    TemplateId.ESCALATED: _citizen({"escalated_to_agency_name"}, {"agency_name", "level"}),
    # Agency alerts declare no reporter key at all: identity cannot leak by construction.
    TemplateId.AGENCY_SLA_WARNING: TemplateSpec(
        "agency",
        frozenset({"tracking_id", "stage", "threshold", "due_at", "timezone", "agency_name"}),
        frozenset({"public_base_url"}),
    ),
    TemplateId.AGENCY_SLA_BREACHED: TemplateSpec(
        "agency",
        frozenset({"tracking_id", "stage", "level", "due_at", "overdue_seconds", "timezone",
                   "escalated_to_agency_name"}),
        frozenset({"agency_name", "public_base_url"}),
    ),
}
# Free text typed by citizens or agencies: the only values the SMS may shorten.
FREE_TEXT_KEYS = frozenset({"title", "body", "message"})
# Values that are safe and useful as links in HTML.
LINK_KEYS = frozenset({"tracking_url"})


class MissingContext(KeyError):
    """A required context key is absent or empty."""


@dataclass(frozen=True)
class EmailMessageContent:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class SmsContent:
    text: str


@dataclass(frozen=True)
class RenderedNotification:
    template: TemplateId
    language: Language
    email: EmailMessageContent
    sms: SmsContent | None  # None for email-only (agency) templates


def tracking_url(public_base_url: str, tracking_id: str) -> str:
    """The public tracking endpoint (router, CONTRACT section 7)."""
    return f"{public_base_url.rstrip('/')}/v1/complaints/{quote(tracking_id, safe='')}"


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _values(spec: TemplateSpec, language: Language, context: Mapping[str, object]
            ) -> dict[str, str]:
    """Declared keys only, checked, plus derived display values."""
    picked = {k: context[k] for k in spec.keys if _present(context.get(k))}
    missing = sorted(spec.required - picked.keys())
    if missing:
        raise MissingContext(f"missing context for template: {', '.join(missing)}")
    values = {k: v if isinstance(v, str) else str(v) for k, v in picked.items()}
    if "public_base_url" in picked:
        base = str(picked["public_base_url"])
        if not base.startswith(("https://", "http://")):
            raise ValueError("public_base_url must be an http(s) URL")
        values["tracking_url"] = tracking_url(base, values["tracking_id"])
    if "stage" in picked:
        values["stage_label"] = stage_label(values["stage"], language)
    if "threshold" in picked:
        values["threshold_percent"] = percent(picked["threshold"])  # type: ignore[arg-type]
    if "due_at" in picked:
        due = picked["due_at"]
        moment = due if isinstance(due, datetime | str) else str(due)
        values["due_local"] = format_local_time(moment, values["timezone"], language)
    if "overdue_seconds" in picked:
        values["overdue"] = format_duration(float(values["overdue_seconds"]), language)
    return values


@functools.lru_cache(maxsize=1024)  # the templates' own texts: a fixed, small set
def _compiled(text: str, html_kind: BlockKind | None = None) -> tuple[str, frozenset[str]]:
    """A template text (`string.Template` syntax) as a `str.format_map` pattern, and its
    placeholders. `Template.substitute` runs a Python callback per placeholder; the
    pattern is filled in C (a quarter of an acknowledgement e-mail's rendering went into it).
    With `html_kind`, each placeholder is shown as a block of that kind shows its value
    in HTML (over `_html_values`)."""
    parts: list[str] = []
    names: set[str] = set()
    end = 0
    for match in Template.pattern.finditer(text):
        parts.append(_literal(text[end:match.start()]))
        name = match.group("named") or match.group("braced")
        if name:
            parts.append(_field(name, html_kind))
            names.add(name)
        elif match.group("escaped") is not None:
            parts.append("$")
        else:
            raise ValueError(f"invalid placeholder in template text at {match.start()}: "
                             f"{text!r}")
        end = match.end()
    parts.append(_literal(text[end:]))
    return "".join(parts), frozenset(names)


def _field(name: str, html_kind: BlockKind | None) -> str:
    if html_kind is not None and name in LINK_KEYS:
        return f'<a href="{{{_href(name)}}}">{{{name}}}</a>'
    if html_kind == "fact":
        return f"<strong>{{{name}}}</strong>"
    return f"{{{name}}}"


def _href(key: str) -> str:
    return f"{key}-href"  # no `$` placeholder has this name: it cannot hold a `-`


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`Template(text).substitute(values)`, from the compiled pattern (KeyError for a
    missing value, as `substitute` raises)."""
    return _compiled(text)[0].format_map(values)


@dataclass(frozen=True)
class _CompiledBlock:
    """A block, ready to fill: when it shows, and its plain-text and HTML patterns."""

    needed: frozenset[str]  # its placeholders and `needs`
    unless: str | None
    plain: str
    html: str

    @classmethod
    def of(cls, block: Block) -> _CompiledBlock:
        plain, names = _compiled(block.text)
        html_pattern = _compiled(html.escape(block.text, quote=False), block.kind)[0]
        if block.kind == "quote":
            html_pattern = ('<blockquote style="margin:0 0 1em;padding:.5em 1em;'
                            f'border-left:4px solid #b00;background:#f6f6f6">{html_pattern}'
                            "</blockquote>")
        else:
            html_pattern = f"<p>{html_pattern}</p>"
        return cls(names | frozenset(block.needs), block.unless, plain, html_pattern)

    def visible(self, values: Mapping[str, str]) -> bool:
        return self.needed <= values.keys() and (self.unless is None
                                                 or self.unless not in values)


@functools.lru_cache(maxsize=256)  # per template and language: a fixed, small set
def _blocks(template: TemplateId, language: Language) -> tuple[_CompiledBlock, ...]:
    """The blocks of a template's text, compiled once. (Static wording is ours but is
    HTML-escaped too: `$` placeholders survive `html.escape`.)"""
    return tuple(_CompiledBlock.of(block) for block in TEXTS[template.value][language].blocks)


def _html_values(values: Mapping[str, str]) -> dict[str, str]:
    """Every value HTML-escaped (line breaks kept as `<br>`), and each link's `href`."""
    shown = {k: html.escape(v, quote=True).replace("\n", "<br>\n") for k, v in values.items()}
    for key in LINK_KEYS & values.keys():
        shown[_href(key)] = html.escape(values[key], quote=True)
    return shown


def _single_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _email(template: TemplateId, language: Language, audience: Audience,
           values: Mapping[str, str]) -> EmailMessageContent:
    subject = _single_line(substitute(TEXTS[template.value][language].subject, values))
    blocks = [b for b in _blocks(template, language) if b.visible(values)]
    footer = (FOOTER if audience == "citizen" else AGENCY_FOOTER)[language]
    plain = "\n\n".join(b.plain.format_map(values) for b in blocks)
    shown = _html_values(values)
    body = "\n".join(b.html.format_map(shown) for b in blocks)
    page = (
        f'<!DOCTYPE html>\n<html lang="{language.value}">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;line-height:1.5;color:#222">\n'
        f"{body}\n"
        f'<p style="color:#666;font-size:12px">{html.escape(footer)}</p>\n</body>\n</html>\n'
    )
    return EmailMessageContent(subject=subject, text=f"{plain}\n\n-- \n{footer}\n", html=page)


def _sms(text: TemplateText, values: Mapping[str, str]) -> SmsContent | None:
    pattern = text.sms if "message" in values or not text.sms_without_message \
        else text.sms_without_message
    if pattern is None:
        return None
    # Names go through the GSM-7 friendly filter; ids, secret and URL are never altered.
    sms_values = {
        k: sms_friendly(v) if k in FREE_TEXT_KEYS or k.endswith("agency_name") else v
        for k, v in values.items()
    }
    before, has_message, after = pattern.partition("$message")
    return SmsContent(fit_sms(
        substitute(before, sms_values),
        sms_values.get("message", "") if has_message else "",
        substitute(after, sms_values),
        max_segments=SMS_MAX_SEGMENTS,
    ))


def render(template_id: TemplateId | str, language: Language | str,
           context: Mapping[str, object], *, for_channel: str | None = None
           ) -> RenderedNotification:
    """Render one notification. Unknown context keys are ignored (never shown).
    `for_channel="email"` leaves out the SMS form (one e-mail needs none)."""
    template = TemplateId(template_id)
    lang = Language(language)
    spec = SPECS[template]
    text = TEXTS[template.value][lang]
    values = _values(spec, lang, context)
    return RenderedNotification(
        template=template,
        language=lang,
        email=_email(template, lang, spec.audience, values),
        sms=_sms(text, values) if spec.audience == "citizen" and for_channel != "email"
        else None,
    )
