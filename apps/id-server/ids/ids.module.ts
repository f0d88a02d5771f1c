import { Module } from '@nestjs/common';
import { IdsController } from './ids.controller';

@Module({ controllers: [IdsController] })
export class IdsModule {}
