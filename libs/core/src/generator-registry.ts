import { Injectable } from '@nestjs/common';
import { IdError } from './errors';
import { IdGenerator } from './id-generator';

/**
 * Strategy modules add their generator here when they start; the controller and readiness only
 * ever look generators up by name, so a new strategy is one module and nothing else changes.
 */
@Injectable()
export class GeneratorRegistry {
  private readonly generators = new Map<string, IdGenerator>();

  register(generator: IdGenerator): void {
    if (this.generators.has(generator.strategy)) {
      throw new Error(`strategy "${generator.strategy}" registered twice`);
    }
    this.generators.set(generator.strategy, generator);
  }

  /** the generator for a route segment, or 404 UNKNOWN_STRATEGY naming the ones that exist */
  get(strategy: string): IdGenerator {
    const generator = this.generators.get(strategy);
    if (generator === undefined) {
      throw new IdError(
        'UNKNOWN_STRATEGY',
        `unknown strategy "${strategy.slice(0, 64)}"; strategies: ${this.names().join(', ')}`,
      );
    }
    return generator;
  }

  find(strategy: string): IdGenerator | undefined {
    return this.generators.get(strategy);
  }

  names(): string[] {
    return [...this.generators.keys()];
  }

  all(): IdGenerator[] {
    return [...this.generators.values()];
  }
}
