"""WSGI entry point: ``gunicorn wsgi:app``."""
from dsar import create_app

app = create_app()
