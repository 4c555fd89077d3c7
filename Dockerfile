# The pipeline image for Vertex Pipelines and the Dataflow workers of its Beam nodes:
# this project installed with the same lock as everywhere, the Keras choice in the environment, and the
# real tensorflow_model_server (TF Serving's Debian repository) for the InfraValidator.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/flight-delay:TAG .
#
# The build fails (naming what is missing) unless every task of the compiled spec can run here.

# Dataflow runs custom SDK containers through Beam's boot entrypoint; same Beam as the lock.
FROM apache/beam_python3.11_sdk:2.59.0 AS beam

FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSL https://storage.googleapis.com/tensorflow-serving-apt/tensorflow-serving.release.pub.gpg \
      | gpg --dearmor -o /usr/share/keyrings/tensorflow-serving.gpg \
 && echo "deb [arch=amd64 signed-by=/usr/share/keyrings/tensorflow-serving.gpg] http://storage.googleapis.com/tensorflow-serving-apt stable tensorflow-model-server tensorflow-model-server-universal" \
      > /etc/apt/sources.list.d/tensorflow-serving.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends tensorflow-model-server=2.16.1 \
 && rm -rf /var/lib/apt/lists/*

COPY --from=beam /opt/apache/beam /opt/apache/beam

# The Keras choice of data/keras_choice.py, for processes that never import this project (TFX's own
# executors, Beam workers); `vertex check-image` fails if it is missing.
ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/flight-delay
COPY setup.py constraints.txt README.md ./
COPY pipeline pipeline
COPY components components
COPY serving serving
COPY data data
# TFX 1.16 declares Requires-Python <3.11; its whole stack ships cp311 wheels (see README). setup.py brings
# tensorflow_decision_forests (the gbt family's ops, checked by check-image below).
RUN pip install --no-cache-dir --disable-pip-version-check --ignore-requires-python -c constraints.txt . \
 && pip check

RUN python -m pipeline vertex check-image --require-model-server

# Vertex gives each task's command explicitly; Dataflow starts workers through Beam's boot.
ENTRYPOINT ["/opt/apache/beam/boot"]
