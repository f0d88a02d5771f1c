import { GeneratorHealth, IdGenerator } from '@app/core';
import { UuidV4 } from './uuid-v4';
import { UuidV7 } from './uuid-v7';

/** `uuid`: random, unordered; needs nothing, so it is always ready. */
export class UuidV4Generator implements IdGenerator {
  readonly strategy = 'uuid';
  constructor(private readonly uuid = new UuidV4()) {}

  next(_key: string, count: number): string[] {
    const ids = new Array<string>(count);
    for (let i = 0; i < count; i++) ids[i] = this.uuid.next();
    return ids;
  }

  health(): GeneratorHealth {
    return { ready: true, detail: { version: 4 } };
  }
}

/** `uuidv7`: ordered by ms across instances, strictly increasing within this one. */
export class UuidV7Generator implements IdGenerator {
  readonly strategy = 'uuidv7';
  constructor(private readonly uuid = new UuidV7()) {}

  next(_key: string, count: number): string[] {
    const ids = new Array<string>(count);
    for (let i = 0; i < count; i++) ids[i] = this.uuid.next();
    return ids;
  }

  health(): GeneratorHealth {
    return { ready: true, detail: { version: 7 } };
  }
}
