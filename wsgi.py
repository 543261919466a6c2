"""WSGI entry point from the checkout: ``gunicorn wsgi:app`` (an installed service uses ``dsar.wsgi:app``)."""
from dsar.wsgi import app  # noqa: F401
