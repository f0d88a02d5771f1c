import { Module } from '@nestjs/common';
import { AdminInfoController } from './admin-info.controller';

@Module({ controllers: [AdminInfoController] })
export class AdminModule {}
