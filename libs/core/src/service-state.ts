import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/** Instance-wide state readiness reports beside the strategies: shutting down. */
@Injectable()
export class ServiceState implements BeforeApplicationShutdown {
  shuttingDown = false;

  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }
}
