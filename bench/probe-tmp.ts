import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
const child = spawn(process.execPath, ['--expose-gc', new URL('./servers/gatehouse.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
const line: string = await new Promise((r) => child.stdout!.once('data', (d: Buffer) => r(d.toString().split('\n')[0]!)));
const t = JSON.parse(line);
const auth = `Basic ${Buffer.from(`${encodeURIComponent(t.clientId)}:${encodeURIComponent(t.clientSecret)}`).toString('base64')}`;
const stat = () => { const s = readFileSync(`/proc/${child.pid}/stat`, 'utf8').slice(readFileSync(`/proc/${child.pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' '); return (Number(s[11]) + Number(s[12])) / 100; };
const rss = () => /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1];
const threads = () => /Threads:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1];
for (let round = 0; round < 8; round++) {
  const dispatcher = new Agent({ connections: 32 });
  let n = 0; const end = performance.now() + 8000; const c0 = stat();
  await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < end) { const res = await request(t.tokenUrl, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=inventory%3Aread', dispatcher }); await res.body.json(); n++; } }));
  await dispatcher.close();
  console.log(`round ${round}: ${(n / 8).toFixed(0)}/s, ${((stat() - c0) / n * 1e6).toFixed(0)} µs CPU/token, RSS ${rss()} kB, threads ${threads()}`);
}
child.kill();
