import { Module, OnModuleInit } from '@nestjs/common';
import { GeneratorHealth, GeneratorRegistry, IdError, IdGenerator } from '@app/core';

/** A strategy whose answers a test sets: to reach error paths and readiness states for real. */
export class FakeGenerator implements IdGenerator {
  readonly strategy = 'fake';
  throwNext?: unknown;
  state: GeneratorHealth = { ready: true, detail: {} };
  private n = 0;

  next(_key: string, count: number): string[] | Promise<string[]> {
    if (this.throwNext !== undefined) throw this.throwNext;
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(String(++this.n));
    return count > 1 ? Promise.resolve(ids) : ids;
  }

  health(): GeneratorHealth {
    return this.state;
  }
}

export const fakeGenerator = new FakeGenerator();

@Module({ providers: [{ provide: FakeGenerator, useValue: fakeGenerator }] })
export class FakeStrategyModule implements OnModuleInit {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly generator: FakeGenerator,
  ) {}
  onModuleInit(): void {
    this.registry.register(this.generator);
  }
}

export { IdError };
