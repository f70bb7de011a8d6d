import type { FastifyInstance } from 'fastify';
import type { FeatureStore } from '../../features/feature-store.js';

/** Feature store read routes: definitions and `POST /api/v1/features:get` (to be built). */
export function registerFeatureRoutes(_app: FastifyInstance, _features: FeatureStore): void {}
