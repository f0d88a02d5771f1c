import { EntitySchema } from 'typeorm';
import { BIN, DECIMAL_STRING, perDialect, EntityDialect } from './dialect';

/** id_idempotency (Idempotency1767225600800): one row per Idempotency-Key of POST /ids/:strategy */
export interface IdempotencyRow {
  idemKey: string;
  fingerprint: string;
  owner: string;
  /** the answer's JSON once given; null while the first attempt runs */
  answer: string | null;
  /** Unix ms */
  createdAt: string;
}

export const IDEMPOTENCY = 'Idempotency';

export function idempotencyEntity(dialect: EntityDialect): EntitySchema<IdempotencyRow> {
  return new EntitySchema<IdempotencyRow>({
    name: IDEMPOTENCY,
    tableName: 'id_idempotency',
    columns: {
      idemKey: { name: 'idem_key', type: 'varchar', length: 255, primary: true, collation: BIN(dialect) },
      fingerprint: { type: 'char', length: 64 },
      owner: { type: 'varchar', length: 64 },
      answer: { type: perDialect(dialect, { mysql: 'mediumtext', sqlite: 'text', postgres: 'text' }), nullable: true },
      createdAt: { name: 'created_at', type: 'bigint', transformer: DECIMAL_STRING },
    },
    indices: [{ name: perDialect(dialect, { mysql: 'created_at', sqlite: 'id_idempotency_created_at', postgres: 'id_idempotency_created_at' }), columns: ['createdAt'] }],
  });
}
