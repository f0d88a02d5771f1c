#!/usr/bin/env node
/*
 * The registry this project installs from lacks some other platforms' native binaries (swc's
 * and unrs-resolver's darwin/win32/... builds). npm then writes a lockfile without them and
 * `npm ci` refuses it as out of sync. This adds each missing optional package as an entry
 * restricted to its own os/cpu, so `npm ci` skips it on every other platform without fetching.
 * Run after any `npm install` that changes the lockfile: `node scripts/lock-platform-stubs.js`.
 */
const fs = require('node:fs');
const path = require('node:path');

const lockPath = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const packages = lock.packages;

const OS = ['darwin', 'win32', 'linux', 'android', 'freebsd', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPU = { x64: 'x64', arm64: 'arm64', arm: 'arm', ia32: 'ia32', ppc64: 'ppc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.map((p) => CPU[p]).find(Boolean);
  return os && cpu ? { os, cpu } : undefined;
}

let added = 0;
for (const [location, entry] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = location === '' ? '' : `${location}/`;
    const candidates = [`${base}node_modules/${dep}`, `node_modules/${dep}`];
    if (candidates.some((c) => packages[c])) continue;
    const platform = platformOf(dep);
    if (!platform) throw new Error(`${dep} (optional dependency of ${location || 'root'}) is missing and names no platform`);
    if (platform.os === process.platform && platform.cpu === process.arch) {
      throw new Error(`${dep} is for this platform and missing from the lockfile: install it properly`);
    }
    packages[`node_modules/${dep}`] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os: [platform.os],
      cpu: [platform.cpu],
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
fs.writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n');
process.stdout.write(`lock-platform-stubs: ${added} platform-only optional packages stubbed\n`);
