// The benchmark's SDK peer (scripts/bench.sh): what a team would write with the official MCP
// TypeScript SDK to check its servers — per check: connect (initialize, initialized), listTools
// (every page), terminateSession (DELETE), close — at a fixed concurrency. Prints one JSON line
// with the CPU this process used (process.cpuUsage) per check.
//
//   node bench-sdk-client.mjs --base http://127.0.0.1:PORT/s/ --servers N --concurrency C
//                             --checks K [--mode 'healthy?tools=20']
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, a) => (i % 2 === 0 ? [...acc, [v.replace(/^--/, ''), a[i + 1]]] : acc), []));
const base = args.base;
const servers = Number(args.servers ?? 100);
const concurrency = Number(args.concurrency ?? 64);
const checks = Number(args.checks ?? 1000);
const mode = args.mode ?? 'healthy?tools=20';
if (!base) {
  console.error('usage: node bench-sdk-client.mjs --base URL --servers N --concurrency C --checks K');
  process.exit(2);
}

async function check(i) {
  const url = new URL(`${base}srv-${i % servers}/${mode}`);
  const client = new Client({ name: 'sdk-bench', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    cursor = page.nextCursor;
  } while (cursor);
  await transport.terminateSession();
  await client.close();
}

let next = 0;
let failures = 0;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
async function worker() {
  while (next < checks) {
    const i = next++;
    try {
      await check(i);
    } catch (e) {
      failures++;
      if (failures <= 3) console.error(`check ${i} failed: ${e.message}`);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, checks) }, worker));
const cpu = process.cpuUsage(cpu0);
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const cpuS = (cpu.user + cpu.system) / 1e6;
console.log(JSON.stringify({
  checks, failures, concurrency, wall_s: +wall.toFixed(3), cpu_s: +cpuS.toFixed(3),
  cpu_us_per_check: +((cpuS * 1e6) / checks).toFixed(1), checks_per_s: +(checks / wall).toFixed(1),
}));
process.exit(failures === 0 ? 0 : 1);
