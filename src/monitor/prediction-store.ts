import type { Tensor } from '../tensor/datatypes.js';

/**
 * The durable prediction log: what every inference request did, kept for monitoring (drift,
 * accuracy once feedback arrives) and look-ups by request id. Implemented over SQL by
 * SqlPredictionStore; written through PredictionLog (prediction-log.ts), which batches off the
 * request path.
 */

export type PredictionProtocol = 'http' | 'grpc';

/** One served request, as the server records it. */
export interface PredictionEntry {
  /** The client's request id, or one from newRequestId() (time-ordered: cheaper to index). */
  readonly requestId: string;
  /** When the request arrived, epoch milliseconds. */
  readonly timeMs: number;
  /** The deployment that served it, when one did (undefined: addressed by model and version). */
  readonly deployment: string | undefined;
  readonly model: string;
  readonly version: string;
  readonly protocol: PredictionProtocol;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly latencyMs: number;
  /** A shadow deployment's result, stored as JSON. */
  readonly shadow?: unknown;
  /** The features the request used, stored as JSON. */
  readonly features?: unknown;
}

/**
 * An entry in its stored form: tensors as tensor blobs (tensor-blob.ts), `shadow` and `features`
 * as JSON text. What the batch writer hands the store without decoding the tensors again.
 */
export interface EncodedPrediction {
  readonly requestId: string;
  readonly timeMs: number;
  readonly deployment: string | null;
  readonly model: string;
  readonly version: string;
  readonly protocol: PredictionProtocol;
  readonly latencyMs: number;
  readonly inputs: Uint8Array;
  readonly outputs: Uint8Array;
  readonly shadow: string | null;
  readonly features: string | null;
}

/** A logged request read back. */
export interface StoredPrediction {
  /** Insertion order; never reused. */
  readonly id: number;
  readonly requestId: string;
  readonly timeMs: number;
  readonly deployment: string | undefined;
  readonly model: string;
  readonly version: string;
  readonly protocol: PredictionProtocol;
  readonly latencyMs: number;
  readonly inputs: Tensor[];
  readonly outputs: Tensor[];
  /** Parsed JSON; undefined when none was recorded. */
  readonly shadow: unknown;
  readonly features: unknown;
  /**
   * What the payload policy (payload-policy.ts) kept: `full` (everything; also rows logged before
   * policies), `truncated` (some tensors hold only their first elements), `omitted` (no tensors).
   */
  readonly payload?: 'full' | 'truncated' | 'omitted';
  /** When truncated: every tensor's shape as served, by position (`inputs`/`outputs` hold stored shapes). */
  readonly servedShapes?: {
    readonly inputs: readonly (readonly number[])[] | undefined;
    readonly outputs: readonly (readonly number[])[] | undefined;
  };
}

/** Where a page of predictions ends: the (time, id) of its last row; the next page starts after it. */
export interface PredictionCursor {
  readonly timeMs: number;
  readonly id: number;
}

export interface PredictionPageQuery extends PredictionQuery {
  /** Rows after this one in the query's order. */
  readonly after?: PredictionCursor;
  /**
   * Stored bytes (tensor blobs, shadow, features) a page holds at most; a page always holds at
   * least one row, however large, so paging always moves on.
   */
  readonly maxBytes: number;
}

export interface PredictionPage {
  readonly rows: StoredPrediction[];
  /** Where the next page starts; undefined when no row is left. */
  readonly next: PredictionCursor | undefined;
}

/** Which rows; every field narrows, none = all rows. */
export interface PredictionFilter {
  readonly model?: string;
  readonly version?: string;
  readonly deployment?: string;
  /** Epoch ms, inclusive. */
  readonly since?: number;
  /** Epoch ms, exclusive. */
  readonly until?: number;
  readonly requestId?: string;
}

export interface PredictionQuery extends PredictionFilter {
  /** 1 to MAX_QUERY_ROWS (10,000); default 100. */
  readonly limit?: number;
  /** By time, then id: 'desc' (newest first) by default. */
  readonly order?: 'asc' | 'desc';
}

/** Most rows one `query` returns. */
export const MAX_QUERY_ROWS = 10_000;
/** Most rows one `sample`, `first` or `joinedFeedback` returns. */
export const MAX_READ_ROWS = 100_000;

/** Ground truth for one request: a class label, a numeric value (regression), or both. */
export interface FeedbackItem {
  readonly requestId: string;
  readonly label?: string;
  readonly value?: number;
}

export interface FeedbackFilter {
  readonly model: string;
  readonly version?: string;
  /** Only requests served through this deployment. */
  readonly deployment?: string;
  readonly since?: number;
  readonly until?: number;
}

export interface PredictionWithFeedback extends StoredPrediction {
  readonly label: string | null;
  readonly value: number | null;
}

export interface PredictionStore {
  /** Store entries (in one transaction). Throws INVALID_ARGUMENT for a tensor a blob cannot hold. */
  append(entries: readonly PredictionEntry[]): Promise<void>;
  /** Store entries already encoded (the batch writer's path); one transaction. */
  appendEncoded(rows: readonly EncodedPrediction[]): Promise<void>;
  /** Matching rows ordered by time then id, with decoded tensors. */
  query(query: PredictionQuery): Promise<StoredPrediction[]>;
  /**
   * A page of matching rows bounded by rows (`limit`) and stored bytes (`maxBytes`), by keyset on
   * (time, id): pages stay right while rows are added, and no page reads rows it does not return.
   */
  page(query: PredictionPageQuery): Promise<PredictionPage>;
  count(filter: PredictionFilter): Promise<number>;
  /**
   * A systematic sample: of the n matching rows in id order, every k-th (k = ceil(n / maxRows)),
   * starting in the middle of the first k, so at most `maxRows` rows evenly spread over the whole
   * range, the same rows for the same data. Memory is bounded by `maxRows` whatever matches.
   */
  sample(filter: PredictionFilter & { readonly maxRows: number }): Promise<StoredPrediction[]>;
  /** The oldest `limit` matching rows (time, then id), e.g. a reference profile from the first requests served. */
  first(filter: PredictionFilter & { readonly limit: number }): Promise<StoredPrediction[]>;
  /**
   * Upsert feedback; a later item for the same request id replaces the earlier one (in the same
   * call, the last one wins). Accepted whether or not the prediction is logged yet. Returns the
   * number of request ids written. Each item needs a label or a value.
   */
  addFeedback(items: readonly FeedbackItem[]): Promise<number>;
  /**
   * Predictions of a model that have feedback, oldest first; when more than `maxRows` (default
   * 10,000, at most MAX_READ_ROWS) match, the newest `maxRows` of them. An array, not a stream,
   * so a connection is never held while the caller works.
   */
  joinedFeedback(filter: FeedbackFilter, maxRows?: number): Promise<PredictionWithFeedback[]>;
  /**
   * Delete predictions older than `timeMs` and feedback received before it, in small chunks so
   * other writers are never locked out for long. Returns the predictions deleted.
   */
  deleteBefore(timeMs: number): Promise<number>;
  /**
   * Keep at most the newest `maxRows` predictions (by id): deletes every row whose id is `maxRows`
   * or more below the highest. Ids skipped by failed transactions count, so a few fewer rows may
   * stay; O(log n), no count of the table. Returns the rows deleted.
   */
  trimToRows(maxRows: number): Promise<number>;
  /**
   * Keep the newest predictions whose stored bytes add up to at most `maxBytes` (about: names and
   * index entries are not counted): deletes every older row. Cheap when the database is smaller
   * than the budget (its size is checked first). Returns the rows deleted.
   */
  trimToBytes(maxBytes: number): Promise<number>;
  /** Close the underlying Database. */
  close(): Promise<void>;
}
