import { Global, Module } from '@nestjs/common';
import { IdExceptionFilter } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { DirectRoutes } from './direct-routes';

/** The HTTP edge: the one error filter (Nest's routes and the direct routes) and DirectRoutes. */
@Global()
@Module({
  providers: [
    { provide: IdExceptionFilter, useFactory: (counter: IssueCounter) => new IdExceptionFilter((code) => counter.error(code)), inject: [IssueCounter] },
    DirectRoutes,
  ],
  exports: [IdExceptionFilter, DirectRoutes],
})
export class HttpEdgeModule {}
