"""Shared sample data for the notifier's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notifier.domain.planning import AgencyContact

TRACKING_ID = "7KQ2-M9XD-4"  # intake format XXXX-XXXX-C
SECRET = "K7Q2X-P944Z"  # noqa: S105 - a sample citizen secret, not a credential
BASE_URL = "https://lapor.example.go.id"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
LONG_AGENCY = (
    "Dinas Komunikasi, Informatika, Statistik dan Persandian (Diskominfo Perstik) "
    "Kabupaten Kutai Timur"
)
DUE_AT = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)  # 17.00 WITA

REPORTER_LEAKS = {
    "reporter_name": "Budi Santoso",
    "reporter_email": "budi.santoso@example.com",
    "reporter_phone": "+6281234567890",
    "name": "Budi Santoso",
    "email": "budi.santoso@example.com",
    "phone": "+6281234567890",
    "nik": "6408041234567890",
    "reporter": {"name": "Budi Santoso", "email": "budi.santoso@example.com"},
}
REPORTER_FRAGMENTS = ("Budi", "Santoso", "budi.santoso", "example.com", "6281234567890",
                      "6408041234567890")

AGENCIES = {
    a.id: a
    for a in (
        AgencyContact("kutim-pupr", "Dinas Pekerjaan Umum dan Penataan Ruang Kabupaten Kutai "
                      "Timur", "Asia/Makassar", "dpu@kutaitimurkab.go.id", "+62549021003"),
        AgencyContact("pemkab-kutim", "Pemerintah Kabupaten Kutai Timur", "Asia/Makassar",
                      "pengaduan@kutaitimurkab.go.id", "+62549021001"),
        AgencyContact("kemenpanrb", "Kementerian Pendayagunaan Aparatur Negara dan Reformasi "
                      "Birokrasi", "Asia/Jakarta", "pengaduan@menpan.go.id", None),
        AgencyContact("no-mail", "Kantor Tanpa Email", "Asia/Jayapura", None, "+62967000000"),
    )
}

# Minimal valid context of every template (user-facing values are safe here).
CONTEXTS: dict[str, dict[str, object]] = {
    "acknowledgement": {"citizen_secret": SECRET, "title": "Jalan rusak",
                        "body": "Jalan di depan pasar rusak parah sejak Januari.",
                        "category_label": "Infrastruktur"},
    "triage": {},
    "assigned": {"agency_name": "Dinas PUPR Kutai Timur"},
    "in_progress": {"agency_name": "Dinas PUPR Kutai Timur",
                    "message": "Tim akan memperbaiki jalan minggu depan."},
    "waiting_citizen": {"agency_name": "Dinas PUPR Kutai Timur",
                        "message": "Mohon kirim foto lokasi."},
    "resolved": {"agency_name": "Dinas PUPR Kutai Timur", "message": "Jalan sudah diaspal."},
    "closed": {"message": "Ditutup otomatis."},
    "rejected": {"message": "Laporan berisi iklan."},
    "escalated": {"agency_name": "Dinas PUPR Kutai Timur",
                  "escalated_to_agency_name": "Pemerintah Kabupaten Kutai Timur", "level": 2},
    "agency_sla_warning": {"stage": "response", "threshold": 0.75, "due_at": DUE_AT,
                           "timezone": "Asia/Makassar", "agency_name": "Dinas PUPR Kutai Timur"},
    "agency_sla_breached": {"stage": "resolution", "level": 2, "due_at": DUE_AT,
                            "overdue_seconds": 2 * 86400 + 3 * 3600, "timezone": "Asia/Makassar",
                            "agency_name": "Dinas PUPR Kutai Timur",
                            "escalated_to_agency_name": "Pemerintah Kabupaten Kutai Timur"},
}


def context(template: str, **extra: object) -> dict[str, object]:
    return {"tracking_id": TRACKING_ID, "public_base_url": BASE_URL,
            **CONTEXTS[template], **extra}
