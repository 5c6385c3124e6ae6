# ws2kafka as a container image: Node 24 (bookworm-slim), production dependencies only, run as the
# non-root user `node` (uid 1000), node as PID 1 so that `docker stop`'s SIGTERM reaches ws2kafka,
# which drains to Kafka and exits 0. See docs/operations.md, "Deploying with the image".
#
#   docker build -t ws2kafka .
#   docker run -d --name ws2kafka -p 9464:9464 -v ws2kafka-spool:/var/lib/ws2kafka/spool \
#     -v /etc/ws2kafka/polygon.key:/run/secrets/polygon.key:ro \
#     -e WEBSOCKET_URL=wss://socket.polygon.io/stocks -e POLYGON_API_KEY_FILE=/run/secrets/polygon.key \
#     -e KAFKA_BROKERS=kafka-1:9092,kafka-2:9092 ws2kafka
#
# Where no registry is reachable, container/make-base.sh makes a local stand-in for the base image
# (Debian from the apt mirror, Node from the npm registry), tagged as NODE_IMAGE's default.
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

# Stage 1: the production dependencies, exactly as package-lock.json pins them. No install scripts
# run (no production dependency has one; @node-rs/crc32's binary is a prebuilt optional package).
# The sources need no build step: Node 24 runs their erasable TypeScript directly.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --update-notifier=false

# Stage 2: what runs. Only the files ws2kafka needs; npm's cache stays in stage 1.
FROM ${NODE_IMAGE}
# The spool in the volume below; probes reachable from outside the container; a shutdown that fits
# in the 10 s `docker stop`, `podman stop` and Compose give before SIGKILL (ws2kafka's own default,
# 10s, would not: with Kafka away it waits all of it). Given a longer grace period (docker stop -t,
# stop_grace_period, terminationGracePeriodSeconds), raise SHUTDOWN_TIMEOUT with it.
ENV SPOOL_DIR=/var/lib/ws2kafka/spool \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9464 \
    SHUTDOWN_TIMEOUT=8s
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
# The spool directory is a volume, owned by `node` (a named volume starts with this ownership; a
# host directory mounted there must be writable by uid 1000).
RUN mkdir -p "$SPOOL_DIR" && chown node:node "$SPOOL_DIR"
VOLUME ["/var/lib/ws2kafka/spool"]
USER 1000:1000
EXPOSE 9464
# HEALTHCHECK: /livez (the process answers; a runtime that acts on health restarts it when not).
# /readyz (200 while Kafka keeps acknowledging) is for readiness, e.g. a Kubernetes readinessProbe:
# as a HEALTHCHECK it would have the bridge replaced during a Kafka outage that the spool rides out.
# node itself fetches (the slim image has no curl), at the port and address ws2kafka was given by
# flag (read from PID 1's command line) or environment; --metrics-port 0 (no probes): healthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "-e", "\
const argv = process.getBuiltinModule('fs').readFileSync('/proc/1/cmdline', 'utf8').split('\\0'); \
const flag = (name) => argv.reduce((v, a, i) => a === '--' + name ? argv[i + 1] \
  : a.startsWith('--' + name + '=') ? a.slice(name.length + 3) : v, undefined); \
const port = flag('metrics-port') ?? process.env.METRICS_PORT ?? '9464'; \
let host = flag('metrics-host') ?? process.env.METRICS_HOST ?? '127.0.0.1'; \
if (host === '0.0.0.0' || host === '::' || host === '') host = '127.0.0.1'; \
if (Number(port) === 0) process.exit(0); \
fetch(`http://${host.includes(':') ? `[${host}]` : host}:${port}/livez`, { signal: AbortSignal.timeout(4000) }) \
  .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));"]
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and gets SIGTERM itself (no shell in between). ws2kafka handles SIGTERM
# and SIGINT (drain, then exit 0) and starts no child processes, so no init is needed to reap them.
ENTRYPOINT ["node", "--max-semi-space-size=8", "--no-allocation-site-pretenuring", "bin/ws2kafka.js", "run"]
