"""Realistic sample submissions (mostly East Kutai, in Bahasa Indonesia) for the demo,
tests and benchmarks: what web forms, SMS, WhatsApp and call centres would publish."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

# (category, title, body) — typical LAPOR! reports.
TOPICS: list[tuple[str, str, str]] = [
    ("infrastructure.roads", "Jalan berlubang di poros Sangatta–Bengalon",
     "Jalan poros Sangatta–Bengalon KM 12 berlubang dalam dan tergenang air. Sudah dua "
     "pengendara motor jatuh minggu ini. Mohon segera diperbaiki sebelum musim hujan."),
    ("infrastructure.street_lighting", "Lampu jalan padam di Jl. Yos Sudarso",
     "Lampu penerangan jalan umum di sepanjang Jl. Yos Sudarso II padam sejak tiga minggu. "
     "Malam hari sangat gelap dan rawan kejahatan."),
    ("infrastructure.drainage", "Drainase tersumbat menyebabkan banjir",
     "Saluran drainase di RT 05 Desa Swarga Bara tersumbat sampah sehingga setiap hujan "
     "rumah warga kebanjiran setinggi lutut."),
    ("infrastructure.clean_water", "Air PDAM tidak mengalir",
     "Sudah lima hari air PDAM tidak mengalir di perumahan kami di Sangatta Selatan, padahal "
     "tagihan tetap datang. Mohon penjelasan dan perbaikan."),
    ("health.puskesmas", "Antrean Puskesmas terlalu lama",
     "Di Puskesmas Sangatta Utara pasien harus menunggu lebih dari empat jam, dokter hanya "
     "satu orang dan loket pendaftaran sering tutup saat jam istirahat."),
    ("health.hospital", "Pelayanan IGD RSUD lambat",
     "Ayah saya dibawa ke IGD RSUD Kudungga dalam kondisi sesak napas namun baru ditangani "
     "setelah dua jam. Mohon evaluasi pelayanan IGD."),
    ("health.bpjs", "Kartu BPJS tidak aktif padahal iuran dibayar",
     "Kartu BPJS Kesehatan keluarga kami dinyatakan tidak aktif saat berobat, padahal iuran "
     "sudah dibayar rutin melalui potongan gaji."),
    ("education.school_facilities", "Atap ruang kelas SD bocor",
     "Atap ruang kelas 4 dan 5 di SD Negara 002 Muara Wahau bocor parah. Saat hujan murid "
     "terpaksa belajar di teras sekolah."),
    ("education.enrollment", "Zonasi PPDB tidak transparan",
     "Anak kami tidak diterima di SMP terdekat padahal jarak rumah kurang dari satu kilometer. "
     "Mohon daftar hasil seleksi PPDB diumumkan secara terbuka."),
    ("population.ktp", "e-KTP belum jadi setelah tiga bulan",
     "Saya sudah merekam e-KTP di Disdukcapil tiga bulan lalu tetapi sampai sekarang belum "
     "dicetak dengan alasan blangko habis."),
    ("population.birth_certificate", "Pengurusan akta kelahiran dipersulit",
     "Pengurusan akta kelahiran anak kami diminta melengkapi surat yang tidak ada dalam "
     "persyaratan resmi. Mohon kejelasan prosedur."),
    ("social.aid", "Bantuan sosial tidak tepat sasaran",
     "Beberapa keluarga mampu di desa kami menerima bantuan sembako, sementara lansia yang "
     "tinggal sendiri tidak terdata sebagai penerima."),
    ("environment.waste", "Sampah menumpuk di pasar",
     "Sampah di Pasar Induk Sangatta tidak diangkut selama seminggu, menimbulkan bau busuk "
     "dan lalat yang mengganggu pedagang serta pembeli."),
    ("environment.mining", "Debu batu bara dari jalan hauling",
     "Truk batu bara melintas di jalan desa setiap malam dan debunya masuk ke rumah warga. "
     "Anak-anak mulai batuk-batuk. Mohon ditindak."),
    ("public_order.illegal_levies", "Pungutan liar di pelabuhan",
     "Ada oknum yang meminta uang parkir tanpa karcis resmi di kawasan pelabuhan Kenyamukan "
     "setiap hari. Mohon ditertibkan."),
    ("governance.village_funds", "Penggunaan dana desa tidak jelas",
     "Papan informasi penggunaan dana desa tidak pernah dipasang dan pembangunan jalan "
     "usaha tani tidak dikerjakan sesuai rencana."),
    ("communication.internet", "Tidak ada sinyal di desa",
     "Desa kami di Kecamatan Sandaran belum terjangkau sinyal seluler sehingga siswa kesulitan "
     "mengikuti pembelajaran daring."),
    ("transport.public_transport", "Angkutan umum berhenti beroperasi",
     "Trayek angkutan umum Sangatta–Teluk Lingga sudah dua bulan tidak beroperasi sehingga "
     "warga kesulitan ke pasar dan sekolah."),
]

EAST_KUTAI_DISTRICTS = ["64.08.04", "64.08.12", "64.08.09", "64.08.02", "64.08.05",
                        "64.08.14", "64.08.13", "64.08.01", "64.08.11"]
ELSEWHERE = ["64.72", "64.71", "64.02", "31.71", None]  # Samarinda, Balikpapan, Kukar, Jakarta
NAMES = ["Siti Rahmawati", "Budi Santoso", "Andi Pratama", "Nur Aisyah", "Yohanes Lado",
         "Rina Marlina", "Agus Salim", "Dewi Lestari", "Muhammad Rizki", "Fitri Handayani"]
CHANNELS = ["web", "sms", "whatsapp", "email", "mobile_app", "social", "call_center"]


def sample_submission(rng: random.Random | None = None, *, sequence: int | None = None,
                      email_domain: str = "warga.example.id") -> dict[str, Any]:
    rng = rng or random.Random()  # noqa: S311 - sample data, not security
    category, title, body = rng.choice(TOPICS)
    region = rng.choice(EAST_KUTAI_DISTRICTS) if rng.random() < 0.85 else rng.choice(ELSEWHERE)
    name = rng.choice(NAMES)
    handle = name.lower().replace(" ", ".")
    number = sequence if sequence is not None else rng.randrange(10**6)
    channel = rng.choice(CHANNELS)
    reporter: dict[str, Any] = {"name": name, "language": "en" if rng.random() < 0.1 else "id",
                                "anonymous": rng.random() < 0.1,
                                "confidential": rng.random() < 0.05}
    if channel in ("sms", "whatsapp", "call_center"):
        reporter["phone"] = f"08{rng.randrange(11, 59)}{rng.randrange(10**7, 10**8)}"
    if channel != "sms" or rng.random() < 0.3:
        reporter["email"] = f"{handle}.{number}@{email_domain}"
    submission: dict[str, Any] = {
        "channel": channel,
        "channel_ref": f"{channel}-{uuid.UUID(int=rng.getrandbits(128))}",
        "submitted_at": datetime.now(UTC).isoformat(),
        "kind": "complaint",
        "title": title,
        "body": body,
        "category": category,
        "reporter": reporter,
    }
    if region:
        submission["region_code"] = region
    return submission
