import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** Debian's Chromium; playwright-core never downloads a browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(__dirname, '..', 'artifacts');
// flags for a closed network: no background connections, no first-run, no sandbox as root
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export type Browser = Awaited<ReturnType<typeof chromium.launch>>;

export const haveChromium = () => existsSync(CHROMIUM);

export function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/** where Chromium is missing: one test saying so, which fails on CI (a missing browser fails the run there) */
export function browserChecksDidNotRun(what: string): void {
  it(`${what} did not run: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`, () => {
    expect(process.env.CI).toBeFalsy();
  });
}
