// A fake Redis Sentinel for the fault tests of redis.sentinels: it speaks RESP and names the master
// it is told to, which a real sentinel cannot be made to do on cue (a sentinel lagging behind a
// failover names a replica; one that is overloaded answers nothing).
//
//   SENTINEL get-master-addr-by-name <MASTER_NAME>  -> [host, port] of the master it names
//   SUBSCRIBE +switch-master                         -> the confirmation; announcements on FAKE-SWITCH
//   PING -> PONG; anything else -> an error
//   FAKE-MASTER <host> <port>   names that master from now on (no announcement), +OK
//   FAKE-SWITCH <host> <port>   the same, and +switch-master to every subscriber, +OK
//   FAKE-STATS                  [asks answered, asks left unanswered]
//
// env: PORT, MASTER_NAME, MASTER_HOST (default 127.0.0.1), MASTER_PORT,
//      HANG_ASK=1: answers PING and SUBSCRIBE but never get-master-addr-by-name (a hung sentinel
//      that a connection check does not reveal); PING_DELAY_MS: PING answered that much later
//      (so that a test knows which sentinel a client has ready first).
import net from 'node:net';

const port = Number(process.env.PORT);
const masterName = process.env.MASTER_NAME || 'mymaster';
let master = [process.env.MASTER_HOST || '127.0.0.1', String(process.env.MASTER_PORT || 0)];
const hangAsk = process.env.HANG_ASK === '1';
const pingDelayMs = Number(process.env.PING_DELAY_MS || 0);
const subscribers = new Set();
const stats = { answered: 0, unanswered: 0 };

function encode(v) {
  if (v === null) return '*-1\r\n';
  if (Array.isArray(v)) return `*${v.length}\r\n${v.map(encode).join('')}`;
  if (typeof v === 'number') return `:${v}\r\n`;
  const b = Buffer.from(String(v));
  return `$${b.length}\r\n${String(v)}\r\n`;
}

// The complete commands at the start of `buf` (RESP arrays of bulk strings, or inline), and the
// bytes after them.
function parse(buf) {
  const commands = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) break;
    if (buf[at] !== 0x2a) {  // '*': else an inline command
      commands.push(buf.subarray(at, eol).toString().split(' ').filter((w) => w));
      at = eol + 2;
      continue;
    }
    const n = Number(buf.subarray(at + 1, eol).toString());
    let p = eol + 2;
    const args = [];
    let complete = true;
    for (let i = 0; i < n; i++) {
      const e = buf.indexOf('\r\n', p);
      if (e < 0 || buf[p] !== 0x24) { complete = false; break; }  // '$'
      const len = Number(buf.subarray(p + 1, e).toString());
      if (buf.length < e + 2 + len + 2) { complete = false; break; }
      args.push(buf.subarray(e + 2, e + 2 + len).toString());
      p = e + 2 + len + 2;
    }
    if (!complete) break;
    commands.push(args);
    at = p;
  }
  return [commands, buf.subarray(at)];
}

function answer(socket, args) {
  const cmd = (args[0] || '').toUpperCase();
  if (cmd === 'PING') return '+PONG\r\n';
  if (cmd === 'SENTINEL' && (args[1] || '').toLowerCase() === 'get-master-addr-by-name') {
    if (hangAsk) { stats.unanswered++; return ''; }
    stats.answered++;
    return args[2] === masterName ? encode(master) : encode(null);
  }
  if (cmd === 'SUBSCRIBE') {
    subscribers.add(socket);
    return args.slice(1).map((ch, i) => encode(['subscribe', ch, i + 1])).join('');
  }
  if (cmd === 'FAKE-MASTER' || cmd === 'FAKE-SWITCH') {
    const old = master;
    master = [args[1], args[2]];
    if (cmd === 'FAKE-SWITCH') {
      const event = encode(['message', '+switch-master', `${masterName} ${old[0]} ${old[1]} ${master[0]} ${master[1]}`]);
      for (const s of subscribers) s.write(event);
    }
    return '+OK\r\n';
  }
  if (cmd === 'FAKE-STATS') return encode([stats.answered, stats.unanswered]);
  return `-ERR unknown command '${cmd.slice(0, 40)}' (fake sentinel)\r\n`;
}

net.createServer((socket) => {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    const [commands, rest] = parse(Buffer.concat([pending, chunk]));
    pending = rest;
    for (const c of commands) {
      const out = answer(socket, c);
      if (!out) continue;
      // (a delayed PONG keeps its place: nothing else is sent before a client is ready)
      if (pingDelayMs > 0 && (c[0] || '').toUpperCase() === 'PING') {
        setTimeout(() => socket.write(out), pingDelayMs);
      } else {
        socket.write(out);
      }
    }
  });
  socket.on('close', () => subscribers.delete(socket));
  socket.on('error', () => {});
}).listen(port, '127.0.0.1', () => console.log(`fake sentinel on ${port}, master ${master.join(':')}`));
