# syntax=docker/dockerfile:1
# The Gatehouse server (and controller) image:   docker build -t gatehouse:0.1.0 .
# Kubernetes manifests: deploy/helm/gatehouse and deploy/kustomize (README, "Deploy").

# Build: the full dependency tree, compile to dist/, then drop the dev dependencies. The sources
# are copied before `npm ci` because its "prepare" script is one of them.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime: compiled JavaScript and production dependencies only, as an unprivileged user.
# Nothing is written under /app: the root filesystem can be read-only. The embedded store (when
# DATABASE_URL is unset) and the generated secret.key go to GATEHOUSE_DATA_DIR, a volume; so does /tmp.
FROM node:24-bookworm-slim
ENV NODE_ENV=production GATEHOUSE_DATA_DIR=/var/lib/gatehouse
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /var/lib/gatehouse && chown 1000:1000 /var/lib/gatehouse
# The image's "node" user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
VOLUME ["/var/lib/gatehouse", "/tmp"]
EXPOSE 8080
CMD ["node", "dist/bin/gatehouse.js", "serve"]
