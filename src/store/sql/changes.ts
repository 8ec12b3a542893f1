/** The version counter and the change log the gateways poll (rows are written by SqlContext.write). */
import { num } from '../rows.js';
import type { ChangeEntity, ChangeSet } from '../types.js';
import { CHANGE_LOG_RETAIN } from './context.js';
import type { SqlContext } from './context.js';

export class ChangeLog {
  constructor(private readonly ctx: SqlContext) {}

  async version(): Promise<number> {
    const row = await this.ctx.db.selectFrom('store_version').select('version').where('id', '=', 1).executeTakeFirstOrThrow();
    return num(row.version);
  }

  async since(cursor: number): Promise<ChangeSet> {
    // Version first, then changes up to it: a change committed in between shows up next time, not never.
    const version = await this.version();
    if (cursor === version) return { version, changes: [], reset: false };
    if (cursor > version || cursor < version - CHANGE_LOG_RETAIN) return { version, changes: [], reset: true };
    const rows = await this.ctx.db
      .selectFrom('changes')
      .selectAll()
      .where('version', '>', cursor)
      .where('version', '<=', version)
      .orderBy('version')
      .execute();
    return { version, changes: rows.map((r) => ({ version: num(r.version), entity: r.entity as ChangeEntity, id: r.entity_id })), reset: false };
  }
}
