import { Module, OnModuleInit } from '@nestjs/common';
import { GeneratorRegistry } from '@app/core';
import { MYSQL_POOL, MysqlPool, sqliteHandle } from '@app/database';
import { DataSource } from 'typeorm';
import { MysqlTicketStore, SqliteTicketStore, TicketGenerator } from './ticket';

/** Wiring only: the ticket table of the main database. */
@Module({
  providers: [
    {
      provide: TicketGenerator,
      inject: [DataSource, MYSQL_POOL],
      useFactory: (ds: DataSource, pool: MysqlPool | null) =>
        new TicketGenerator(pool !== null ? new MysqlTicketStore(pool) : new SqliteTicketStore(sqliteHandle(ds))),
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
