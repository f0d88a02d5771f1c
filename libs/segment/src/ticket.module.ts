import { Module, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, AppConfig, GeneratorRegistry } from '@app/core';
import { MysqlPool, sqliteHandle } from '@app/database';
import { DataSource } from 'typeorm';
import { MysqlTicketStore, SqliteTicketStore, TicketGenerator } from './ticket';

/** Wiring only: the ticket table of the main database. */
@Module({
  providers: [
    {
      provide: TicketGenerator,
      inject: [APP_CONFIG, DataSource],
      useFactory: (config: AppConfig, ds: DataSource) =>
        new TicketGenerator(config.DB_TYPE === 'mysql' ? new MysqlTicketStore(new MysqlPool(ds)) : new SqliteTicketStore(sqliteHandle(ds))),
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
