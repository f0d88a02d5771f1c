import { Module, OnModuleInit } from '@nestjs/common';
import { GeneratorRegistry } from '@app/core';
import { SQL_POOL, SqlPool, sqliteHandle } from '@app/database';
import { DataSource } from 'typeorm';
import { ServerTicketStore, SqliteTicketStore, TicketGenerator } from './ticket';

/** Wiring only: the ticket table of the main database. */
@Module({
  providers: [
    {
      provide: TicketGenerator,
      inject: [DataSource, SQL_POOL],
      useFactory: (ds: DataSource, pool: SqlPool | null) =>
        new TicketGenerator(pool !== null ? new ServerTicketStore(pool) : new SqliteTicketStore(sqliteHandle(ds))),
    },
  ],
})
export class TicketModule implements OnModuleInit {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly generator: TicketGenerator,
  ) {}

  onModuleInit(): void {
    this.registry.register(this.generator);
  }
}
