-- tuneline: databases and roles for the shared Prefect server and MLflow tracking server.
--
-- Run once, as a PostgreSQL superuser, with psql (this file uses psql variables and \connect):
--
--   psql -h DB_HOST -U postgres -v ON_ERROR_STOP=1 \
--        -v prefect_password="$PREFECT_DB_PASSWORD" -v mlflow_password="$MLFLOW_DB_PASSWORD" \
--        -f infra/postgres/init.sql
--
-- The passwords are never written into this file. Without -v they default to 'change-me', which
-- is only acceptable where pg_hba.conf uses trust auth on a closed test box.
-- Re-running fails on CREATE ROLE / CREATE DATABASE (they already exist): that is intended.

\if :{?prefect_password}
\else
  \set prefect_password 'change-me'
\endif
\if :{?mlflow_password}
\else
  \set mlflow_password 'change-me'
\endif

-- One login role per service, no superuser rights; each one owns its database, so the services'
-- own migrations (Prefect: alembic on start-up; MLflow: on first `mlflow server` start) can create
-- and alter their tables. Since PostgreSQL 15 only the database owner may create objects in the
-- public schema by default: ownership is what makes that work.
CREATE ROLE prefect LOGIN PASSWORD :'prefect_password';
CREATE ROLE mlflow  LOGIN PASSWORD :'mlflow_password';

-- UTF8 and template0 so the encoding does not depend on the cluster's template1.
CREATE DATABASE prefect OWNER prefect ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE mlflow  OWNER mlflow  ENCODING 'UTF8' TEMPLATE template0;
-- Users and permissions of the MLflow server's auth app (TUNELINE_AUTH_DATABASE_URI).
CREATE DATABASE mlflow_auth OWNER mlflow ENCODING 'UTF8' TEMPLATE template0;

-- Nobody else may connect to them.
REVOKE ALL ON DATABASE prefect FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow  FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow_auth FROM PUBLIC;

-- Prefect's migrations run CREATE EXTENSION IF NOT EXISTS pg_trgm. pg_trgm is a trusted extension
-- (the owner could create it), but creating it here as superuser also covers managed databases
-- where that differs. It ships with the server (Debian: postgresql-15 includes contrib).
\connect prefect
CREATE EXTENSION IF NOT EXISTS pg_trgm;
