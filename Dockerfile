# CreditDesk production image: web (gunicorn), worker (rq) and scheduler share it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FLASK_APP=app
WORKDIR /srv/creditdesk
COPY pyproject.toml README.md config.py run.py wsgi.py babel.cfg ./
COPY app ./app
COPY plugins ./plugins
COPY migrations ./migrations
COPY translations ./translations
# Editable: the app runs from this folder, beside its migrations/ and translations/.
RUN pip install --no-cache-dir -e '.[s3]' && pybabel compile -d translations && useradd --create-home creditdesk \
    && mkdir -p /srv/creditdesk/instance && chown creditdesk /srv/creditdesk/instance
USER creditdesk
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "wsgi:app"]
