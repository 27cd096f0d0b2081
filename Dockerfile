# The Storefront API behind gunicorn: docker build -t storefront . (see docker-compose.yml)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the requirements change.
# The assets (Redoc's bundle) are static files only, hence --no-deps.
COPY requirements.txt requirements-assets.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps -r requirements-assets.txt

# The code belongs to root and is read-only for the user that runs it.
COPY wsgi.py gunicorn.conf.py ./
COPY api/ api/
COPY models/ models/
COPY namespaces/ namespaces/
COPY migrations/ migrations/
COPY openapi/ openapi/

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin storefront \
    && mkdir -p instance/uploads instance/jobs \
    && chown -R storefront:storefront instance
USER storefront

ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=4)"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
