# etcd-dr: the `dr` command line and daemon.
#
#   docker build -t etcd-dr .
#   docker run -v /etc/etcd-dr:/etc/etcd-dr:ro -v etcd-dr-catalog:/var/lib/etcd-dr -p 9464:9464 etcd-dr
#
# The default command runs the daemon on /etc/etcd-dr/config.yaml. Inside a container the config must
# listen on 0.0.0.0 (server.listen: 0.0.0.0:9464) for -p to reach it; the default is loopback.
# The catalog (catalog.path, default /var/lib/etcd-dr/catalog.sqlite) is a cache of the manifests in
# storage: keep it on the volume to avoid a re-read at every start, losing it loses nothing.

# ---- build: dev dependencies, TypeScript compile, then drop dev dependencies ----
FROM node:20-slim AS build
# better-sqlite3 and zstd-napi fall back to a source build when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# etcd 3.5's etcdutl and etcdctl (Debian trixie's, sha256-pinned; the same script the tests use)
COPY scripts/install-etcd35.sh ./scripts/
RUN bash scripts/install-etcd35.sh /opt/etcd-3.5
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies only, etcdutl/etcdctl 3.5 for restores, openssl (the certificates of
#      drills and replay members), non-root ----
FROM node:20-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini openssl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 etcd-dr \
 && useradd --system --uid 10001 --gid etcd-dr --home-dir /var/lib/etcd-dr --shell /usr/sbin/nologin etcd-dr \
 && install -d -o etcd-dr -g etcd-dr -m 0750 /var/lib/etcd-dr \
 && install -d -m 0755 /etc/etcd-dr
WORKDIR /opt/etcd-dr
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /opt/etcd-3.5/usr/bin/etcdutl /opt/etcd-3.5/usr/bin/etcdctl /usr/local/bin/
COPY policies ./policies
# etcd's .proto files, read at run time from beside dist/ (gRPC client and WAL/snap decoders)
COPY proto ./proto
RUN chmod 0755 dist/cli/dr.js && ln -s /opt/etcd-dr/dist/cli/dr.js /usr/local/bin/dr
ENV NODE_ENV=production ETCDCTL_API=3
USER etcd-dr
VOLUME ["/var/lib/etcd-dr"]
EXPOSE 9464
# tini forwards SIGTERM/SIGHUP to dr (graceful shutdown, config reload) and reaps etcdctl children.
ENTRYPOINT ["/usr/bin/tini", "--", "dr"]
CMD ["daemon", "--config", "/etc/etcd-dr/config.yaml"]
