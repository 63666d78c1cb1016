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
RUN pip install --no-cache-dir .
USER nobody
CMD ["archiver", "--help"]
