/**
 * On-disk cache store for big bodies: the embedded default for images and downloads.
 *
 * Layout under `dir` (versioned so a future format can live beside this one):
 *   v1/entries/ab/cd/<sha256(key)>.json           sidecar: {key, size, body, meta}
 *   v1/entries/ab/cd/<sha256(key)>-<id>.bin       body; a fresh name per write
 *   v1/tmp/                                       bodies being filled, sidecars being written
 * A body streams into v1/tmp and is renamed into place when complete; then the sidecar is written to
 * v1/tmp and renamed over the old one. The sidecar rename is the commit: readers see the old entry or
 * the new one, never a mix, and a fresh body name per write means two concurrent fills of one key cannot
 * pair one's sidecar with the other's body. Without fsync a crash may leave a short body behind a sidecar;
 * `open()` compares the file size with the sidecar's and treats a mismatch as a miss.
 *
 * The index (key -> size, tags, body name) and the LRU order live in memory and are rebuilt by scanning
 * at open, so a restart keeps the entries (LRU order restarts from `storedAt`). The worker processes of one
 * gateway (src/cluster/) share a directory: a key missing from a worker's index is looked up on disk, so what
 * one worker filled the others serve; each keeps its own index, so `maxSize` and purges by tag are per worker's
 * view. Separate gateway instances share entries through Redis, not through one disk directory.
 *
 * Leftovers: a tmp file is named `<pid>-<id>` after the process filling it. At open, a tmp file is removed
 * when its process is gone (or is an earlier process that had our pid: containers restart as pid 1), or
 * when nothing was written to it for STALE_TMP_MS; a fill in progress in a live process is never touched.
 * `tollgate cache stats|purge` open with `cleanUp: false` and remove nothing at open (not even orphans):
 * the running gateway owns those files.
 * Only async fs calls are used, including at open.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EntryWriter, isExpired, matchesPurge, serializeMeta } from './entry-writer.js';
import type { CacheHit, CacheMeta, CacheStore, CacheStoreStats, CacheWriteOptions, CacheWriteStream, PurgeFilter } from './types.js';

const DISK_DEFAULT_MAX_SIZE = 1024 * 1024 * 1024;
const LAYOUT_VERSION = 'v1';
/** Bigger reads than fs's 64 KiB default: fewer syscalls and chunks when serving large bodies. */
const READ_HIGH_WATER_MARK = 256 * 1024;
/** Sidecars parsed in parallel at open: enough to hide latency, few enough to stay far from EMFILE. */
const SCAN_CONCURRENCY = 64;
/** A tmp file nobody wrote to for this long is a dead fill whatever its name says (no upstream stalls an hour). */
const STALE_TMP_MS = 60 * 60 * 1000;

export interface DiskStoreOptions {
  /** Directory of the cache; created when missing. */
  dir: string;
  /** Cap on bodies + sidecars, in bytes; least recently used entries are evicted beyond it. Default 1 GiB. */
  maxSize?: number;
  /** Larger bodies are not stored. Default: `maxSize`. */
  maxEntrySize?: number;
  /**
   * Remove leftovers at open: stale tmp files, orphan bodies, expired sidecars, entries over `maxSize`.
   * Default true (the gateway, which owns the directory); the CLI passes false.
   */
  cleanUp?: boolean;
}

interface IndexEntry {
  readonly key: string;
  readonly hash: string;
  /** File name of the body, inside the entry's directory. */
  readonly bodyFile: string;
  readonly size: number;
  metaBytes: number;
  tags: readonly string[];
  deleteAt: number | undefined;
}

interface Sidecar {
  key: string;
  size: number;
  body: string;
  meta: CacheMeta;
}

const noop = (): void => {};
const randomId = (): string => randomBytes(8).toString('hex');
const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');
const cost = (e: IndexEntry): number => e.size + e.metaBytes;

class DiskHit implements CacheHit {
  readonly body = undefined;
  constructor(
    readonly key: string,
    readonly meta: Readonly<CacheMeta>,
    readonly size: number,
    private readonly path: string,
  ) {}

  async open(): Promise<Readable> {
    const fh = await open(this.path, 'r');
    try {
      const { size } = await fh.stat();
      if (size !== this.size) throw new Error(`cached body on disk has ${size} bytes, expected ${this.size}`);
    } catch (err) {
      await fh.close().catch(noop);
      throw err;
    }
    return fh.createReadStream({ highWaterMark: READ_HIGH_WATER_MARK });
  }
}

class DiskWriter extends EntryWriter {
  readonly #store: DiskStore;
  readonly #tmpPath: string;
  #file: Promise<FileHandle> | undefined;

  constructor(store: DiskStore, key: string, meta: CacheMeta, limit: number, options: CacheWriteOptions | undefined) {
    super(key, meta, limit, options?.expectedSize);
    this.#store = store;
    this.#tmpPath = store.tmpPath();
  }

  #handle(): Promise<FileHandle> {
    this.#file ??= open(this.#tmpPath, 'w');
    return this.#file;
  }

  protected append(chunk: Buffer, cb: (err?: Error | null) => void): void {
    this.#handle()
      .then((fh) => writeAll(fh, chunk))
      .then(() => cb(), cb);
  }

  protected commit(size: number, cb: (err?: Error | null) => void): void {
    this.#handle()
      .then((fh) => fh.close())
      .then(() => this.#store.commitFile(this.key, this.#tmpPath, size, this.meta, this.metaJson))
      .then(() => cb(), cb);
  }

  protected discard(): void {
    const file = this.#file;
    const tmpPath = this.#tmpPath;
    if (file === undefined) return;
    void file
      .then((fh) => fh.close())
      .catch(noop)
      .then(() => unlink(tmpPath))
      .catch(noop);
  }
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

export class DiskStore implements CacheStore {
  readonly kind = 'disk';
  readonly maxEntrySize: number;
  readonly dir: string;
  readonly #maxSize: number;
  readonly #entriesDir: string;
  readonly #tmpDir: string;
  readonly #cleanUp: boolean;
  /** Insertion order is LRU order: oldest first; a hit moves its entry to the end. */
  readonly #index = new Map<string, IndexEntry>();
  /** Serializes commit / updateMeta / delete per key, so index and files agree. */
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #madeDirs = new Set<string>();
  #bytes = 0;
  #closed = false;

  private constructor(options: DiskStoreOptions) {
    const maxSize = options.maxSize ?? DISK_DEFAULT_MAX_SIZE;
    if (!(Number.isInteger(maxSize) && maxSize > 0)) throw new TypeError(`disk cache maxSize must be a positive integer, got ${maxSize}`);
    this.#maxSize = maxSize;
    this.maxEntrySize = Math.min(options.maxEntrySize ?? maxSize, maxSize);
    this.dir = options.dir;
    this.#entriesDir = join(options.dir, LAYOUT_VERSION, 'entries');
    this.#tmpDir = join(options.dir, LAYOUT_VERSION, 'tmp');
    this.#cleanUp = options.cleanUp ?? true;
  }

  /** Opens (creating when needed) a store on `dir`, rebuilding its index from the sidecars found there. */
  static async open(options: DiskStoreOptions): Promise<DiskStore> {
    const store = new DiskStore(options);
    await store.#load();
    return store;
  }

  async get(key: string): Promise<CacheHit | undefined> {
    const entry = this.#index.get(key) ?? (await this.#adopt(key));
    if (entry === undefined) return undefined;
    if (isExpired(entry.deleteAt)) {
      void this.delete(key).catch(noop);
      return undefined;
    }
    let sidecar: Sidecar;
    try {
      sidecar = JSON.parse(await readFile(this.#sidecarPath(entry.hash), 'utf8')) as Sidecar;
    } catch {
      // Deleted or replaced under us (or by hand): a miss; a concurrent commit will re-index it.
      return undefined;
    }
    if (sidecar.key !== key || isExpired(sidecar.meta.deleteAt)) return undefined;
    const current = this.#index.get(key);
    if (current !== undefined) {
      this.#index.delete(key);
      this.#index.set(key, current);
    }
    return new DiskHit(key, sidecar.meta, sidecar.size, join(this.#dirOf(entry.hash), sidecar.body));
  }

  createWriteStream(key: string, meta: CacheMeta, options?: CacheWriteOptions): CacheWriteStream {
    return new DiskWriter(this, key, meta, this.maxEntrySize, options);
  }

  /** @internal A fresh path in the temp directory (same filesystem as the entries, so rename is atomic). */
  tmpPath(): string {
    return join(this.#tmpDir, `${process.pid}-${randomId()}`);
  }

  /** @internal Moves a complete body into place and commits its sidecar; called by the writer. */
  async commitFile(key: string, tmpBody: string, size: number, meta: CacheMeta, metaJson: string): Promise<void> {
    await this.#withLock(key, async () => {
      if (this.#closed) throw new Error('disk cache store is closed');
      if (isExpired(meta.deleteAt)) {
        await unlink(tmpBody).catch(noop);
        await this.#deleteLocked(key);
        return;
      }
      const hash = hashKey(key);
      const dir = this.#dirOf(hash);
      if (!this.#madeDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.#madeDirs.add(dir);
      }
      const bodyFile = `${hash}-${randomId()}.bin`;
      const bodyPath = join(dir, bodyFile);
      await rename(tmpBody, bodyPath);
      const sidecarJson = `{"key":${JSON.stringify(key)},"size":${size},"body":"${bodyFile}","meta":${metaJson}}`;
      try {
        await this.#writeAtomic(this.#sidecarPath(hash), sidecarJson);
      } catch (err) {
        await unlink(bodyPath).catch(noop);
        throw err;
      }
      const old = this.#index.get(key);
      if (old !== undefined) this.#unindex(old);
      this.#reindex({ key, hash, bodyFile, size, metaBytes: sidecarJson.length, tags: meta.tags, deleteAt: meta.deleteAt });
      if (old !== undefined && old.bodyFile !== bodyFile) await unlink(join(dir, old.bodyFile)).catch(noop);
    });
    await this.#evict(key);
  }

  async updateMeta(key: string, meta: CacheMeta): Promise<boolean> {
    const { meta: clean, json } = serializeMeta(meta);
    return this.#withLock(key, async () => {
      const entry = this.#index.get(key);
      if (entry === undefined) return false;
      if (isExpired(clean.deleteAt)) {
        await this.#deleteLocked(key);
        return true;
      }
      const sidecarJson = `{"key":${JSON.stringify(key)},"size":${entry.size},"body":"${entry.bodyFile}","meta":${json}}`;
      await this.#writeAtomic(this.#sidecarPath(entry.hash), sidecarJson);
      this.#bytes += sidecarJson.length - entry.metaBytes;
      entry.metaBytes = sidecarJson.length;
      entry.tags = clean.tags;
      entry.deleteAt = clean.deleteAt;
      return true;
    });
  }

  delete(key: string): Promise<boolean> {
    return this.#withLock(key, () => this.#deleteLocked(key));
  }

  async purge(filter: PurgeFilter): Promise<number> {
    const doomed: string[] = [];
    for (const entry of this.#index.values()) {
      if (matchesPurge(entry.key, entry.tags, filter)) doomed.push(entry.key);
    }
    const deleted = await Promise.all(doomed.map((key) => this.delete(key)));
    return deleted.filter(Boolean).length;
  }

  stats(): Promise<CacheStoreStats> {
    return Promise.resolve({ entries: this.#index.size, bytes: this.#bytes });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#locks.values()]);
  }

  /**
   * An entry another process (a sibling worker, src/cluster/) committed after this one built its index: its
   * sidecar is on disk under the key's hash. One failed read per miss otherwise, next to an upstream request.
   */
  async #adopt(key: string): Promise<IndexEntry | undefined> {
    if (this.#closed) return undefined;
    const hash = hashKey(key);
    let json: string;
    let sidecar: Sidecar;
    try {
      json = await readFile(this.#sidecarPath(hash), 'utf8');
      sidecar = JSON.parse(json) as Sidecar;
    } catch {
      return undefined;
    }
    if (sidecar.key !== key || isExpired(sidecar.meta.deleteAt) || this.#index.has(key)) return this.#index.get(key);
    const entry: IndexEntry = { key, hash, bodyFile: sidecar.body, size: sidecar.size, metaBytes: json.length, tags: sidecar.meta.tags, deleteAt: sidecar.meta.deleteAt };
    this.#reindex(entry);
    return entry;
  }

  #dirOf(hash: string): string {
    return join(this.#entriesDir, hash.slice(0, 2), hash.slice(2, 4));
  }

  #sidecarPath(hash: string): string {
    return join(this.#dirOf(hash), `${hash}.json`);
  }

  async #writeAtomic(path: string, data: string): Promise<void> {
    const tmp = this.tmpPath();
    try {
      await writeFile(tmp, data);
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(noop);
      throw err;
    }
  }

  #withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.catch(noop);
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }

  #reindex(entry: IndexEntry): void {
    this.#index.set(entry.key, entry);
    this.#bytes += cost(entry);
  }

  #unindex(entry: IndexEntry): void {
    this.#index.delete(entry.key);
    this.#bytes -= cost(entry);
  }

  async #deleteLocked(key: string): Promise<boolean> {
    const entry = this.#index.get(key);
    if (entry === undefined) return false;
    this.#unindex(entry);
    // Sidecar first: a crash in between leaves an orphan body (cleaned at open), never a sidecar without body.
    await unlink(this.#sidecarPath(entry.hash)).catch(noop);
    await unlink(join(this.#dirOf(entry.hash), entry.bodyFile)).catch(noop);
    return true;
  }

  /** Drops least recently used entries until under the cap; `keep` (the entry just written) goes last. */
  async #evict(keep: string): Promise<void> {
    const victims: IndexEntry[] = [];
    for (const entry of this.#index.values()) {
      if (this.#bytes <= this.#maxSize) break;
      if (entry.key === keep) continue;
      this.#unindex(entry);
      victims.push(entry);
    }
    if (this.#bytes > this.#maxSize) {
      const last = this.#index.get(keep);
      if (last !== undefined) {
        this.#unindex(last);
        victims.push(last);
      }
    }
    await Promise.all(
      victims.map((victim) =>
        this.#withLock(victim.key, async () => {
          // A commit that ran since the victim left the index owns the sidecar now: keep it.
          if (!this.#index.has(victim.key)) await unlink(this.#sidecarPath(victim.hash)).catch(noop);
          await unlink(join(this.#dirOf(victim.hash), victim.bodyFile)).catch(noop);
        }),
      ),
    );
  }

  async #load(): Promise<void> {
    await mkdir(this.#entriesDir, { recursive: true });
    await mkdir(this.#tmpDir, { recursive: true });
    // Leftovers of fills a previous process did not finish; never a fill a live process is writing.
    if (this.#cleanUp) await this.#sweepTmp();

    const files = await readdir(this.#entriesDir, { recursive: true });
    const bodies = new Set<string>();
    const sidecars: string[] = [];
    for (const file of files) {
      if (file.endsWith('.bin')) bodies.add(join(this.#entriesDir, file));
      else if (file.endsWith('.json')) sidecars.push(join(this.#entriesDir, file));
    }

    const found: IndexEntry[] = [];
    const storedAt = new Map<IndexEntry, number>();
    const referenced = new Set<string>();
    const now = Date.now();
    for (let i = 0; i < sidecars.length; i += SCAN_CONCURRENCY) {
      await Promise.all(
        sidecars.slice(i, i + SCAN_CONCURRENCY).map(async (path) => {
          const entry = await readSidecar(path);
          const hash = entry ? hashKey(entry.key) : '';
          const bodyPath = entry ? join(this.#dirOf(hash), entry.body) : '';
          if (entry === undefined || this.#sidecarPath(hash) !== path || !bodies.has(bodyPath) || isExpired(entry.meta.deleteAt, now)) {
            if (this.#cleanUp) await unlink(path).catch(noop);
            return;
          }
          referenced.add(bodyPath);
          const indexed: IndexEntry = {
            key: entry.key,
            hash,
            bodyFile: entry.body,
            size: entry.size,
            metaBytes: entry.bytes,
            tags: entry.meta.tags,
            deleteAt: entry.meta.deleteAt,
          };
          found.push(indexed);
          storedAt.set(indexed, entry.meta.storedAt);
        }),
      );
    }
    found.sort((a, b) => (storedAt.get(a) ?? 0) - (storedAt.get(b) ?? 0));
    for (const entry of found) this.#reindex(entry);
    if (!this.#cleanUp) return;
    await Promise.all([...bodies].filter((b) => !referenced.has(b)).map((b) => unlink(b).catch(noop)));
    await this.#evict('');
  }

  async #sweepTmp(): Promise<void> {
    const now = Date.now();
    const processStart = now - process.uptime() * 1000;
    const names = await readdir(this.#tmpDir);
    await Promise.all(
      names.map(async (name) => {
        const path = join(this.#tmpDir, name);
        const st = await stat(path).catch(() => undefined);
        if (st && isStaleTmp(name, st.mtimeMs, now, processStart)) await rm(path, { recursive: true, force: true }).catch(noop);
      }),
    );
  }
}

/** Whether a tmp file is a leftover (see the header): its owner is gone, or it has been idle for STALE_TMP_MS. */
function isStaleTmp(name: string, mtimeMs: number, now: number, processStart: number): boolean {
  if (now - mtimeMs > STALE_TMP_MS) return true;
  const m = /^(\d+)-/.exec(name);
  // A name without a pid (an older version's): only the age tells.
  if (!m) return false;
  const pid = Number(m[1]);
  if (pid === process.pid) return mtimeMs < processStart;
  return !processAlive(pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readSidecar(path: string): Promise<(Sidecar & { bytes: number }) | undefined> {
  try {
    const raw = await readFile(path, 'utf8');
    const doc = JSON.parse(raw) as Partial<Sidecar>;
    const meta = doc.meta;
    if (
      typeof doc.key !== 'string' ||
      typeof doc.body !== 'string' ||
      !Number.isInteger(doc.size) ||
      typeof meta !== 'object' ||
      meta === null ||
      !Array.isArray(meta.tags)
    ) {
      return undefined;
    }
    return { key: doc.key, body: doc.body, size: doc.size as number, meta, bytes: raw.length };
  } catch {
    return undefined;
  }
}

export function openDiskStore(options: DiskStoreOptions): Promise<DiskStore> {
  return DiskStore.open(options);
}
