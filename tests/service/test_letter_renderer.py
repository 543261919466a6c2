"""The layout of a letter runs in a child process with capped memory and CPU (issue 19 item 10): the process that
renders a letter (a web worker) never imports WeasyPrint, and a runaway layout is a clear error, not a hang."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsar import letter_renderer
from dsar import pdf as pdf_module
from dsar.letter_renderer import Renderer, RenderFailed
from dsar.pdf import LetterNotRendered
from dsar.services.fulfilment.letters import render_letter
from fulfilment_support import new_request, pdf_text

ROOT = Path(__file__).resolve().parents[2]
SMALL = "<html><body><h1>Objet</h1><p>Un courrier.</p></body></html>"


CHILD_CHECK = """
import sys
from dsar import pdf
html = "<html><body><h1>Objet</h1><p>Un courrier.</p></body></html>"
data = pdf._layout(html, b"DSAR-test")   # the path render_pdf takes for every letter
assert data.startswith(b"%PDF"), data[:20]
assert "weasyprint" not in sys.modules, "the process that renders a letter imported WeasyPrint"
print("ok")
"""


def test_the_process_that_renders_a_letter_never_imports_weasyprint():
    # This test process may have imported WeasyPrint already (other tests read PDFs): the letter is laid out
    # from a fresh interpreter, which checks its own sys.modules.
    child = subprocess.run([sys.executable, "-c", CHILD_CHECK], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stdout[-3000:] + child.stderr[-2000:]


def test_every_letter_goes_through_the_renderer_child(app, policy, monkeypatch):
    calls = []
    real = pdf_module._layout
    monkeypatch.setattr(pdf_module, "_layout", lambda html, identifier: calls.append(identifier) or real(html, identifier))
    req = new_request(policy, type="access", subject_kind="professional")
    assert "DSAR" in pdf_text(render_letter("acknowledgement", req, "fr"))
    assert len(calls) == 1


def test_a_renderer_over_its_memory_limit_is_a_clear_error():
    renderer = Renderer(memory_bytes=64 * 1024 * 1024, timeout=60)
    started = time.monotonic()
    with pytest.raises(RenderFailed):
        renderer.render(SMALL, b"DSAR-test")
    assert time.monotonic() - started < 60
    assert renderer._child is None  # stopped: the next letter starts a fresh child


def test_a_renderer_past_its_time_is_stopped_not_waited_for():
    renderer = Renderer(timeout=0.2)
    started = time.monotonic()
    with pytest.raises(RenderFailed, match="timeout"):
        renderer.render(SMALL, b"DSAR-test")  # starting Python and WeasyPrint alone takes longer
    assert time.monotonic() - started < 5
    assert renderer._child is None


def test_a_renderer_over_its_cpu_time_is_killed():
    renderer = Renderer(cpu_seconds=1, timeout=120)
    page = "<p>" + "Une ligne de texte assez longue pour remplir la page. " * 40 + "</p>"
    with pytest.raises(RenderFailed, match="exit -24"):  # SIGXCPU
        renderer.render("<html><body>" + page * 3000 + "</body></html>", b"DSAR-test")


def test_a_child_serves_letters_until_recycled():
    renderer = Renderer(recycle_after=2)
    assert renderer.render(SMALL, b"DSAR-one").startswith(b"%PDF")
    first = renderer._child.pid
    assert renderer.render(SMALL, b"DSAR-two").startswith(b"%PDF")
    assert renderer._child is None  # recycled after two letters
    assert renderer.render(SMALL, b"DSAR-three").startswith(b"%PDF")
    assert renderer._child.pid != first
    renderer.stop()


def test_a_failed_layout_is_a_clear_domain_error_for_the_action(app, policy, monkeypatch):
    req = new_request(policy, type="access", subject_kind="professional")
    monkeypatch.setattr(letter_renderer, "_renderer", Renderer(timeout=0.05))
    with pytest.raises(LetterNotRendered) as err:
        render_letter("acknowledgement", req, "fr")
    assert err.value.code == "letter_not_rendered" and err.value.status_code == 503
