/**
 * The traffic router on the hot path: a map from deployment name to its compiled active revision.
 * No I/O: `DeploymentSync` (sync.ts) swaps whole entries in when a revision changes, so a request
 * sees one revision or the next, never a mix.
 */
import type { DeploymentSpec, Shadow, StickyKey } from './spec.js';

/** One deployment's active revision, ready to pick versions. */
export class ActiveDeployment {
  readonly versions: readonly string[];
  private readonly weights: Float64Array;
  private readonly cumulative: Float64Array;
  private readonly seeds: Uint32Array;

  constructor(
    readonly name: string,
    readonly revision: number,
    readonly spec: DeploymentSpec,
  ) {
    const live = spec.routes.filter((r) => r.weight > 0);
    this.versions = live.map((r) => r.version);
    this.weights = Float64Array.from(live, (r) => r.weight);
    this.cumulative = new Float64Array(live.length);
    let total = 0;
    live.forEach((r, i) => (this.cumulative[i] = total += r.weight));
    this.seeds = Uint32Array.from(live, (r) => fnv1a(r.version));
  }

  get model(): string {
    return this.spec.model;
  }

  get sticky(): StickyKey | null {
    return this.spec.sticky;
  }

  get shadows(): readonly Shadow[] {
    return this.spec.shadows;
  }

  /**
   * The version for one request. Without a key: at random by weight. With a key: weighted
   * rendezvous hashing (each version scores weight / -ln(hash(key, version)), the highest wins).
   * Each version then gets exactly its weight's share of keys, and when weights move a key only
   * ever moves to a version whose weight grew (or away from one whose weight shrank): a canary
   * user stays on the canary as its share rises.
   */
  pick(key?: string): string {
    const n = this.versions.length;
    if (n === 1) return this.versions[0] as string;
    if (key === undefined) {
      const x = Math.random() * (this.cumulative[n - 1] as number);
      for (let i = 0; i < n - 1; i++) if (x < (this.cumulative[i] as number)) return this.versions[i] as string;
      return this.versions[n - 1] as string;
    }
    const h = fnv1a(key);
    let best = 0;
    let bestScore = -1;
    for (let i = 0; i < n; i++) {
      const u = (mix32(h ^ (this.seeds[i] as number)) + 0.5) / 4294967296;
      const score = (this.weights[i] as number) / -Math.log(u);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return this.versions[best] as string;
  }
}

/** The router: deployment name → active revision. Reads are a map lookup. */
export class DeploymentRouter {
  private readonly active = new Map<string, ActiveDeployment>();

  get(name: string): ActiveDeployment | undefined {
    return this.active.get(name);
  }

  has(name: string): boolean {
    return this.active.has(name);
  }

  names(): string[] {
    return [...this.active.keys()];
  }

  /** Install a revision (atomically replaces the previous one for new requests). */
  install(deployment: ActiveDeployment): void {
    this.active.set(deployment.name, deployment);
  }

  remove(name: string): void {
    this.active.delete(name);
  }
}

/** FNV-1a over UTF-16 code units, 32 bits. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finaliser: spreads FNV's weak low bits over all 32. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
