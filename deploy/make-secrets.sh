#!/usr/bin/env bash
# Makes every secret docker-compose.yml mounts, once, under deploy/secrets/ (never committed).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p secrets && chmod 700 secrets
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
keep() { [ -s "secrets/$1" ] || { printf '%s' "$2" > "secrets/$1"; chmod 600 "secrets/$1"; }; }
keep postgres_password "$(random)"
for service in members assignments feedback; do
  keep "${service}_db_password" "$(random)"
  keep "${service}_database_url" "postgresql://${service}:$(cat "secrets/${service}_db_password")@postgres/${service}"
  keep "nats_${service}_password" "$(random)"
done
keep nats_admin_password "$(random)"
keep nats_system_password "$(random)"
keep master_key "$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
keep jwt_secret "$(random)"
keep console_session_secret "$(random)"
# The console's client secret at the identity provider: from the environment, or fill the file in.
keep console_oidc_client_secret "${FOURLINKS_CONSOLE_OIDC_CLIENT_SECRET:-set-me}"
{
  echo "FOURLINKS_NATS_ADMIN_PASSWORD=$(cat secrets/nats_admin_password)"
  for service in members assignments feedback; do
    echo "FOURLINKS_NATS_${service^^}_PASSWORD=$(cat "secrets/nats_${service}_password")"
  done
  echo "FOURLINKS_NATS_SYSTEM_PASSWORD=$(cat secrets/nats_system_password)"
} > secrets/nats.env
chmod 600 secrets/nats.env
echo "secrets are in deploy/secrets/"
