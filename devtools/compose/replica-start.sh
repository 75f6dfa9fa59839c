#!/bin/bash
# The replica's entrypoint (docker-compose.yml): copy the primary once, then run as a hot
# standby streaming from it.
set -euo pipefail
DATA=/var/lib/postgresql/data
if [ ! -s "$DATA/PG_VERSION" ]; then
  until pg_isready -h primary -U wattlas -d wattlas; do sleep 1; done
  mkdir -p "$DATA" && chown postgres:postgres "$DATA" && chmod 700 "$DATA"
  gosu postgres pg_basebackup -h primary -U wattlas -D "$DATA" -R -X stream -c fast
fi
exec gosu postgres postgres -D "$DATA" -c hot_standby=on -c max_connections=200 \
  -c shared_buffers=512MB
