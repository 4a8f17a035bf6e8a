import type { TableClient, TransactionAction } from '@azure/data-tables';
import { LeaseBusyError, LeaseLostError, StateCorruptError, isLostRace, statusOf, type StateUnavailableError } from './errors.js';
import { LEASE_ROW_KEY } from './keys.js';

/** Mutual exclusion between runs of one config; it expires on its own, so a crashed holder blocks no one for long. */
export interface Lease {
  readonly holder: string;
  readonly expiresAt: string;
  /** Extends the lease; fails with 'lease-lost' if another run took it over after it expired. */
  renew(ttlMs: number): Promise<void>;
  /** Gives the lease up; does nothing if it was already lost. */
  release(): Promise<void>;
}

/** What the lease needs from the store: the table, its partition, the clock and the store's error translation. */
export interface LeaseTable {
  readonly table: TableClient;
  readonly partitionKey: string;
  readonly now: () => Date;
  readonly unavailable: (action: string, error: unknown) => StateUnavailableError;
}

interface LeaseRow {
  readonly holder: string;
  readonly expiresAt: string;
  readonly etag: string;
}

/** Races are decided by the service's conditional writes; a few rounds settle any realistic contention. */
const ACQUIRE_ROUNDS = 4;
const MAX_HOLDER_LENGTH = 256;

export async function acquireLease(io: LeaseTable, holder: string, ttlMs: number): Promise<TableLease> {
  checkHolder(holder);
  checkTtl(ttlMs);
  let lastSeen: LeaseRow | undefined;
  for (let round = 0; round < ACQUIRE_ROUNDS; round++) {
    const current = await readLeaseRow(io);
    const now = io.now();
    if (current && current.holder !== holder && Date.parse(current.expiresAt) > now.getTime()) throw busy(current, now);
    lastSeen = current;
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    const entity = leaseEntity(io.partitionKey, holder, expiresAt);
    try {
      const response = current
        ? await io.table.updateEntity(entity, 'Replace', { etag: current.etag })
        : await io.table.createEntity(entity);
      return new TableLease(io, holder, { expiresAt, etag: requireEtag(response.etag) }, ttlMs);
    } catch (error) {
      // Someone else created or took the lease between our read and write: read again to see who holds it.
      if (isLostRace(error) || statusOf(error) === 404) continue;
      throw io.unavailable('acquire the lease', error);
    }
  }
  const now = io.now();
  throw lastSeen ? busy(lastSeen, now) : new LeaseBusyError('another run', now.toISOString(), 1);
}

export class TableLease implements Lease {
  #expiresAt: string;
  #etag: string;
  #ttlMs: number;

  constructor(
    private readonly io: LeaseTable,
    readonly holder: string,
    { expiresAt, etag }: { expiresAt: string; etag: string },
    ttlMs: number,
  ) {
    this.#expiresAt = expiresAt;
    this.#etag = etag;
    this.#ttlMs = ttlMs;
  }

  get expiresAt(): string {
    return this.#expiresAt;
  }

  get partitionKey(): string {
    return this.io.partitionKey;
  }

  async renew(ttlMs: number): Promise<void> {
    checkTtl(ttlMs);
    const expiresAt = new Date(this.io.now().getTime() + ttlMs).toISOString();
    try {
      const response = await this.io.table.updateEntity(leaseEntity(this.io.partitionKey, this.holder, expiresAt), 'Replace', {
        etag: this.#etag,
      });
      this.#etag = requireEtag(response.etag);
      this.#expiresAt = expiresAt;
      this.#ttlMs = ttlMs;
    } catch (error) {
      if (isLostRace(error) || statusOf(error) === 404) throw new LeaseLostError(this.holder);
      throw this.io.unavailable('renew the lease', error);
    }
  }

  async release(): Promise<void> {
    try {
      await this.io.table.deleteEntity(this.io.partitionKey, LEASE_ROW_KEY, { etag: this.#etag });
    } catch (error) {
      if (isLostRace(error) || statusOf(error) === 404) return;
      throw this.io.unavailable('release the lease', error);
    }
  }

  /**
   * A transaction action that renews this lease only if this run still holds it. A state write that carries it
   * is fenced: a run whose lease expired and was taken over cannot overwrite the new holder's state.
   */
  fencingAction(): { action: TransactionAction; expiresAt: string } {
    const expiresAt = new Date(this.io.now().getTime() + this.#ttlMs).toISOString();
    const entity = leaseEntity(this.io.partitionKey, this.holder, expiresAt);
    return { action: ['update', entity, 'Replace', { etag: this.#etag }], expiresAt };
  }

  /** Records the renewal that a fenced write carried out. */
  fencedWriteSucceeded(etag: string | undefined, expiresAt: string): void {
    this.#etag = requireEtag(etag);
    this.#expiresAt = expiresAt;
  }

  /**
   * After a fenced write lost a race: whether the stored lease carries exactly the renewal that write's transaction
   * makes (this holder, that expiry), which means the transaction was applied and only its answer was lost.
   * If so, the renewal is adopted so the lease can still be renewed and released.
   */
  async adoptOwnRenewal(fencedExpiresAt: string): Promise<boolean> {
    const current = await readLeaseRow(this.io);
    if (current?.holder !== this.holder || current.expiresAt !== fencedExpiresAt || current.etag === this.#etag) return false;
    this.fencedWriteSucceeded(current.etag, current.expiresAt);
    return true;
  }

  /** Whether the stored lease is still this one (used to explain why a fenced write failed). */
  async isStillHeld(): Promise<boolean> {
    const current = await readLeaseRow(this.io);
    return current?.etag === this.#etag;
  }
}

async function readLeaseRow(io: LeaseTable): Promise<LeaseRow | undefined> {
  let entity: Record<string, unknown> & { etag: string };
  try {
    entity = await io.table.getEntity<Record<string, unknown>>(io.partitionKey, LEASE_ROW_KEY);
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw io.unavailable('read the lease', error);
  }
  const { holder, expiresAt } = entity;
  if (typeof holder !== 'string' || typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt))) {
    throw new StateCorruptError(LEASE_ROW_KEY, 'it has no valid holder and expiresAt');
  }
  return { holder, expiresAt, etag: entity.etag };
}

function leaseEntity(partitionKey: string, holder: string, expiresAt: string) {
  return { partitionKey, rowKey: LEASE_ROW_KEY, kind: 'lease', holder, expiresAt };
}

function busy(current: LeaseRow, now: Date): LeaseBusyError {
  const seconds = Math.max(1, Math.ceil((Date.parse(current.expiresAt) - now.getTime()) / 1000));
  return new LeaseBusyError(current.holder, current.expiresAt, seconds);
}

function requireEtag(etag: string | undefined): string {
  // Every successful write returns an ETag; without one the lease could never be renewed or fenced.
  if (!etag) throw new Error('Table storage returned no ETag for the lease');
  return etag;
}

function checkHolder(holder: string): void {
  if (holder.length === 0 || holder.length > MAX_HOLDER_LENGTH) {
    throw new RangeError(`A lease holder must be 1-${MAX_HOLDER_LENGTH} characters`);
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError('A lease ttl must be a positive number of milliseconds');
}
