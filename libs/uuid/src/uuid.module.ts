import { Module, OnModuleInit } from '@nestjs/common';
import { GeneratorRegistry } from '@app/core';
import { UuidV4Generator, UuidV7Generator } from './uuid.generators';

/** Registers `uuid` (v4) and `uuidv7`. */
@Module({
  providers: [
    { provide: UuidV4Generator, useFactory: () => new UuidV4Generator() },
    { provide: UuidV7Generator, useFactory: () => new UuidV7Generator() },
  ],
})
export class UuidModule implements OnModuleInit {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly v4: UuidV4Generator,
    private readonly v7: UuidV7Generator,
  ) {}

  onModuleInit(): void {
    this.registry.register(this.v4);
    this.registry.register(this.v7);
  }
}
