"""WSGI entry point of an installed service: ``gunicorn -c deploy/gunicorn.conf.py dsar.wsgi:app``."""
from dsar import create_app

app = create_app()
