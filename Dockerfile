FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/firstring

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY workers ./workers
COPY sandbox ./sandbox
COPY migrations ./migrations
# Editable, so alembic.ini and migrations/ stay beside the code that `firstring migrate` runs.
RUN pip install -e . && useradd --system --uid 10001 --home /srv/firstring firstring

USER firstring
ENV API_HOST=0.0.0.0
EXPOSE 8000
# The same image runs `api`, `worker`, `migrate` or `sandbox`.
ENTRYPOINT ["firstring"]
CMD ["api"]
