# The Rasa server image of deploy/docker-compose.yml (build context: the repository root).
# The official image plus this project's Python package (custom NLU component, knowledge base, the
# addons: request guard, rate limit, lock store) and the models trained with Rasa 3.6.21. pip resolves
# pyproject.toml's pins against what the image already has (rasa 3.6.21, spaCy, redis), so only the
# project's extras are added.
FROM rasa/rasa:3.6.21-full
USER root
COPY pyproject.toml README.md /src/
COPY priorauth /src/priorauth
COPY actions /src/actions
COPY addons /src/addons
RUN pip install --no-cache-dir /src && rm -rf /src
COPY --chown=1001:0 models /app/models
USER 1001
