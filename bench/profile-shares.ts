import { readFileSync } from 'node:fs';

/**
 * Where the CPU went, from a `node --cpu-prof` profile: self time grouped by package (or by our
 * own file), as shares of the busy time (idle excluded). Used to decide what to change on the
 * id routes and to report before/after. `node dist/bench/profile-shares.js FILE.cpuprofile [TOP] [SKIP_MS]`
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function groupOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : `(native) ${fn}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  return dist !== -1 ? `ours: ${url.slice(dist + 6)}` : url;
}

/** skipMs: samples of the first skipMs (start-up, module loading) are left out */
export function shares(profile: Profile, by: (n: ProfileNode) => string, skipMs = 0): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const time = new Map<string, number>();
  let busy = 0;
  let at = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < skipMs * 1000) return;
    if (node.callFrame.functionName === '(idle)') return;
    busy += dt;
    const g = by(node);
    time.set(g, (time.get(g) ?? 0) + dt);
  });
  return new Map([...time].sort((a, b) => b[1] - a[1]).map(([g, t]) => [g, t / busy]));
}

if (require.main === module) {
  const profile = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Profile;
  const top = Number(process.argv[3] ?? 25);
  const skipMs = Number(process.argv[4] ?? 0);
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`${title}\n`);
    for (const [g, s] of [...m].slice(0, top)) process.stdout.write(`  ${(s * 100).toFixed(1).padStart(5)}%  ${g}\n`);
  };
  print('self time by package (share of busy time)', shares(profile, (n) => groupOf(n.callFrame.url, n.callFrame.functionName), skipMs));
  print(
    'self time by function',
    shares(profile, (n) => `${n.callFrame.functionName || '(anonymous)'} ${groupOf(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber + 1}`, skipMs),
  );
}
