# The action server image of deploy/docker-compose.yml (build context: the repository root).
# The official rasa-sdk image plus the project's actions and core package, without Rasa itself
# (pins: keep them equal to pyproject.toml; tests/unit/test_deploy_files.py checks it).
FROM rasa/rasa-sdk:3.6.2
USER root
COPY pyproject.toml README.md /src/
COPY priorauth /src/priorauth
COPY actions /src/actions
COPY addons /src/addons
RUN pip install --no-cache-dir --no-deps /src \
 && pip install --no-cache-dir "SQLAlchemy>=1.4.54,<1.5" "PyYAML>=6,<7" "python-stdnum==2.2" "alembic==1.19.2" "psycopg2-binary==2.9.13" \
 && rm -rf /src
USER 1001
