import { Module } from '@nestjs/common';
import { SnowflakeModule } from '@app/snowflake';
import { SnowflakeAdminController } from './snowflake.controller';
import { SnowflakeRoutes } from './snowflake.routes';

/** The snowflake routes beside the id route: decode (public, served directly) and the admin decode. */
@Module({ imports: [SnowflakeModule], controllers: [SnowflakeAdminController], providers: [SnowflakeRoutes] })
export class SnowflakeHttpModule {}
