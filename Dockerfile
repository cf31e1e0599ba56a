# One image for both crew-hitl processes; docker-compose.yml picks the command:
#   api:    python -m api.app
#   worker: python worker.py
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies in their own layer: install a stub of the project so pip resolves the
# dependencies from pyproject.toml alone, then drop the stub. Editing the code keeps this layer.
# EXTRAS: "[crewai]" runs CrewAI projects (about 1 GB more); build with --build-arg EXTRAS= for
# an image of YAML and Python crews only.
ARG EXTRAS=[crewai]
COPY pyproject.toml README.md ./
RUN mkdir crew_hitl && touch crew_hitl/__init__.py worker.py \
    && pip install ".${EXTRAS}" \
    && pip uninstall -y crew-hitl \
    && rm -rf crew_hitl worker.py build *.egg-info

# The card's layout: worker.py, workflows/, activities/, api/ at the root, beside the shared
# vocabulary (crew_hitl), the inbox and the dev runner.
COPY worker.py ./
COPY crew_hitl ./crew_hitl
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY inbox ./inbox
COPY runner ./runner
RUN pip install --no-deps . && rm -rf build *.egg-info

COPY crews ./crews

RUN useradd --system --uid 10001 --home-dir /app crew
USER crew

# Defaults for running the image on its own; compose sets its own values.
# The data dir only matters when CREW_HITL_SECRET_KEY is unset (the key would then be
# generated into it, separately per container - set the key instead).
ENV CREW_HITL_CREWS_DIR=/app/crews \
    CREW_HITL_DATA_DIR=/tmp/crew-hitl \
    CREW_HITL_API_HOST=0.0.0.0

EXPOSE 8000
CMD ["python", "worker.py"]
