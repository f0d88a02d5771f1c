import 'reflect-metadata';
import { Controller, Get, Header, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';

/** An empty Nest controller on Fastify answering the same JSON: what Nest itself costs. */
@Controller('ids')
class EmptyController {
  @Get(':strategy')
  @Header('content-type', 'application/json; charset=utf-8')
  ids(@Param('strategy') _strategy: string): string {
    return '{"strategy":"segment","key":"default","ids":["1"]}';
  }
}

@Module({ controllers: [EmptyController] })
class EmptyModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(EmptyModule, new FastifyAdapter(), { logger: false });
  await app.listen(Number(process.argv[2]), '127.0.0.1');
}
void main();
