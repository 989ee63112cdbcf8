# One image for both services: the charge point and the test CSMS.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chargepoint ./chargepoint
COPY hal ./hal
COPY backends ./backends
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . && useradd --create-home --uid 1000 chargepoint && mkdir -p /data \
    && chown chargepoint /data
USER chargepoint
VOLUME ["/data"]
EXPOSE 8080 9000 9001
CMD ["chargepoint", "run", "--http", "0.0.0.0:8080", "--data-dir", "/data"]
