# Slipway container image (README "Kubernetes"; manifests in deploy/kubernetes/).
#   docker build -t slipway:0.1.0 .
# test/kubernetes-manifests.test.ts checks this file's stages, user and entry, and runs the entry without Docker.

# --- build: all dependencies, compile TypeScript to dist/ ---
FROM node:20-slim AS build
WORKDIR /app
# .npmrc skips onnxruntime-node's install script (its CPU binaries ship in the package).
COPY package.json package-lock.json .npmrc ./
# No scripts here: `prepare` would compile before the sources are copied. better-sqlite3's native
# addon is fetched by its own install script, run by the rebuild.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
RUN npm run build

# --- runtime: production dependencies only, non-root, read-only friendly ---
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    SLIPWAY_HOST=0.0.0.0 \
    SLIPWAY_HOME=/var/lib/slipway \
    HOME=/home/slipway
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --omit=dev: no TypeScript, so `prepare` cannot run; --ignore-scripts skips it (and onnxruntime-node's
# script, as .npmrc does), then better-sqlite3's addon is installed by its own script.
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY proto ./proto
# The node image's unprivileged user (uid 1000); the Deployment's runAsUser matches. The writable paths are
# emptyDir volumes in Kubernetes (readOnlyRootFilesystem); here they exist and belong to that user.
RUN mkdir -p /var/lib/slipway /home/slipway && chown 1000:1000 /var/lib/slipway /home/slipway
USER 1000:1000
EXPOSE 8080 8081
# bin/slipway.js re-executes serve with a V8 flag and forwards SIGTERM/SIGINT to it, so the drain in README
# "Lifecycle" runs when Kubernetes stops the pod.
CMD ["node", "bin/slipway.js", "serve"]
