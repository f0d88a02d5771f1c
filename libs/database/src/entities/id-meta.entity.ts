import { EntitySchema } from 'typeorm';
import { NOW, perDialect, EntityDialect } from './dialect';

/** id_meta: facts the service keeps about itself (migration Init1767225600000). */
export interface IdMetaRow {
  name: string;
  value: string;
  updateTime: Date;
}

export const ID_META = 'IdMeta';

export function idMetaEntity(dialect: EntityDialect): EntitySchema<IdMetaRow> {
  return new EntitySchema<IdMetaRow>({
    name: ID_META,
    tableName: 'id_meta',
    columns: {
      name: { type: 'varchar', length: 64, primary: true, collation: perDialect(dialect, { mysql: undefined, sqlite: undefined, postgres: 'C' }) },
      value: { type: 'varchar', length: 255 },
      updateTime: {
        name: 'update_time',
        type: perDialect(dialect, { mysql: 'timestamp', sqlite: 'timestamp', postgres: 'timestamptz' }),
        default: NOW,
        onUpdate: perDialect(dialect, { mysql: 'CURRENT_TIMESTAMP', sqlite: undefined, postgres: undefined }),
      },
    },
  });
}
