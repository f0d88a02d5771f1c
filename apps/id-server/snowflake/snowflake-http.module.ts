import { Module } from '@nestjs/common';
import { SnowflakeModule } from '@app/snowflake';
import { SnowflakeController } from './snowflake.controller';

/** The snowflake routes beside the id route: decode. */
@Module({ imports: [SnowflakeModule], controllers: [SnowflakeController] })
export class SnowflakeHttpModule {}
