FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY archiver ./archiver
COPY workers ./workers
COPY config ./config
RUN pip install --no-cache-dir -e .
USER nobody
CMD ["archiver", "--help"]
