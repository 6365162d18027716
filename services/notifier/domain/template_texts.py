"""Notification wording, Bahasa Indonesia and English. Data only; `templates.py` renders it.

Placeholders are `string.Template` names (`$tracking_id`). A block is shown only when every
placeholder it uses (plus `needs`) has a value, and `unless` (if set) has none: that is how
optional facts and their fallback sentences are expressed without any template logic.
SMS texts must stay in the GSM-7 alphabet (a unit test checks it) and carry at most one
`$message`, the only part that may be shortened to fit the segment budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contract import Language

BlockKind = Literal["p", "fact", "quote"]


@dataclass(frozen=True)
class Block:
    text: str
    kind: BlockKind = "p"  # fact: values shown bold in HTML; quote: free text, line breaks kept
    needs: tuple[str, ...] = ()
    unless: str | None = None


@dataclass(frozen=True)
class TemplateText:
    subject: str
    blocks: tuple[Block, ...]
    sms: str | None = None  # None: email only (agency alerts)
    sms_without_message: str | None = None  # used when the optional `message` is empty


def quoted(label: str, key: str = "message") -> tuple[Block, Block]:
    """A label line followed by a free-text value, both shown only when the value exists."""
    return Block(label, needs=(key,)), Block(f"${key}", kind="quote")


ID, EN = Language.ID, Language.EN

TRACK_ID = Block("Pantau perkembangan laporan Anda di: $tracking_url")
TRACK_EN = Block("Follow your report at: $tracking_url")
REPLY_HOW_ID = (
    "kirim tanggapan melalui kanal tempat Anda melapor dengan menyertakan nomor pelacakan "
    "$tracking_id dan kode rahasia yang kami kirimkan saat laporan Anda diterima."
)
REPLY_HOW_EN = (
    "send your response through the channel you used to report, quoting tracking number "
    "$tracking_id and the secret code we sent you when your report was received."
)
TITLE_ID = Block("Judul laporan: $title", kind="fact")
TITLE_EN = Block("Report title: $title", kind="fact")

FOOTER = {
    ID: "Pesan ini dikirim otomatis oleh LAPOR! (Layanan Aspirasi dan Pengaduan Online Rakyat). "
        "Petugas tidak akan pernah meminta kode rahasia Anda.",
    EN: "This message was sent automatically by LAPOR! (the Indonesian public complaints "
        "service). Staff will never ask for your secret code.",
}
AGENCY_FOOTER = {
    ID: "Pesan otomatis pemantauan batas waktu layanan LAPOR! untuk instansi.",
    EN: "Automatic service-level monitoring message from LAPOR! for agencies.",
}

TEXTS: dict[str, dict[Language, TemplateText]] = {
    "acknowledgement": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan Anda telah diterima - $tracking_id",
            blocks=(
                Block("Terima kasih. Laporan Anda telah kami terima dan akan diteruskan kepada "
                      "instansi yang berwenang."),
                TITLE_ID,
                Block("Kategori: $category_label", kind="fact"),
                *quoted("Isi laporan:", "body"),
                Block("Nomor pelacakan: $tracking_id", kind="fact"),
                Block("Kode rahasia: $citizen_secret", kind="fact"),
                Block("Simpan kode rahasia ini dan jangan bagikan kepada siapa pun, termasuk "
                      "petugas. Kode ini membuktikan bahwa Anda adalah pelapor."),
                Block("Laporan ini mungkin sama dengan laporan $possible_duplicate_of; "
                      "keduanya tetap kami periksa."),
                TRACK_ID,
                Block("Untuk membalas permintaan informasi, mengonfirmasi penyelesaian, membuka "
                      "kembali, atau menilai laporan, kirim tanggapan melalui kanal tempat Anda "
                      "melapor dengan menyertakan nomor pelacakan $tracking_id dan kode rahasia "
                      "di atas."),
            ),
            sms="LAPOR! Laporan Anda diterima.\nNo. pelacakan: $tracking_id\n"
                "Kode rahasia: $citizen_secret (jangan dibagikan)\n"
                "Balas/konfirmasi lewat kanal pelaporan Anda dgn no. pelacakan & kode rahasia.\n"
                "Pantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Your report has been received - $tracking_id",
            blocks=(
                Block("Thank you. We have received your report and will forward it to the "
                      "responsible agency."),
                TITLE_EN,
                Block("Category: $category_label", kind="fact"),
                *quoted("Your report:", "body"),
                Block("Tracking number: $tracking_id", kind="fact"),
                Block("Secret code: $citizen_secret", kind="fact"),
                Block("Keep this secret code and do not share it with anyone, including staff. "
                      "It proves that you are the reporter."),
                Block("This report may duplicate report $possible_duplicate_of; we will "
                      "review both."),
                TRACK_EN,
                Block("To answer a request for information, confirm a resolution, reopen or "
                      "rate your report, send your response through the channel you used to "
                      "report, quoting tracking number $tracking_id and the secret code above."),
            ),
            sms="LAPOR! Your report was received.\nTracking no.: $tracking_id\n"
                "Secret code: $citizen_secret (keep it private)\n"
                "Reply/confirm via the channel you reported through with tracking no. & "
                "secret code.\nTrack: $tracking_url",
        ),
    },
    "triage": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan $tracking_id sedang ditelaah",
            blocks=(
                Block("Laporan Anda ($tracking_id) sedang ditelaah oleh admin LAPOR! untuk "
                      "menentukan instansi yang berwenang."),
                TITLE_ID,
                TRACK_ID,
            ),
            sms="LAPOR! Laporan $tracking_id sedang ditelaah admin untuk menentukan instansi "
                "berwenang.\nPantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Report $tracking_id is under review",
            blocks=(
                Block("Your report ($tracking_id) is being reviewed by a LAPOR! administrator "
                      "to find the responsible agency."),
                TITLE_EN,
                TRACK_EN,
            ),
            sms="LAPOR! Report $tracking_id is being reviewed by an administrator to find the "
                "responsible agency.\nTrack: $tracking_url",
        ),
    },
    "assigned": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan $tracking_id diteruskan ke $agency_name",
            blocks=(
                Block("Laporan Anda ($tracking_id) telah diteruskan kepada $agency_name untuk "
                      "ditindaklanjuti."),
                TITLE_ID,
                *quoted("Catatan:"),
                TRACK_ID,
            ),
            sms="LAPOR! Laporan $tracking_id telah diteruskan ke $agency_name untuk "
                "ditindaklanjuti.\nPantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Report $tracking_id forwarded to $agency_name",
            blocks=(
                Block("Your report ($tracking_id) has been forwarded to $agency_name for "
                      "follow-up."),
                TITLE_EN,
                *quoted("Note:"),
                TRACK_EN,
            ),
            sms="LAPOR! Report $tracking_id was forwarded to $agency_name for follow-up.\n"
                "Track: $tracking_url",
        ),
    },
    "in_progress": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan $tracking_id sedang ditindaklanjuti",
            blocks=(
                Block("$agency_name sedang menindaklanjuti laporan Anda ($tracking_id)."),
                TITLE_ID,
                *quoted("Rencana tindak lanjut:"),
                TRACK_ID,
            ),
            sms="LAPOR! $agency_name menindaklanjuti laporan $tracking_id. Rencana: $message\n"
                "Pantau: $tracking_url",
            sms_without_message="LAPOR! $agency_name sedang menindaklanjuti laporan "
                                "$tracking_id.\nPantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Report $tracking_id is being followed up",
            blocks=(
                Block("$agency_name is following up your report ($tracking_id)."),
                TITLE_EN,
                *quoted("Follow-up plan:"),
                TRACK_EN,
            ),
            sms="LAPOR! $agency_name is following up report $tracking_id. Plan: $message\n"
                "Track: $tracking_url",
            sms_without_message="LAPOR! $agency_name is following up report $tracking_id.\n"
                                "Track: $tracking_url",
        ),
    },
    "waiting_citizen": {
        ID: TemplateText(
            subject="[LAPOR!] Informasi tambahan diperlukan untuk laporan $tracking_id",
            blocks=(
                Block("$agency_name memerlukan informasi tambahan dari Anda untuk "
                      "menindaklanjuti laporan $tracking_id."),
                TITLE_ID,
                *quoted("Informasi yang diminta:"),
                Block("Rincian permintaan dapat dilihat di halaman pelacakan.", unless="message"),
                Block(f"Cara membalas: {REPLY_HOW_ID}"),
                Block("Batas waktu penanganan dihentikan sementara sampai Anda membalas."),
                TRACK_ID,
            ),
            sms="LAPOR! $agency_name meminta info tambahan utk laporan $tracking_id: $message\n"
                "Balas lewat kanal pelaporan Anda dgn no. pelacakan & kode rahasia.\n"
                "Pantau: $tracking_url",
            sms_without_message="LAPOR! $agency_name meminta info tambahan utk laporan "
                                "$tracking_id.\nBalas lewat kanal pelaporan Anda dgn no. "
                                "pelacakan & kode rahasia.\nPantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] More information needed for report $tracking_id",
            blocks=(
                Block("$agency_name needs more information from you to follow up report "
                      "$tracking_id."),
                TITLE_EN,
                *quoted("Information requested:"),
                Block("The details of the request are on the tracking page.", unless="message"),
                Block(f"How to reply: {REPLY_HOW_EN}"),
                Block("The handling deadline is paused until you reply."),
                TRACK_EN,
            ),
            sms="LAPOR! $agency_name needs more info on report $tracking_id: $message\n"
                "Reply via the channel you reported through with tracking no. & secret code.\n"
                "Track: $tracking_url",
            sms_without_message="LAPOR! $agency_name needs more info on report $tracking_id.\n"
                                "Reply via the channel you reported through with tracking no. "
                                "& secret code.\nTrack: $tracking_url",
        ),
    },
    "resolved": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan $tracking_id telah ditindaklanjuti",
            blocks=(
                Block("$agency_name menyatakan laporan Anda ($tracking_id) telah selesai "
                      "ditindaklanjuti."),
                TITLE_ID,
                *quoted("Jawaban instansi:"),
                Block("Jika Anda puas, konfirmasi penyelesaian; jika belum, buka kembali laporan "
                      f"dan jelaskan alasannya. Untuk itu, {REPLY_HOW_ID}"),
                Block("Jika tidak ada tanggapan, laporan akan ditutup otomatis setelah batas "
                      "waktu."),
                TRACK_ID,
            ),
            sms="LAPOR! Laporan $tracking_id dinyatakan selesai oleh $agency_name: $message\n"
                "Konfirmasi atau buka kembali lewat kanal pelaporan Anda dgn no. pelacakan & "
                "kode rahasia.\nPantau: $tracking_url",
            sms_without_message="LAPOR! Laporan $tracking_id dinyatakan selesai oleh "
                                "$agency_name.\nKonfirmasi atau buka kembali lewat kanal "
                                "pelaporan Anda dgn no. pelacakan & kode rahasia.\n"
                                "Pantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Report $tracking_id has been resolved",
            blocks=(
                Block("$agency_name reports that your report ($tracking_id) has been "
                      "resolved."),
                TITLE_EN,
                *quoted("The agency's answer:"),
                Block("If you are satisfied, confirm the resolution; if not, reopen the report "
                      f"and tell us why. To do either, {REPLY_HOW_EN}"),
                Block("Without a response, the report will be closed automatically after the "
                      "deadline."),
                TRACK_EN,
            ),
            sms="LAPOR! $agency_name resolved report $tracking_id: $message\n"
                "Confirm or reopen via the channel you reported through with tracking no. & "
                "secret code.\nTrack: $tracking_url",
            sms_without_message="LAPOR! $agency_name resolved report $tracking_id.\n"
                                "Confirm or reopen via the channel you reported through with "
                                "tracking no. & secret code.\nTrack: $tracking_url",
        ),
    },
    "closed": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan $tracking_id telah ditutup",
            blocks=(
                Block("Laporan Anda ($tracking_id) telah ditutup."),
                TITLE_ID,
                Block("Instansi penanggung jawab: $agency_name", kind="fact"),
                *quoted("Keterangan:"),
                Block("Anda dapat memberi penilaian 1 sampai 5 atas penanganan laporan ini: "
                      f"{REPLY_HOW_ID}"),
                Block("Terima kasih telah menggunakan LAPOR!."),
                TRACK_ID,
            ),
            sms="LAPOR! Laporan $tracking_id telah ditutup. Keterangan: $message\n"
                "Beri nilai 1-5 lewat kanal pelaporan Anda dgn no. pelacakan & kode rahasia. "
                "Terima kasih.\nPantau: $tracking_url",
            sms_without_message="LAPOR! Laporan $tracking_id telah ditutup.\nBeri nilai 1-5 "
                                "lewat kanal pelaporan Anda dgn no. pelacakan & kode rahasia. "
                                "Terima kasih.\nPantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Report $tracking_id has been closed",
            blocks=(
                Block("Your report ($tracking_id) has been closed."),
                TITLE_EN,
                Block("Responsible agency: $agency_name", kind="fact"),
                *quoted("Note:"),
                Block(f"You can rate the handling of this report from 1 to 5: {REPLY_HOW_EN}"),
                Block("Thank you for using LAPOR!."),
                TRACK_EN,
            ),
            sms="LAPOR! Report $tracking_id is closed. Note: $message\n"
                "Rate it 1-5 via the channel you reported through with tracking no. & secret "
                "code. Thank you.\nTrack: $tracking_url",
            sms_without_message="LAPOR! Report $tracking_id is closed.\nRate it 1-5 via the "
                                "channel you reported through with tracking no. & secret code. "
                                "Thank you.\nTrack: $tracking_url",
        ),
    },
    "rejected": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan $tracking_id tidak dapat diproses",
            blocks=(
                Block("Mohon maaf, laporan Anda ($tracking_id) tidak dapat diproses lebih "
                      "lanjut."),
                TITLE_ID,
                *quoted("Alasan:"),
                Block("Laporan tidak memenuhi ketentuan layanan LAPOR!.", unless="message"),
                Block("Anda dapat mengirim laporan baru dengan informasi yang lebih lengkap."),
                TRACK_ID,
            ),
            sms="LAPOR! Laporan $tracking_id tidak dapat diproses. Alasan: $message\n"
                "Info: $tracking_url",
            sms_without_message="LAPOR! Laporan $tracking_id tidak dapat diproses karena tidak "
                                "memenuhi ketentuan layanan.\nInfo: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Report $tracking_id cannot be processed",
            blocks=(
                Block("We are sorry, your report ($tracking_id) cannot be processed further."),
                TITLE_EN,
                *quoted("Reason:"),
                Block("The report does not meet the LAPOR! service rules.", unless="message"),
                Block("You may submit a new report with more complete information."),
                TRACK_EN,
            ),
            sms="LAPOR! Report $tracking_id cannot be processed. Reason: $message\n"
                "Info: $tracking_url",
            sms_without_message="LAPOR! Report $tracking_id cannot be processed as it does not "
                                "meet the service rules.\nInfo: $tracking_url",
        ),
    },
    "escalated": {
        ID: TemplateText(
            subject="[LAPOR!] Laporan $tracking_id dieskalasi ke $escalated_to_agency_name",
            blocks=(
                Block("Laporan Anda ($tracking_id) belum ditindaklanjuti oleh $agency_name "
                      "dalam batas waktu layanan."),
                Block("Laporan Anda ($tracking_id) belum ditindaklanjuti dalam batas waktu "
                      "layanan.", unless="agency_name"),
                Block("Karena itu laporan telah dieskalasi kepada $escalated_to_agency_name "
                      "untuk diawasi dan dipercepat penanganannya."),
                TITLE_ID,
                TRACK_ID,
            ),
            sms="LAPOR! Laporan $tracking_id belum ditindaklanjuti tepat waktu dan telah "
                "dieskalasi ke $escalated_to_agency_name.\nPantau: $tracking_url",
        ),
        EN: TemplateText(
            subject="[LAPOR!] Report $tracking_id escalated to $escalated_to_agency_name",
            blocks=(
                Block("Your report ($tracking_id) was not handled by $agency_name within the "
                      "service deadline."),
                Block("Your report ($tracking_id) was not handled within the service deadline.",
                      unless="agency_name"),
                Block("It has therefore been escalated to $escalated_to_agency_name, which will "
                      "oversee and speed up its handling."),
                TITLE_EN,
                TRACK_EN,
            ),
            sms="LAPOR! Report $tracking_id was not handled in time and has been escalated to "
                "$escalated_to_agency_name.\nTrack: $tracking_url",
        ),
    },
    # Agency alerts: email only, and no reporter data by construction (see templates.SPECS).
    "agency_sla_warning": {
        ID: TemplateText(
            subject="[LAPOR!] Peringatan batas waktu $threshold_percent%: laporan $tracking_id",
            blocks=(
                Block("Kepada $agency_name,"),
                Block("Laporan $tracking_id telah menggunakan $threshold_percent% dari batas "
                      "waktu tahap $stage_label."),
                Block("Batas waktu: $due_local", kind="fact"),
                Block("Mohon segera ditindaklanjuti agar tidak melewati batas waktu dan "
                      "dieskalasi ke instansi di atasnya."),
                Block("Status publik laporan: $tracking_url"),
            ),
        ),
        EN: TemplateText(
            subject="[LAPOR!] Deadline warning $threshold_percent%: report $tracking_id",
            blocks=(
                Block("To $agency_name,"),
                Block("Report $tracking_id has used $threshold_percent% of the time allowed for "
                      "the $stage_label stage."),
                Block("Deadline: $due_local", kind="fact"),
                Block("Please act now so that it does not pass the deadline and get escalated "
                      "to the supervising agency."),
                Block("Public status of the report: $tracking_url"),
            ),
        ),
    },
    "agency_sla_breached": {
        ID: TemplateText(
            subject="[LAPOR!] Batas waktu terlampaui (level $level): laporan $tracking_id",
            blocks=(
                Block("Kepada $escalated_to_agency_name,"),
                Block("Laporan $tracking_id telah melewati batas waktu tahap $stage_label."),
                Block("Batas waktu: $due_local", kind="fact"),
                Block("Keterlambatan: $overdue", kind="fact"),
                Block("Instansi penanggung jawab: $agency_name", kind="fact"),
                Block("Eskalasi level $level: laporan ini dieskalasi kepada "
                      "$escalated_to_agency_name. Mohon segera ditindaklanjuti atau diawasi "
                      "penanganannya."),
                Block("Status publik laporan: $tracking_url"),
            ),
        ),
        EN: TemplateText(
            subject="[LAPOR!] Deadline passed (level $level): report $tracking_id",
            blocks=(
                Block("To $escalated_to_agency_name,"),
                Block("Report $tracking_id has passed the deadline of the $stage_label stage."),
                Block("Deadline: $due_local", kind="fact"),
                Block("Overdue by: $overdue", kind="fact"),
                Block("Responsible agency: $agency_name", kind="fact"),
                Block("Escalation level $level: this report is escalated to "
                      "$escalated_to_agency_name. Please act on it or oversee its handling "
                      "now."),
                Block("Public status of the report: $tracking_url"),
            ),
        ),
    },
}
