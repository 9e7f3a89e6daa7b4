"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""
from app import create_app
from app.core.links import require_public_url

app = create_app()
# Production serves no request without PUBLIC_URL: links would have no safe address.
require_public_url(app)
