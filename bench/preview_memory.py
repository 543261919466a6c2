"""Memory of a page preview of issue 12's hostile PDF, before and after the fix (issue 12 item 1).

    .venv/bin/python bench/preview_memory.py               # both: the uncapped drawing, then render_page
    .venv/bin/python bench/preview_memory.py --only after  # skip the 3.5 GB one

The hostile PDF (tests/hostile_files.huge_page_pdf) is 10 pages of 14,400 × 14,400 pt in about 2 KB; the
back-office request page draws up to 10 of them as soon as staff open the request.

- before: the preview code as it was (``page.render(scale=110/72)``, then PNG), copied here as
  ``uncapped_draw`` so that it runs without checking out the old commit, in a fresh process whose peak
  resident memory (``ru_maxrss``) is the web worker's;
- after: ``dsar.services.previews.render_page``, what the back-office calls now: the web worker's own
  peak, and the peak of the child process that draws (capped pixels, RLIMIT_AS and RLIMIT_CPU).

Each measure runs in a fresh Python process, so that nothing measured before counts in its peak.
Upload inspection now refuses this file (pages beyond A3); it still reaches the preview if it was stored
before, which is what this measures. No database is needed.
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

sys.path.insert(0, str(h.ROOT / "tests"))

OLD_DPI = 110


def uncapped_draw(data: bytes, page_number: int) -> tuple[bytes, tuple[int, int]]:
    """The preview as it was before issue 12 (dsar/services/previews.py at 21496ba), in this process."""
    import pypdfium2 as pdfium
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None   # Pillow's bomb warning would not stop pdfium, which draws first
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[page_number - 1]
        image = page.render(scale=OLD_DPI / 72).to_pil()
        out = io.BytesIO()
        image.save(out, "PNG", optimize=False)
        page.close()
        return out.getvalue(), image.size
    finally:
        pdf.close()


def _maxrss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024     # KiB on Linux


def measure(which: str) -> dict:
    """Run in a fresh process: draw page 1 of the hostile PDF the ``which`` way; peaks and time."""
    from hostile_files import huge_page_pdf

    data = huge_page_pdf()
    base = _maxrss_mib(resource.RUSAGE_SELF)
    started = time.monotonic()
    if which == "before":
        png, size = uncapped_draw(data, 1)
    else:
        from PIL import Image

        from dsar.services.previews import render_page

        png = render_page(data, 1)
        size = Image.open(io.BytesIO(png)).size
    seconds = time.monotonic() - started
    return {"which": which, "pdf_bytes": len(data), "pixels": size[0] * size[1], "size": list(size),
            "png_bytes": len(png), "seconds": round(seconds, 2),
            "worker_peak_mib": round(_maxrss_mib(resource.RUSAGE_SELF), 1), "worker_start_mib": round(base, 1),
            "child_peak_mib": round(_maxrss_mib(resource.RUSAGE_CHILDREN), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["before", "after"])
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument("--measure", choices=["before", "after"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    h.print_header("page preview of the hostile PDF (10 pages of 14,400 × 14,400 pt)")
    results = []
    for which in ("before", "after"):
        if args.only and which != args.only:
            continue
        out = subprocess.run([sys.executable, __file__, "--measure", which], capture_output=True, text=True,
                             check=True, cwd=h.ROOT)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        drawn_in = "the web worker itself" if which == "before" else "a child process"
        print(f"   {which:6}: {r['size'][0]} × {r['size'][1]} px ({r['pixels'] / 1e6:.1f} Mpx), "
              f"{r['seconds']:.2f} s, drawn in {drawn_in}; web worker peak {r['worker_peak_mib']:.0f} MiB "
              f"(started at {r['worker_start_mib']:.0f}), drawing child peak "
              f"{r['child_peak_mib']:.0f} MiB; PDF {r['pdf_bytes']} bytes, PNG {r['png_bytes']} bytes")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
