# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim

# pg_dump and pg_restore for the backup jobs. Debian bookworm ships the
# PostgreSQL 15 client, and pg_dump refuses to dump a newer server, so a
# PostgreSQL 16 server needs the client from apt.postgresql.org instead.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app

# Dependencies first, so a source change reuses the cached npm ci layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# There is no build step: tsx, a runtime dependency, compiles TypeScript on load.
COPY tsconfig.json ./
COPY src ./src

# The source stays owned by root and read-only to the app. Jobs write only
# under var/ (storage, backups, outbox), which compose mounts as a volume.
RUN mkdir -p var/storage var/backups var/outbox && chown -R node:node var
USER node

EXPOSE 3000

# Node runs as the container's main process, so SIGTERM from `docker stop`
# reaches the graceful shutdown handler. Under `npm run` it would not: npm
# exits on SIGTERM without waiting for its child. This runs the same file as
# `npm run start:api`.
CMD ["node", "--import", "tsx", "src/server/main.ts"]
