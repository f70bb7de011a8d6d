import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { SlipwayError } from '../../core/errors.js';
import { assertDigest, blobNotFound, isDigest, readVerified } from './blob-store.js';
import type { BlobSource, BlobStore } from './blob-store.js';

/** Where an S3 blob store keeps its objects. Anything left undefined comes from the standard AWS env/config. */
export interface S3BlobStoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket, e.g. `slipway/`; objects are `<prefix>sha256/<first two hex>/<digest>`. */
  readonly prefix?: string;
  /** An S3-compatible endpoint (MinIO, Ceph, a test server); requests use path-style addressing there. */
  readonly endpoint?: string;
  /** Default: AWS_REGION / the AWS config file; `us-east-1` for a custom endpoint without one. */
  readonly region?: string;
  /** Default: the SDK's credential chain (AWS_ACCESS_KEY_ID, profiles, instance roles). */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request before a failure is reported (the SDK's retry; default 3). */
  readonly maxAttempts?: number;
}

/**
 * Blobs as objects in an S3 bucket (AWS SDK v3), shared by every node that can reach it.
 * Bytes are hashed before upload (a wrong digest is refused, nothing written); writing one key twice with the same
 * bytes is harmless, so concurrent puts of a blob need no lock. Unreachable endpoints are UNAVAILABLE.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3BlobStoreOptions) {
    if (options.bucket.trim() === '') throw new SlipwayError('INVALID_ARGUMENT', 's3 blob store: bucket is empty');
    const prefix = options.prefix ?? '';
    if (prefix !== '' && !prefix.endsWith('/')) {
      throw new SlipwayError('INVALID_ARGUMENT', `s3 blob store: prefix "${prefix}" must end with "/"`);
    }
    this.#bucket = options.bucket;
    this.#prefix = prefix;
    const config: S3ClientConfig = {
      // Path-style for custom endpoints: S3-compatible servers rarely resolve bucket subdomains.
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
      ...(options.region !== undefined
        ? { region: options.region }
        : options.endpoint !== undefined && process.env.AWS_REGION === undefined
          ? { region: 'us-east-1' }
          : {}),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      // Checksums only where an operation requires them: S3-compatible servers do not all accept the SDK's default
      // streamed CRC32 trailers, and every blob is sha256-checked on put and by the reader (blob-cache.ts) anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    this.#client = new S3Client(config);
  }

  async put(sha256: string, source: BlobSource): Promise<{ created: boolean; sizeBytes: number }> {
    const bytes = await readVerified(sha256, source, 's3 blob store put');
    if (await this.has(sha256)) return { created: false, sizeBytes: bytes.byteLength };
    await this.#send('put', sha256, () =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(sha256),
          Body: bytes,
          ContentLength: bytes.byteLength,
          ContentType: 'application/octet-stream',
        }),
      ),
    );
    return { created: true, sizeBytes: bytes.byteLength };
  }

  async has(sha256: string): Promise<boolean> {
    assertDigest(sha256, 's3 blob store has');
    try {
      await this.#send('has', sha256, () =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(sha256) })),
      );
      return true;
    } catch (error) {
      if (error instanceof SlipwayError && error.code === 'NOT_FOUND') return false;
      throw error;
    }
  }

  async get(sha256: string): Promise<Uint8Array> {
    assertDigest(sha256, 's3 blob store get');
    const response = await this.#send('get', sha256, () =>
      this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(sha256) })),
    );
    if (response.Body === undefined) throw blobNotFound(this.kind, sha256);
    return response.Body.transformToByteArray();
  }

  async delete(sha256: string): Promise<void> {
    assertDigest(sha256, 's3 blob store delete');
    await this.#send('delete', sha256, () =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(sha256) })),
    );
  }

  async list(): Promise<string[]> {
    const digests: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#send('list', undefined, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: `${this.#prefix}sha256/`,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(object.Key.lastIndexOf('/') + 1) ?? '';
        if (isDigest(name)) digests.push(name);
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return digests.sort();
  }

  /** Release the client's sockets. */
  close(): void {
    this.#client.destroy();
  }

  #key(sha256: string): string {
    return `${this.#prefix}sha256/${sha256.slice(0, 2)}/${sha256}`;
  }

  /** Run one request, mapping S3's answers to SlipwayErrors: 404 → NOT_FOUND, no answer / 5xx → UNAVAILABLE. */
  async #send<T>(operation: string, sha256: string | undefined, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const name = (error as Error).name;
      if (sha256 !== undefined && (status === 404 || name === 'NoSuchKey' || name === 'NotFound')) {
        throw blobNotFound(this.kind, sha256);
      }
      const where = `s3 blob store ${operation} (bucket ${this.#bucket})`;
      const message = (error as Error).message || name;
      if (status === undefined || status >= 500) {
        throw new SlipwayError('UNAVAILABLE', `${where}: S3 cannot be reached: ${message}`, { cause: error });
      }
      throw new SlipwayError('INTERNAL', `${where}: S3 answered ${status} ${name}: ${message}`, { cause: error });
    }
  }
}
