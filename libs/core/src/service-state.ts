import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/**
 * Instance-wide state readiness reports beside the strategies: draining (SHUTDOWN_DRAIN_MS after
 * a SIGTERM: still serving, but no longer ready, so balancers move away) and shutting down (the
 * close has begun: the id routes answer SHUTTING_DOWN).
 */
@Injectable()
export class ServiceState implements BeforeApplicationShutdown {
  draining = false;
  shuttingDown = false;

  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  /** why readiness fails for the instance itself, or undefined while it serves */
  get stopReason(): string | undefined {
    if (this.shuttingDown) return 'shutting down';
    if (this.draining) return 'shutting down: draining (SHUTDOWN_DRAIN_MS), still serving';
    return undefined;
  }
}
