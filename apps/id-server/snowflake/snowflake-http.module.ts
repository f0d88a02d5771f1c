import { Module } from '@nestjs/common';
import { SnowflakeModule } from '@app/snowflake';
import { SnowflakeAdminController, SnowflakeController } from './snowflake.controller';

/** The snowflake routes beside the id route: decode. */
@Module({ imports: [SnowflakeModule], controllers: [SnowflakeController, SnowflakeAdminController] })
export class SnowflakeHttpModule {}
