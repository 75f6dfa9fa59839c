#!/bin/bash
# Run once by the postgres image when the primary's data directory is created.
set -euo pipefail
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
