# The image that runs the data-heavy pipeline steps under Argo
# (`catalog-bot step NAME ...`). Multi-stage: wheels are built in a full
# Python image, the runtime image gets only the installed wheels, runs as a
# non-root user and has no compiler.
# The base is pinned to an exact patch release; pin a digest in your fork
# (`python:3.11.11-slim-bookworm@sha256:...`) once your registry mirrors it.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY catalog_templates ./catalog_templates
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="catalog-bot" \
      org.opencontainers.image.description="Pipeline steps for the catalog-bot publish and harvest workflows"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin catalogbot
COPY --from=build /wheels /wheels
RUN pip install --no-index /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /work
ENTRYPOINT ["catalog-bot"]
CMD ["--help"]
