# syntax=docker/dockerfile:1
# Production image: gunicorn serves the web app; the same image runs the worker and beat
# (see docker-compose.yml). Build: docker build -t fmugateway .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r /tmp/requirements.txt

# Front-end libraries from the npm registry, pinned by package-lock.json (see `make assets`).
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm run --silent build

FROM python:3.11-slim-bookworm
# gcc builds the sample FMUs; util-linux gives the sandbox its namespaces tooling;
# python3-seccomp (libseccomp's binding, built for Debian's Python 3.11 like ours) its filter.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev util-linux \
    python3-seccomp \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 fmugw
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    VAR_DIR=/var/lib/fmugateway STATIC_ROOT=/app/staticfiles \
    DJANGO_SETTINGS_MODULE=fmugateway.settings
WORKDIR /app
COPY --chown=fmugw:fmugw . /app
COPY --from=assets --chown=fmugw:fmugw /src/static/vendor /app/static/vendor
RUN mkdir -p /var/lib/fmugateway && chown fmugw:fmugw /var/lib/fmugateway \
    && DEBUG=false SECRET_KEY=build-only-secret-key-for-collectstatic-7f3c9a1e5b \
       KEY_HASH_SECRET=build-only python manage.py collectstatic --noinput \
    && chown -R fmugw:fmugw /app/staticfiles && rm -rf /var/lib/fmugateway/secrets
USER fmugw
EXPOSE 8000
CMD ["gunicorn", "fmugateway.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8", \
     "--access-logfile", "-", "--forwarded-allow-ips", "*"]
