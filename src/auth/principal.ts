/**
 * Who is making a request, and the two questions every check asks of it: is its role high enough,
 * and may it touch this model. Roles are ordered; each includes every role before it.
 */
export type Role = 'infer' | 'read' | 'deploy' | 'admin';

/** Every role, weakest first: a role may do everything the roles before it may. */
export const ROLES: readonly Role[] = ['infer', 'read', 'deploy', 'admin'];

export interface Principal {
  /** The token's name, or 'anonymous' when auth is off, or 'cli:<user>' for store-direct CLI commands. */
  readonly name: string;
  readonly role: Role;
  /** Model-name patterns ('fraud', 'risk*'); undefined = every model. */
  readonly models?: readonly string[];
  readonly tokenId?: string;
}

/** The principal of every request when auth is off: the server trusts its loopback callers fully. */
export const ANONYMOUS: Principal = Object.freeze({ name: 'anonymous', role: 'admin' });

const ROLE_RANK: Readonly<Record<Role, number>> = { infer: 0, read: 1, deploy: 2, admin: 3 };

export function isRole(value: string): value is Role {
  return Object.hasOwn(ROLE_RANK, value);
}

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLE_RANK[have] >= ROLE_RANK[need];
}

/**
 * Whether a model name matches one of the principal's patterns. A pattern is an exact name or a
 * prefix ending in `*` ('risk*'); no other wildcard exists, so a pattern can never match more than
 * it reads as.
 */
export function modelAllowed(principal: Principal, model: string): boolean {
  const patterns = principal.models;
  if (patterns === undefined) return true;
  for (const pattern of patterns) {
    if (pattern.endsWith('*') ? model.startsWith(pattern.slice(0, -1)) : model === pattern) return true;
  }
  return false;
}
