#!/usr/bin/env bash
# Makes every secret docker-compose.yml mounts, once, under deploy/secrets/ (never committed).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p secrets && chmod 700 secrets
# Random, and never read as a number by nats-server's config parser (it takes a leading digit or '-' for one).
random() { python3 -c 'import secrets; print("fl" + secrets.token_hex(24))'; }
keep() { [ -s "secrets/$1" ] || { printf '%s' "$2" > "secrets/$1"; chmod 600 "secrets/$1"; }; }
keep postgres_password "$(random)"
for service in members assignments feedback notifications; do
  keep "${service}_db_password" "$(random)"
  keep "${service}_database_url" "postgresql://${service}:$(cat "secrets/${service}_db_password")@postgres/${service}"
  keep "nats_${service}_password" "$(random)"
done
keep audit_db_password "$(random)"
keep audit_database_url "postgresql://audit:$(cat secrets/audit_db_password)@postgres/audit"
keep nats_auditor_password "$(random)"
keep nats_console_password "$(random)"
keep nats_admin_password "$(random)"
keep nats_system_password "$(random)"
keep master_key "$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
keep jwt_secret "$(random)"
keep console_session_secret "$(random)"
# The checkpoint signing key (Ed25519, a C2SP note key): auditors get its public half (docs/audit.md).
# Its name is the log's origin: FOURLINKS_LOG_ORIGIN (e.g. yuhang.fourlinks.example/events) if set.
if [ ! -s secrets/checkpoint_key ]; then
  key=$(cd .. && ./fourlinks audit keygen ${FOURLINKS_LOG_ORIGIN:+--name "$FOURLINKS_LOG_ORIGIN"} 2>/dev/null) || { echo "the checkpoint key needs the project's environment: run make env" >&2; exit 1; }
  keep checkpoint_key "$key"
fi
# Each service's event signing key (Ed25519) and the signers file of their public keys (docs/audit.md).
if [ ! -s secrets/signers.json ]; then
  (cd .. && ./fourlinks keys signing-init deploy/secrets >/dev/null) || { echo "the signing keys need the project's environment: run make env" >&2; exit 1; }
fi
# Where notices go (docs/operations.md, Notifications): none until you fill it in.
keep notify_channels.json '{"robots": {}, "secretaries_email": {}, "smtp": null, "sms": null}'
# The console's client secret at the identity provider: from the environment, or fill the file in.
keep console_oidc_client_secret "${FOURLINKS_CONSOLE_OIDC_CLIENT_SECRET:-set-me}"
{
  echo "FOURLINKS_NATS_ADMIN_PASSWORD=$(cat secrets/nats_admin_password)"
  for service in members assignments feedback notifications; do
    echo "FOURLINKS_NATS_${service^^}_PASSWORD=$(cat "secrets/nats_${service}_password")"
  done
  echo "FOURLINKS_NATS_AUDITOR_PASSWORD=$(cat secrets/nats_auditor_password)"
  echo "FOURLINKS_NATS_CONSOLE_PASSWORD=$(cat secrets/nats_console_password)"
  echo "FOURLINKS_NATS_SYSTEM_PASSWORD=$(cat secrets/nats_system_password)"
} > secrets/nats.env
chmod 600 secrets/nats.env
echo "secrets are in deploy/secrets/"
