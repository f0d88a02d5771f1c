import type { ModuleMetadata } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '@app/core';
import { createApp } from '../../apps/id-server/bootstrap';

export interface RunningApp {
  app: NestFastifyApplication;
  url: string;
  get(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  close(): Promise<void>;
}

/** The real app on a real loopback port, in this process. */
export async function startApp(config: AppConfig, imports: ModuleMetadata['imports'] = []): Promise<RunningApp> {
  const app = await createApp(config, { imports });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    app,
    url,
    get: (path, init) => request(url + path, init),
    close: () => app.close(),
  };
}

/** far above any answer the service gives; a request still unanswered after it is a hang */
const REQUEST_TIMEOUT_MS = 60_000;

export async function request(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  // bounded: a connection accepted and never answered fails its test with its own words, not
  // the test's timeout that names no step
  const res = await fetch(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}
