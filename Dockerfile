FROM python:3.11-slim
# The cards' fonts (Latin, Devanagari, Arabic, CJK, emoji) and FriBiDi for raqm's text shaping.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-core fonts-noto-cjk \
        fonts-noto-color-emoji fonts-dejavu-core libfribidi0 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY archiver ./archiver
COPY workers ./workers
COPY config ./config
# config/archiver.example.toml documents every setting; the defaults themselves are inside the package.
# The extras of the compose shape: Celery workers on Redis, S3 storage, the PostgreSQL catalog
# (tests/test_install.py checks that they cover what docker-compose.yml's settings name).
RUN pip install --no-cache-dir '.[redis,s3,postgres]'
# ARCHIVER_HOME (the signing key, the beat's schedule) is a folder `nobody` owns: a named volume mounted
# here starts as a copy of it, ownership included, so the services can write it (docker-compose.yml).
RUN mkdir -p /var/lib/archiver && chown nobody:nogroup /var/lib/archiver
ENV ARCHIVER_HOME=/var/lib/archiver
USER nobody
CMD ["archiver", "--help"]
