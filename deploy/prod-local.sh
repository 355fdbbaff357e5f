#!/usr/bin/env bash
# The production-shaped run on one machine (`make prod-local`): the processes of
# deploy/compose.yaml without containers. PostgreSQL and Redis (not the embedded
# defaults), DEBUG off, collected and compressed static files served by WhiteNoise,
# WEB_WORKERS uvicorn processes, a Celery worker and one beat, and the JupyterHub.
# /healthz answers when the site is up, /readyz when the database, Redis, the
# workers' broker and the hub are.
#
# Only what a laptop cannot have differs from production, each said here:
#  - plain HTTP on loopback (no TLS proxy): SECURE_SSL_REDIRECT=false; cookies stay
#    Secure, which browsers accept from http://localhost;
#  - mail goes to files in $VAR_DIR/mail (the outbox), not to an SMTP server;
#  - the secrets are generated once into $VAR_DIR/prod.env (mode 0600);
#  - the demo content and users are seeded (password in $VAR_DIR/prod.env).
#
# Every setting can be overridden from the environment; the database named in
# DATABASE_URL is created when missing. Ctrl-C (or SIGTERM) stops every process.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
export PATH="$BIN:$PATH"

export VAR_DIR=${VAR_DIR:-$ROOT/var/prod}
mkdir -p "$VAR_DIR"
chmod 700 "$VAR_DIR"

secrets=$VAR_DIR/prod.env
if [ ! -s "$secrets" ]; then
  (umask 077 && "$BIN/python" - > "$secrets" <<'EOF'
import secrets
for name in ("SECRET_KEY", "JUPYTERHUB_API_TOKEN", "HUB_OAUTH_CLIENT_SECRET"):
    print(f"{name}={secrets.token_urlsafe(48)}")
print(f"DEMO_PASSWORD={secrets.token_urlsafe(12)}")
EOF
  )
fi
set -a
# shellcheck source=/dev/null
source "$secrets"
set +a

PORT=${PORT:-8000}
export DEBUG=false
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/silkroute}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/1}
export CACHE_KEY_PREFIX=${CACHE_KEY_PREFIX:-prod-local}
export CHANNEL_PREFIX=${CHANNEL_PREFIX:-prod-local}
export SITE_URL=${SITE_URL:-http://localhost:$PORT}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1}
export SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-false}
export JUPYTERHUB_URL=${JUPYTERHUB_URL:-http://localhost:8001}
export EMAIL_BACKEND=${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}
export EMAIL_FILE_PATH=${EMAIL_FILE_PATH:-$VAR_DIR/mail}
export WEB_WORKERS=${WEB_WORKERS:-3}
export LOG_FORMAT=${LOG_FORMAT:-json}

# The database, created when missing (trust or password auth from DATABASE_URL).
"$BIN/python" - <<'EOF'
import os
import sys
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

url = urlsplit(os.environ["DATABASE_URL"])
if url.scheme not in {"postgres", "postgresql", "pgsql"}:
    sys.exit(f"prod-local runs on PostgreSQL; DATABASE_URL is {url.scheme}://")
name = url.path.lstrip("/")
try:
    admin = psycopg.connect(
        host=url.hostname, port=url.port or 5432, user=url.username,
        password=url.password, dbname="postgres", autocommit=True, connect_timeout=5,
    )
except psycopg.OperationalError as error:
    sys.exit(f"PostgreSQL is not reachable at {url.hostname}:{url.port or 5432}: {error}")
with admin:
    found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if not found:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"Created database {name}.")
EOF
"$BIN/python" - <<'EOF'
import os
import sys

import redis

try:
    redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=5).ping()
except redis.RedisError as error:
    sys.exit(f"Redis is not reachable at {os.environ['REDIS_URL']}: {error}")
EOF

echo "== migrate, collect static files, seed the demo (DEBUG off, $DATABASE_URL)"
"$BIN/python" manage.py migrate --noinput --verbosity 0
"$BIN/python" manage.py collectstatic --noinput --verbosity 0
"$BIN/python" manage.py seed_demo --password "$DEMO_PASSWORD" | tail -n 1
echo "   demo users' password: in $secrets (DEMO_PASSWORD); mail: $EMAIL_FILE_PATH"

exec "$BIN/python" manage.py runplatform --host 127.0.0.1 --port "$PORT" --site-url "$SITE_URL"
