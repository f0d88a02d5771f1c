import { Init1767225600000 } from './1767225600000-init';

/** Every migration, oldest first. Schema changes only here; `synchronize` is never on. */
export const MIGRATIONS = [Init1767225600000];
