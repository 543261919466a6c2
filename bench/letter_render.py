"""Rendering the letters to PDF (WeasyPrint): median and p95 of each kind, in French (target: median <= 0.5 s).

    .venv/bin/python bench/letter_render.py            # 20 renders of each kind, after one warm-up render

Each letter is rendered from a real request built through the services (a database of its own, dropped at
the end), with ``dsar.services.fulfilment.letters.render_letter`` — what a staff action, a professional's
answer or the API does in its transaction. The first render of a process also loads the fonts: it is reported on its own.

Since issue 19 item 10 the layout runs in a long-lived child (``dsar.letter_renderer``); ``--child-per-letter``
recycles it after every letter, to measure what one process per letter would cost.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

sys.path.insert(0, str(h.ROOT / "tests"))


def build_requests(policy):
    """One request per letter kind, in the state that letter is written in."""
    from dsar.actors import Actor
    from dsar.extensions import db
    from dsar.models import utcnow
    from dsar.pdf import ANSWER_KINDS, LETTER_KINDS
    from dsar.services import actions, fulfilment
    from factories import make_request, make_staff
    from fulfilment_support import add_answer_files

    staff = make_staff("dpo")
    actor = Actor.for_staff(staff)
    out = {}
    for kind in LETTER_KINDS:
        rtype = kind.removeprefix("answer_") if kind in ANSWER_KINDS else "access"
        if kind == "recipients_list":
            rtype = "rectification"
        req = make_request(policy=policy, type=rtype, status="open", received_at=utcnow(),
                           subject_kind="professional", details="Je souhaite recevoir une copie de mes données.")
        if kind == "clarification":
            actions.ask_clarification(req, actor, question="Quel compte utilisez-vous pour vous connecter ?")
        if kind == "extension":
            req.extension_reason = "Le nombre de dossiers à rassembler est important."
            req.extended_due_date = req.due_date
        if kind == "refusal":
            req.refusal_reasons = "La demande est manifestement excessive (RGPD art. 12(5))."
        if kind == "answer_access":
            add_answer_files(req, actor, policy)
        if kind in ANSWER_KINDS or kind == "recipients_list":
            req.outcome = "granted"
            req.answer_message = "Voici la réponse à votre demande."
        if kind == "recipients_list":
            fulfilment.open_recipient_notifications(req, actor)
        db.session.flush()
        out[kind] = req
    db.session.commit()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=20, help="timed renders of each kind")
    parser.add_argument("--language", default="fr", choices=("fr", "en"))
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a load average <= 1.5")
    parser.add_argument("--child-per-letter", action="store_true",
                        help="start a renderer child for every letter (dsar.letter_renderer, recycle_after=1)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.child_per_letter:
        from dsar import letter_renderer

        letter_renderer._renderer = letter_renderer.Renderer(recycle_after=1)

    from pypdf import PdfReader

    from dsar import create_app
    from dsar.extensions import db
    from dsar.pdf import ANSWER_KINDS
    from dsar.services.fulfilment.letters import render_letter

    info = h.print_header("letters rendered to PDF")
    info["load_at_start"] = h.wait_until_quiet(skip=args.no_wait)
    print(f"   load average at start: {info['load_at_start']:.2f}", flush=True)
    results = {}
    with h.temp_database("dsar_bench_letters") as url:
        h.migrate(url)
        # Emails the setup writes (a clarification asked) go to files: no SMTP server is needed here.
        app = create_app(h.app_config(url, MAIL_BACKEND="file"))
        with app.app_context():
            requests = build_requests(app.extensions["dsar_policy"])
            first_kind = next(iter(requests))
            t = time.perf_counter()
            render_letter(first_kind, requests[first_kind], args.language)
            cold = time.perf_counter() - t
            print(f"   first render of the process ({first_kind}, fonts loaded): {cold * 1000:.0f} ms", flush=True)
            for kind, req in requests.items():
                data = render_letter(kind, req, args.language)   # warm this kind's templates
                times = []
                for _ in range(args.renders):
                    t = time.perf_counter()
                    data = render_letter(kind, req, args.language)
                    times.append(time.perf_counter() - t)
                pages = len(PdfReader(io.BytesIO(data)).pages)
                results[kind] = {"median_s": statistics.median(times), "p95_s": h.percentile(times, 95),
                                 "max_s": max(times), "pages": pages, "bytes": len(data)}
                print(f"   {kind:34s} {pages} p  {len(data) / 1024:6.0f} KiB  {h.summary_ms(times)}", flush=True)
            db.session.remove()
            db.engine.dispose()
    answers = [results[k]["median_s"] for k in ANSWER_KINDS]
    worst = max(results.items(), key=lambda kv: kv[1]["median_s"])
    print(f"== result: answer letters median {statistics.median(answers) * 1000:.0f} ms (worst kind {worst[0]}: median "
          f"{worst[1]['median_s'] * 1000:.0f} ms, p95 {worst[1]['p95_s'] * 1000:.0f} ms); target median <= 500 ms: "
          f"{'met' if worst[1]['median_s'] <= 0.5 else 'MISSED'}; first render {cold * 1000:.0f} ms; "
          f"load average now {h.load_average():.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "cold_s": cold, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
