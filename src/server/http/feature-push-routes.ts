import type { FastifyInstance } from 'fastify';
import type { FeatureStore } from '../../features/feature-store.js';

/** `POST /api/v1/features/push` (to be built). */
export function registerFeaturePushRoutes(_app: FastifyInstance, _features: FeatureStore): void {}
