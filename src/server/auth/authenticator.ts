import type { Redis } from 'ioredis';
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import { ApiError } from '../errors.js';
import { BOOTSTRAP_TOKEN_NAME, findLiveToken, recordLastUse } from './token-store.js';
import { hashToken, tokensEqual } from './token-secret.js';
import type { Role } from './roles.js';

/** The token a request was made with: its name (recorded as performed_by) and role. */
export interface Principal {
  name: string;
  role: Role;
}

export interface AuthenticatorOptions {
  db: Db;
  logger: Logger;
  /** SHIPSHAPE_ADMIN_TOKEN, accepted besides the stored tokens. */
  bootstrapToken?: string;
  /** How long a verified token is trusted without asking the database. */
  cacheTtlMs?: number;
  /** How long an unknown token is remembered as unknown. */
  negativeTtlMs?: number;
  /** Cache entries kept at most; the oldest go first. */
  maxEntries?: number;
  /** Interval of the last_used_at writes. */
  lastUseFlushMs?: number;
}

interface CacheEntry {
  principal: Principal | undefined;
  tokenId: number | undefined;
  expiresAt: number;
}

export const DEFAULT_CACHE_TTL_MS = 30_000;

/**
 * Verifies API tokens without a database round trip per request.
 *
 * A stored token is found by the SHA-256 hash of the presented one. That
 * lookup is constant-time with respect to the secret: the index compares
 * hashes, and how far a guess's hash matches a stored hash reveals nothing
 * about how far the guess matches the token. Results are cached by hash for
 * cacheTtlMs (unknown tokens for negativeTtlMs). Revocation drops the entry
 * at once in the process that revokes and, through Redis pub/sub, in every
 * other API process; a process that misses the message (Redis away) trusts a
 * revoked token for at most cacheTtlMs.
 *
 * last_used_at is kept in memory and written for all tokens in one statement
 * every lastUseFlushMs, and when the API closes.
 */
export class TokenAuthenticator {
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #bootstrapToken: string | undefined;
  readonly #cacheTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #maxEntries: number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<CacheEntry>>();
  readonly #lastUses = new Map<number, Date>();
  readonly #flushTimer: NodeJS.Timeout;
  // Bumped by every invalidation; a lookup that started before one does not cache its result.
  #generation = 0;

  constructor(options: AuthenticatorOptions) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#bootstrapToken = options.bootstrapToken;
    this.#cacheTtlMs = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    this.#negativeTtlMs = options.negativeTtlMs ?? 5000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#flushTimer = setInterval(() => void this.flushLastUses(), options.lastUseFlushMs ?? 60_000);
    this.#flushTimer.unref();
  }

  /** Returns the token's principal, or undefined for an unknown or revoked token. */
  async verify(token: string): Promise<Principal | undefined> {
    if (this.#bootstrapToken !== undefined && tokensEqual(token, this.#bootstrapToken)) {
      return { name: BOOTSTRAP_TOKEN_NAME, role: 'admin' };
    }

    const tokenHash = hashToken(token);
    let entry = this.#cache.get(tokenHash);
    if (!entry || entry.expiresAt <= Date.now()) {
      const stale = entry;
      try {
        entry = await this.#lookUp(tokenHash);
      } catch (error) {
        // While PostgreSQL is down, a token verified before keeps working, so operators and
        // Prometheus can watch the outage. A revocation still removes it at once (invalidate).
        if (!stale?.principal) throw error;
        this.#logger.warn({ token: stale.principal.name }, 'PostgreSQL did not respond; accepting the token as last verified');
        entry = stale;
      }
    }
    if (entry.tokenId !== undefined) this.#lastUses.set(entry.tokenId, new Date());
    return entry.principal;
  }

  /** Forgets what is cached for a token hash, after a revocation. */
  invalidate(tokenHash: string): void {
    this.#generation += 1;
    this.#cache.delete(tokenHash);
  }

  /** Writes the pending last_used_at values. Failures are logged and the values kept for the next attempt. */
  async flushLastUses(): Promise<void> {
    if (this.#lastUses.size === 0) return;
    const pending = new Map(this.#lastUses);
    this.#lastUses.clear();
    try {
      await recordLastUse(this.#db, pending);
    } catch (error) {
      for (const [id, time] of pending) if (!this.#lastUses.has(id)) this.#lastUses.set(id, time);
      this.#logger.warn({ err: error, tokens: pending.size }, 'recording the last use of API tokens failed; retrying at the next flush');
    }
  }

  /** Stops the flush timer and writes what is pending. */
  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    await this.flushLastUses();
  }

  async #lookUp(tokenHash: string): Promise<CacheEntry> {
    const running = this.#inFlight.get(tokenHash);
    if (running) return running;

    const generation = this.#generation;
    const lookup = this.#query(tokenHash).then((entry) => {
      if (generation === this.#generation) this.#store(tokenHash, entry);
      return entry;
    });
    this.#inFlight.set(tokenHash, lookup);
    try {
      return await lookup;
    } finally {
      this.#inFlight.delete(tokenHash);
    }
  }

  async #query(tokenHash: string): Promise<CacheEntry> {
    let row: Awaited<ReturnType<typeof findLiveToken>>;
    try {
      row = await findLiveToken(this.#db, tokenHash);
    } catch (error) {
      this.#logger.warn({ err: error }, 'API token lookup failed');
      throw new ApiError('SERVICE_UNAVAILABLE', 'The API token could not be checked because PostgreSQL did not respond; retry once GET /health/ready passes');
    }
    const now = Date.now();
    if (!row) return { principal: undefined, tokenId: undefined, expiresAt: now + this.#negativeTtlMs };
    return { principal: { name: row.name, role: row.role }, tokenId: row.id, expiresAt: now + this.#cacheTtlMs };
  }

  #store(tokenHash: string, entry: CacheEntry): void {
    this.#cache.delete(tokenHash);
    this.#cache.set(tokenHash, entry);
    if (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }
}

/** Redis channel on which API processes announce revoked token hashes. */
export function revocationChannel(queuePrefix: string): string {
  return `${queuePrefix}:api-tokens:revoked`;
}

/**
 * Subscribes to revocations on a connection of its own (a subscribed
 * connection can run no other command) and returns a function that closes it.
 * ioredis subscribes again after a reconnect.
 */
export async function listenForRevocations(redis: Redis, channel: string, authenticator: TokenAuthenticator, logger: Logger): Promise<() => void> {
  const subscriber = redis.duplicate({ connectionName: 'shipshape-api-token-events', lazyConnect: true });
  subscriber.on('error', (error: Error) => logger.debug({ err: error }, 'token revocation subscriber connection error'));
  subscriber.on('message', (_channel: string, tokenHash: string) => authenticator.invalidate(tokenHash));
  try {
    await subscriber.connect();
    await subscriber.subscribe(channel);
  } catch (error) {
    // The cache TTL still bounds how long another process trusts a revoked token.
    logger.warn({ err: error, channel }, `subscribing to token revocations failed; other API processes may trust a revoked token for up to ${DEFAULT_CACHE_TTL_MS / 1000} s`);
  }
  return () => subscriber.disconnect();
}
