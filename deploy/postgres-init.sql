-- Mounted by deploy/docker-compose.yml into /docker-entrypoint-initdb.d/: the tracker store's database.
CREATE DATABASE rasa_tracker OWNER priorauth;
