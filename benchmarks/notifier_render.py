"""Benchmark (not a test): the notifier's CPU per message before it reaches SMTP, per
template: rendering the e-mail (`render`) and writing its bytes (`build_email`).

    .venv/bin/python -m benchmarks.notifier_render [--n 3000]
"""

from __future__ import annotations

import argparse
import time

from services.notifier.adapters.smtp import build_email
from services.notifier.domain.templates import render

TRACKING_ID = "5QGP-3MPT-R"
CONTEXTS: dict[str, dict[str, object]] = {
    "acknowledgement": {
        "reporter_name": "Siti Aminah", "title": "Jalan rusak di depan pasar",
        "category_label": "Infrastruktur / Jalan", "citizen_secret": "K57DJ-GNMP2"},
    "assigned": {"agency_name": "Dinas Pekerjaan Umum dan Penataan Ruang"},
}


def per_call(fn: object, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    for template, extra in CONTEXTS.items():
        context = {"tracking_id": TRACKING_ID, "public_base_url": "https://lapor.example.id",
                   **extra}
        rendered = render(template, "id", context, for_channel="email")
        content = rendered.email

        def build(content: object = content) -> object:
            return build_email(sender="LAPOR! <noreply@lapor.go.id>", to="warga@example.id",
                               subject=content.subject, text=content.text,  # type: ignore[attr-defined]
                               html=content.html, message_id="<m@lapor.go.id>",  # type: ignore[attr-defined]
                               tracking_id=TRACKING_ID, language="id")

        rendering = per_call(lambda t=template, c=context: render(t, "id", c, for_channel="email"),
                             args.n)
        building = per_call(build, args.n)
        print(f"  {template:16s} render {rendering:6.1f} µs   build_email {building:6.1f} µs")


if __name__ == "__main__":
    main()
