/** Users of the OAuth2 password grant; passwords are stored as scrypt hashes. */
import { burnPasswordCheck, generateId, hashPassword, verifyPassword } from '../secrets.js';
import { toUser } from '../rows.js';
import { checkId, checkName, checkSecret, plausibleSecret } from '../validate.js';
import { StoreError } from '../types.js';
import type { CreateUserInput, Origin, User } from '../types.js';
import { requireApplication } from './context.js';
import type { SqlContext, WriteScope } from './context.js';

const USER_COLUMNS = ['id', 'username', 'application_id', 'origin', 'created_at', 'updated_at'] as const;

export class UserRepository {
  constructor(private readonly ctx: SqlContext) {}

  async create(input: CreateUserInput): Promise<User> {
    checkName('username', input.username);
    checkSecret('password', input.password);
    // Hash outside the transaction: scrypt is slow on purpose and must not hold the write lock.
    const passwordHash = await hashPassword(input.password);
    return this.ctx.write((w) => this.insert(w, { ...input, passwordHash }, 'api'));
  }

  async insert({ trx, touch, now }: WriteScope, input: Omit<CreateUserInput, 'password'> & { passwordHash: string }, origin: Origin): Promise<User> {
    const id = input.id === undefined ? generateId('usr_') : checkId('user', input.id);
    const taken = await trx.selectFrom('users').select('id').where((eb) => eb.or([eb('id', '=', id), eb('username', '=', input.username)])).executeTakeFirst();
    if (taken) throw new StoreError('CONFLICT', `user '${input.username}' already exists.`);
    const applicationId = input.applicationId ?? null;
    if (applicationId !== null) await requireApplication(trx, applicationId, 'INVALID');
    const row = { id, username: input.username, password_hash: input.passwordHash, application_id: applicationId, origin, created_at: now, updated_at: now };
    await trx.insertInto('users').values(row).execute();
    touch('user', id);
    return toUser(row);
  }

  async get(idOrUsername: string): Promise<User | undefined> {
    const row = await this.ctx.db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .where((eb) => eb.or([eb('id', '=', idOrUsername), eb('username', '=', idOrUsername)]))
      .executeTakeFirst();
    return row && toUser(row);
  }

  async list(): Promise<User[]> {
    return (await this.ctx.db.selectFrom('users').select(USER_COLUMNS).orderBy('username').execute()).map(toUser);
  }

  async setPassword(idOrUsername: string, password: string): Promise<void> {
    checkSecret('password', password);
    const passwordHash = await hashPassword(password);
    await this.ctx.write(async ({ trx, touch, now }) => {
      const row = await trx
        .selectFrom('users')
        .select('id')
        .where((eb) => eb.or([eb('id', '=', idOrUsername), eb('username', '=', idOrUsername)]))
        .executeTakeFirst();
      if (!row) throw new StoreError('NOT_FOUND', `user '${idOrUsername}' does not exist.`);
      await trx.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', row.id).execute();
      touch('user', row.id);
    });
  }

  async verify(username: string, password: string): Promise<User | undefined> {
    if (!plausibleSecret(password)) return undefined;
    const row = await this.ctx.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    if (!row) {
      await burnPasswordCheck(password);
      return undefined;
    }
    return (await verifyPassword(password, row.password_hash)) ? toUser(row) : undefined;
  }

  /** The stored hash of `username` when `password` matches it (the config sync skips rehashing then). */
  async matchingHash(username: string, password: string): Promise<string | undefined> {
    const row = await this.ctx.db.selectFrom('users').select('password_hash').where('username', '=', username).executeTakeFirst();
    return row && (await verifyPassword(password, row.password_hash)) ? row.password_hash : undefined;
  }
}
