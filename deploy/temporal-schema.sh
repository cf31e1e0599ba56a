#!/bin/sh
# One-shot: create the `temporal` and `temporal_visibility` databases in PostgreSQL and bring
# both schemas up to the version this admin-tools image ships. Safe to re-run: database
# creation ignores "already exists", setup-schema -v 0.0 only adds the version tables when
# missing, and update-schema applies only the versions not yet applied.
#
# Connection comes from the env vars temporal-sql-tool reads itself:
# SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD.
set -eu

: "${SQL_HOST:?SQL_HOST is required}"
SQL_PORT=${SQL_PORT:-5432}
SCHEMA_ROOT=${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}

echo "waiting for PostgreSQL at $SQL_HOST:$SQL_PORT"
tries=0
until nc -z -w 5 "$SQL_HOST" "$SQL_PORT"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "PostgreSQL did not answer" >&2
    exit 1
  fi
  sleep 2
done

# <database> <schema dir under SCHEMA_ROOT>
setup() {
  echo "setting up database $1"
  temporal-sql-tool --db "$1" create-database
  temporal-sql-tool --db "$1" setup-schema -v 0.0
  temporal-sql-tool --db "$1" update-schema -d "$SCHEMA_ROOT/$2/versioned"
}

setup temporal temporal
setup temporal_visibility visibility
echo "schema setup complete"
