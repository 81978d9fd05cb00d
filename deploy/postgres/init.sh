#!/bin/sh
# One database and one owner per service, and one for the audit's tiles and checkpoints;
# passwords from the environment (Docker secrets).
set -eu
for service in members assignments feedback notifications audit; do
  password_file="/run/secrets/${service}_db_password"
  password=$(cat "$password_file")
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE USER ${service} WITH PASSWORD '${password}';
CREATE DATABASE ${service} OWNER ${service};
SQL
done
