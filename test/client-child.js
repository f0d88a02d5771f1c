/*
 * One client process of the "two client processes and a server restart" test: takes ids through
 * the built IdClient at a steady pace until it holds TOTAL, riding out the restart (errors while
 * the server is away are retried), then prints them all, one a line, after "IDS".
 * Plain JavaScript on the build (dist/), like the server processes.
 */
const { join } = require('node:path');
const { IdClient } = require(join(__dirname, '../dist/libs/client/src'));

async function main() {
  const total = Number(process.env.TOTAL);
  const client = new IdClient({
    baseUrls: [process.env.URL],
    timeoutMs: 1000,
    maxBatch: 500,
    maxHeld: 2000,
    rangeAnswers: process.env.RANGES !== 'false',
  });
  const ids = [];
  let errors = 0;
  const deadline = Date.now() + 60_000;
  while (ids.length < total && Date.now() < deadline) {
    // 200 ids per turn, about 20k ids/s: the run spans the restart
    for (let i = 0; i < 200 && ids.length < total; i++) {
      const id = client.tryNext('segment');
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      try {
        ids.push(await client.next('segment'));
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    if (ids.length % 2000 < 200) process.stdout.write(`PROGRESS ${ids.length}\n`);
    await new Promise((r) => setTimeout(r, 10));
  }
  client.close();
  process.stdout.write(`ERRORS ${errors}\nIDS\n${ids.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
