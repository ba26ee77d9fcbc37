// mcp-healthd live dashboard. Plain ES2020, no dependencies.
// Everything the daemon relays (ids, names, tools, errors) is untrusted text: it only ever
// reaches the DOM through textContent, data-* attribute values and title attributes.
'use strict';

(() => {
  // ---------- constants ----------
  const KNOWN = ['healthy', 'degraded', 'quarantined', 'unhealthy', 'auth_required', 'unknown'];
  // quarantined: answers MCP, but its tools are not the approved ones (tool baselines).
  const SEVERITY = { unhealthy: 0, auth_required: 1, quarantined: 1, degraded: 2, unknown: 4, healthy: 5 }; // other words: 3
  const AUTH_HINT = 'needs a person to log in (OAuth authorization code); run:';
  const AUTH_HINT_NO_COMMAND = 'needs a person to log in (OAuth authorization code): see mcp-healthctl login';
  // What the daemon publishes for auth_required (docs/PROTOCOL.md): error.message ends with the
  // command that fixes it. Anyone who can write to Redis can publish a message, and an operator
  // copies this into a shell: only a server id of the protocol's characters and a scope without
  // quotes or backslashes make a command; anything else gets the hint without one. An id that
  // starts with '-' could be read as an option (`login --url --scope 'other-server'`): none.
  const SAFE_ID = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,127}$/;
  const LOGIN_TAIL = /; run: mcp-healthctl login ([A-Za-z0-9._][A-Za-z0-9._-]{0,127})( --scope '[ !#-&(-\[\]-~]{1,400}')?$/;
  const READONLY_TITLE = 'read-only: the daemon has no dashboard.token_file';
  const TOKEN_KEY = 'mcp-healthd-token';
  const HIST_MAX = 60;          // sparkline points per server
  const CHANGES_MAX = 50;       // tool-set changes kept per server
  const BUFFER_MAX = 20000;     // events buffered while a snapshot loads
  const CHANGED_MS = 5000;      // highlight of a row whose status changed
  const FLASH_MS = 1600;        // highlight of a row answering our recheck
  const TOOLS_CHUNK = 250;      // tools rendered per animation frame
  const NAMES_SHOWN = 40;       // names listed per tool-set change
  const COLS = ['id', 'name', 'status', 'since', 'checked', 'trigger', 'latency', 'tools', 'error', 'actions'];
  const DESC_FIRST = new Set(['since', 'checked', 'latency', 'tools']);

  // ---------- small helpers ----------
  const $ = (id) => document.getElementById(id);
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function str(v) {
    if (typeof v === 'string') return v;
    if (v == null) return '';
    try { return JSON.stringify(v); } catch (_) { return String(v); }
  }
  function report(e) { if (window.console) console.error('mcp-healthd dashboard:', e); }
  function clip(s, n) { return s.length > n ? s.slice(0, n) + '…' : s; }
  function parseTime(v) {
    if (typeof v !== 'string') return null;
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }
  function statusWord(m) {
    if (typeof m.status === 'string' && m.status !== '') return m.status;
    return m.status == null ? '(none)' : str(m.status);
  }
  const statusClass = (s) => (KNOWN.includes(s) ? 'st-' + s : 'st-other');
  const severity = (s) => (KNOWN.includes(s) ? SEVERITY[s] : 3);
  function names(v) { return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []; }

  const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

  function relTime(t) {
    if (t == null) return '';
    const d = Date.now() - t;
    if (d < -60000) return 'in the future';
    const s = Math.max(0, Math.round(d / 1000));
    if (s < 10) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function clockTime(t) {
    if (t == null) return '';
    const d = new Date(t);
    return d.toDateString() === new Date().toDateString() ? clockFmt.format(d) : dateFmt.format(d);
  }
  function absTitle(t, raw) { return t == null ? str(raw) : fullFmt.format(new Date(t)) + ' (' + str(raw) + ')'; }
  function ms(v) {
    if (v == null) return '';
    if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
    if (v >= 100) return v.toFixed(0) + ' ms';
    if (v >= 10) return v.toFixed(1) + ' ms';
    return v.toFixed(2) + ' ms';
  }

  // fetch → {status, body (parsed JSON or null), error}
  async function request(url, opts) {
    try {
      const res = await fetch(url, Object.assign({ cache: 'no-store', credentials: 'same-origin' }, opts || {}));
      const text = await res.text();
      let body = null;
      try { body = JSON.parse(text); } catch (_) { /* not JSON */ }
      return { status: res.status, body, error: null };
    } catch (e) {
      return { status: 0, body: null, error: (e && e.message) || 'network error' };
    }
  }
  // Server ids as docs/PROTOCOL.md defines them; anything else (a stray PUBLISH) is shown, never sent.
  const VALID_ID = /^[A-Za-z0-9._-]{1,128}$/;
  function errText(r) {
    if (isObj(r.body) && typeof r.body.error === 'string') return clip(r.body.error, 300);
    if (r.error) return clip(String(r.error), 300);
    return 'HTTP ' + r.status;
  }

  // ---------- DOM references ----------
  const dom = {
    conn: $('conn'), connText: $('conn-text'), counts: $('counts'), recheckAll: $('recheck-all'),
    filterText: $('filter-text'), filterStatus: $('filter-status'), shown: $('shown'),
    syncStatus: $('sync-status'), notice: $('notice'), invalid: $('invalid'),
    table: $('servers'), tbody: $('servers').tBodies[0], empty: $('empty'),
    panel: $('panel'), panelTitle: $('panel-title'), panelName: $('panel-name'),
    panelStatus: $('panel-status'), panelHint: $('panel-hint'), panelFacts: $('panel-facts'),
    panelRecheck: $('panel-recheck'), panelClose: $('panel-close'),
    spark: $('panel-sparkline'), sparkLegend: $('panel-spark-legend'),
    changes: $('panel-changes'), tools: $('panel-tools'), toolsStatus: $('panel-tools-status'),
    dialog: $('token-dialog'), tokenInput: $('token-input'), tokenSave: $('token-save'),
    tokenCancel: $('token-cancel'), tokenMessage: $('token-message'),
  };
  const TOKEN_MESSAGE_DEFAULT = dom.tokenMessage.textContent;

  // ---------- state ----------
  const state = {
    servers: new Map(),     // id -> server model (see newServer)
    tomb: new Map(),        // id -> seq of its removal message
    toolLog: new Map(),     // id -> tool-set changes seen
    es: null, connected: false, redis: null, writable: null,
    sync: { gen: 0, buffering: false, buffer: [], timer: 0, loaded: false },
    sort: { key: 'status', dir: 1 },
    filter: { text: '', status: '' },
    panel: { id: null, gen: 0 },
    pending: new Map(),     // command_id -> {all}: our rechecks awaiting an answer
    answered: new Map(),    // command_id -> latest answer seen (answer may beat the 202)
  };

  // ---------- render scheduling (one batch per animation frame) ----------
  const dirty = new Set();
  let layoutNeeded = false, countsNeeded = false, panelNeeded = false, frame = 0;
  function schedule() { if (!frame) frame = requestAnimationFrame(render); }

  function render() {
    frame = 0;
    for (const id of dirty) {
      const s = state.servers.get(id);
      try { if (s) renderRow(s); } catch (e) { report(e); }
      if (id === state.panel.id) panelNeeded = true;
    }
    dirty.clear();
    if (layoutNeeded) { layoutNeeded = false; layout(); }
    if (countsNeeded) { countsNeeded = false; renderCounts(); }
    if (panelNeeded) { panelNeeded = false; try { renderPanelSummary(); } catch (e) { report(e); } }
  }

  // The command that logs an auth_required server in: the one its message ends with (with the
  // scope the server wants), else the plain one; null when the id could not stand in a shell.
  function loginCommand(id, m) {
    if (!SAFE_ID.test(id)) return null;
    const message = isObj(m.error) && typeof m.error.message === 'string' ? m.error.message : '';
    const tail = LOGIN_TAIL.exec(message);
    if (tail && tail[1] === id) return 'mcp-healthctl login ' + id + (tail[2] || '');
    return 'mcp-healthctl login ' + id;
  }
  // The hint of an auth_required server (its row, or the panel with a copy button).
  function showLoginHint(box, id, m, withCopy) {
    const command = loginCommand(id, m);
    box.textContent = '';
    if (command == null) { box.textContent = AUTH_HINT_NO_COMMAND; return; }
    box.append(AUTH_HINT + ' ');
    const code = el('code', 'login-command mono', command);
    box.appendChild(code);
    if (withCopy && navigator.clipboard) {
      const copy = el('button', 'btn small copy-command', 'Copy');
      copy.type = 'button';
      copy.title = 'Copy the command';
      copy.addEventListener('click', () => {
        navigator.clipboard.writeText(command).then(() => { copy.textContent = 'Copied'; },
          () => { copy.textContent = 'Copy failed: select the command'; });
      });
      box.append(' ', copy);
    }
  }

  // ---------- server model ----------
  function newServer(id) {
    const tr = el('tr');
    tr.dataset.serverId = id;
    const cells = {};
    for (const c of COLS) { cells[c] = el('td', 'c-' + c); tr.appendChild(cells[c]); }
    const idBtn = el('button', 'id-link mono', id);
    idBtn.type = 'button';
    idBtn.title = 'Show tools and history';
    cells.id.appendChild(idBtn);
    const chip = el('span', 'status');
    const hint = el('div', 'hint');
    cells.status.appendChild(chip);
    const latTotal = el('div', 'lat-total mono');
    const latPhases = el('div', 'lat-phases mono');
    latPhases.title = 'connect · initialize · tools_list';
    cells.latency.append(latTotal, latPhases);
    const errKindEl = el('span', 'err-kind');
    const errMsgEl = el('span', 'err-msg');
    const errLine = el('div', 'err-line');
    errLine.append(errKindEl, errMsgEl);
    cells.error.appendChild(errLine);
    const btn = el('button', 'recheck btn small', 'Recheck');
    btn.type = 'button';
    applyWritable(btn);
    cells.actions.appendChild(btn);
    return {
      id, tr, cells, chip, hint, latTotal, latPhases, errKindEl, errMsgEl, btn,
      msg: null, seq: null, status: '', hist: [], match: true,
      idKey: id.toLowerCase(), nameKey: '', errKey: '', search: '', sinceT: null, checkedT: null, total: null, sinceTitleFor: undefined,
      changedTimer: 0, flashTimer: 0,
    };
  }

  function derive(s, m) {
    s.msg = m;
    s.status = statusWord(m);
    s.name = typeof m.name === 'string' ? m.name : '';
    s.nameKey = s.name.toLowerCase();
    const err = isObj(m.error) ? m.error : null;
    s.errKind = err ? str(err.kind) : '';
    s.errMessage = err ? str(err.message) : (m.error != null ? str(m.error) : '');
    s.errKey = (s.errKind + ' ' + s.errMessage).trim().toLowerCase();
    s.search = (s.id + '\n' + s.name + '\n' + s.errMessage + '\n' + s.errKind).toLowerCase();
    s.sinceT = parseTime(m.status_since);
    s.checkedT = parseTime(m.checked_at);
    s.total = isObj(m.latency_ms) ? num(m.latency_ms.total) : null;
  }

  // Apply one health message; fromSnapshot skips the seq rule (the snapshot is the truth).
  function applyHealth(id, m, fromSnapshot) {
    const seq = num(m.seq);
    let s = state.servers.get(id);
    if (!fromSnapshot) {
      if (seq === null) return false;
      const held = s ? s.seq : state.tomb.get(id);
      if (held != null && seq <= held) return false;
    }
    const isNew = !s;
    if (isNew) { s = newServer(id); state.servers.set(id, s); }
    const prevStatus = isNew ? null : s.status;
    const oldSort = isNew ? null : sortValue(s);
    const oldMatch = s.match;
    s.seq = seq;
    derive(s, m);
    state.tomb.delete(id);

    if (s.total !== null) {
      const last = s.hist[s.hist.length - 1];
      if (!last || seq === null || last.seq === null || seq > last.seq) {
        s.hist.push({ seq, total: s.total, t: s.checkedT });
        if (s.hist.length > HIST_MAX) s.hist.shift();
      }
    }
    if (prevStatus !== null ? prevStatus !== s.status : (!fromSnapshot && state.sync.loaded && m.changed === true)) {
      markChanged(s);
    }
    if (isNew || prevStatus !== s.status) countsNeeded = true;
    s.match = matches(s);
    if (isNew || s.match !== oldMatch || oldSort !== sortValue(s)) layoutNeeded = true;
    dirty.add(id);
    schedule();
    return true;
  }

  function removeServer(id) {
    const s = state.servers.get(id);
    if (!s) return;
    clearTimeout(s.changedTimer);
    clearTimeout(s.flashTimer);
    s.tr.remove();
    state.servers.delete(id);
    state.toolLog.delete(id);
    dirty.delete(id);
    if (state.panel.id === id) closePanel();
    countsNeeded = true;
    layoutNeeded = true;
    schedule();
  }

  function applyRemoved(m) {
    const id = m.server_id;
    const seq = num(m.seq);
    if (seq === null) return;
    const s = state.servers.get(id);
    const held = s ? s.seq : state.tomb.get(id);
    if (held != null && seq <= held) return;
    state.tomb.set(id, seq);
    removeServer(id);
  }

  function markChanged(s) {
    s.tr.classList.add('changed');
    clearTimeout(s.changedTimer);
    s.changedTimer = setTimeout(() => s.tr.classList.remove('changed'), CHANGED_MS);
  }
  function flashRow(id) {
    const s = state.servers.get(id);
    if (!s) return;
    s.tr.classList.add('flash'); // no forced reflow: a "check *" answers thousands of rows
    clearTimeout(s.flashTimer);
    s.flashTimer = setTimeout(() => s.tr.classList.remove('flash'), FLASH_MS);
  }

  // ---------- row rendering ----------
  function renderRow(s) {
    const m = s.msg, c = s.cells;
    s.tr.dataset.status = s.status;

    c.name.textContent = s.name;
    const info = isObj(m.server_info) ? m.server_info : null;
    c.name.title = info ? ('serverInfo: ' + str(info.name) + ' ' + str(info.version)).trim() : '';

    s.chip.className = 'status ' + statusClass(s.status);
    s.chip.textContent = s.status;
    // The hint is only in the DOM for auth_required, so the cell's text is otherwise just the word.
    if (s.status === 'auth_required') {
      showLoginHint(s.hint, s.id, m);
      if (!s.hint.parentNode) c.status.appendChild(s.hint);
    } else s.hint.remove();

    renderSince(s);

    c.checked.setAttribute('data-checked-at', str(m.checked_at));
    c.checked.textContent = s.checkedT != null ? clockTime(s.checkedT) : str(m.checked_at);
    c.checked.title = absTitle(s.checkedT, m.checked_at);

    c.trigger.textContent = str(m.trigger);

    const lat = isObj(m.latency_ms) ? m.latency_ms : {};
    s.latTotal.textContent = ms(s.total);
    const ph = ['connect', 'initialize', 'tools_list'].map((k) => num(lat[k]));
    s.latPhases.textContent = ph.every((v) => v === null) ? ''
      : ph.map((v) => (v === null ? '–' : v.toFixed(v >= 100 ? 0 : 2))).join(' · ');

    const tc = num(m.tool_count);
    c.tools.textContent = tc === null ? '' : String(tc);

    s.errKindEl.textContent = s.errKind;
    s.errKindEl.hidden = !s.errKind;
    s.errMsgEl.textContent = s.errMessage;
    const hs = isObj(m.error) ? num(m.error.http_status) : null;
    c.error.title = s.errMessage ? (s.errKind + (hs !== null ? ' (HTTP ' + hs + ')' : '') + ': ' + s.errMessage) : '';
  }

  function renderSince(s) {
    const td = s.cells.since;
    td.textContent = s.sinceT != null ? relTime(s.sinceT) : str(s.msg.status_since);
    if (s.sinceTitleFor !== s.sinceT) { // formatting dates is costly: once per value
      s.sinceTitleFor = s.sinceT;
      td.title = s.sinceT != null ? 'since ' + absTitle(s.sinceT, s.msg.status_since) : '';
    }
  }

  // ---------- sorting, filtering, layout ----------
  function sortValue(s, key = state.sort.key) {
    switch (key) {
      case 'id': return s.idKey;
      case 'name': return s.nameKey || null;
      case 'status': return severity(s.status) + ':' + s.status;
      case 'since': return s.sinceT;
      case 'checked': return s.checkedT;
      case 'trigger': return str(s.msg.trigger) || null;
      case 'latency': return s.total;
      case 'tools': return num(s.msg.tool_count);
      case 'error': return s.errKey || null;
      default: return null;
    }
  }
  function compareRows(a, b) {
    const va = sortValue(a), vb = sortValue(b);
    let c = 0;
    if (va !== vb) {
      if (va == null) return 1;          // empty values last, whatever the direction
      if (vb == null) return -1;
      c = (va < vb ? -1 : va > vb ? 1 : 0) * state.sort.dir;
    }
    if (c === 0) c = a.idKey < b.idKey ? -1 : a.idKey > b.idKey ? 1 : (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    return c;
  }
  function matches(s) {
    const f = state.filter;
    if (f.status && s.status !== f.status) return false;
    if (f.text && !s.search.includes(f.text)) return false;
    return true;
  }

  function layout() {
    const list = [];
    for (const s of state.servers.values()) if (s.match) list.push(s);
    list.sort(compareRows);
    // Reconcile tbody with the list, moving only rows that are out of place.
    const tb = dom.tbody;
    let cur = tb.firstChild;
    for (const s of list) {
      const tr = s.tr;
      if (cur !== tr && cur && cur.nextSibling === tr) { const out = cur; cur = tr; tb.removeChild(out); }
      if (cur === tr) { cur = cur.nextSibling; continue; }
      tb.insertBefore(tr, cur);
    }
    while (cur) { const next = cur.nextSibling; tb.removeChild(cur); cur = next; }

    const total = state.servers.size;
    dom.shown.textContent = total ? (list.length === total ? total + ' servers' : 'showing ' + list.length + ' of ' + total) : '';
    if (list.length) dom.empty.hidden = true;
    else {
      dom.empty.hidden = false;
      dom.empty.textContent = !state.sync.loaded ? (state.connected ? 'Loading…' : 'Connecting…')
        : total ? 'No server matches the filter.' : 'No servers in mcp:status yet.';
    }
  }

  function refilter() {
    for (const s of state.servers.values()) s.match = matches(s);
    layoutNeeded = true;
    schedule();
  }

  function renderSortHeaders() {
    for (const th of dom.table.tHead.querySelectorAll('th[data-sort]')) {
      const active = th.dataset.sort === state.sort.key;
      th.setAttribute('aria-sort', active ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
      const arrow = th.querySelector('.arrow');
      if (arrow) arrow.textContent = active ? (state.sort.dir > 0 ? '▲' : '▼') : '';
    }
  }

  // ---------- counts and the status filter ----------
  const countChips = new Map(); // status -> {btn, n}
  function renderCounts() {
    const counts = new Map(KNOWN.map((k) => [k, 0]));
    for (const s of state.servers.values()) counts.set(s.status, (counts.get(s.status) || 0) + 1);
    const extra = [...counts.keys()].filter((k) => !KNOWN.includes(k)).sort();
    const order = [...KNOWN, ...extra];

    for (const [k, chip] of countChips) {
      if (!counts.has(k)) { chip.btn.remove(); countChips.delete(k); }
    }
    let prev = null;
    for (const k of order) {
      let chip = countChips.get(k);
      if (!chip) {
        const btn = el('button', 'count ' + statusClass(k));
        btn.type = 'button';
        btn.setAttribute('data-count-status', k);
        const n = el('span', 'count-n mono');
        btn.append(el('span', 'count-label', k), ' ', n);
        btn.title = 'Show only ' + k;
        chip = { btn, n };
        countChips.set(k, chip);
      }
      const n = counts.get(k);
      chip.n.textContent = String(n);
      chip.btn.classList.toggle('zero', n === 0);
      chip.btn.setAttribute('aria-pressed', state.filter.status === k ? 'true' : 'false');
      const want = prev ? prev.nextSibling : dom.counts.firstChild;
      if (want !== chip.btn) dom.counts.insertBefore(chip.btn, want);
      prev = chip.btn;
    }

    // The status select: known statuses, statuses present, and the current choice.
    const sel = dom.filterStatus;
    const opts = order.slice();
    if (state.filter.status && !opts.includes(state.filter.status)) opts.push(state.filter.status);
    const have = [...sel.options].slice(1).map((o) => o.value);
    if (have.join('\n') !== opts.join('\n')) {
      while (sel.options.length > 1) sel.remove(1);
      for (const k of opts) { const o = el('option'); o.value = k; sel.appendChild(o); }
    }
    sel.options[0].textContent = 'All statuses (' + state.servers.size + ')';
    for (let i = 1; i < sel.options.length; i++) {
      const o = sel.options[i];
      o.textContent = o.value + ' (' + (counts.get(o.value) || 0) + ')';
    }
    sel.value = state.filter.status;
  }

  // ---------- connection indicator ----------
  function renderConn() {
    dom.conn.dataset.state = state.connected ? 'connected' : 'disconnected';
    dom.conn.dataset.redis = state.redis === 'connected' ? 'connected' : 'disconnected';
    let text;
    if (!state.connected) text = 'disconnected — reconnecting…';
    else if (state.redis !== null && state.redis !== 'connected') text = 'live — Redis disconnected';
    else text = 'live';
    dom.connText.textContent = text;
    document.body.classList.toggle('stale', !state.connected);
    dom.conn.title = state.connected
      ? 'Event stream connected; the daemon\'s Redis is ' + (state.redis === 'connected' ? 'connected' : 'disconnected')
      : 'The event stream is down; the browser reconnects by itself';
  }
  function setSyncStatus(text) { dom.syncStatus.textContent = text; }

  function setNotice(text, kind) {
    dom.notice.textContent = text;
    dom.notice.className = 'notice' + (kind ? ' ' + kind : '');
  }

  // ---------- writable / recheck buttons ----------
  function applyWritable(btn) {
    const ro = state.writable === false;
    btn.disabled = ro;
    btn.title = ro ? READONLY_TITLE : (btn === dom.recheckAll ? 'Check every server now' : 'Check this server now');
  }
  function setWritable(w) {
    if (typeof w !== 'boolean' || w === state.writable) return;
    state.writable = w;
    applyWritable(dom.recheckAll);
    applyWritable(dom.panelRecheck);
    for (const s of state.servers.values()) applyWritable(s.btn);
  }

  // ---------- event stream and snapshot synchronisation ----------
  function openStream() {
    if (state.es) state.es.close();
    let es;
    try { es = new EventSource('/api/events'); } catch (_) { setTimeout(openStream, 2000); return; }
    state.es = es;
    es.onopen = () => {
      if (es !== state.es) return;
      state.connected = true;
      renderConn();
      startSync();
    };
    es.onerror = () => {
      if (es !== state.es) return;
      state.connected = false;
      state.sync.gen++;                 // abandon a snapshot in flight; the next open re-syncs
      clearTimeout(state.sync.timer);
      state.sync.buffering = false;
      state.sync.buffer = [];
      renderConn();
      setSyncStatus('');
      if (!state.sync.loaded) { layoutNeeded = true; schedule(); }
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error answer): start a new stream ourselves.
        es.close();
        setTimeout(() => { if (es === state.es) openStream(); }, 2000);
      }
    };
    for (const kind of ['hello', 'health', 'tools', 'redis', 'resync']) {
      es.addEventListener(kind, (ev) => onStreamEvent(kind, ev, es));
    }
  }

  function onStreamEvent(kind, ev, es) {
    if (es !== state.es) return;
    let m;
    try { m = JSON.parse(ev.data); } catch (_) { return; }
    if (!isObj(m)) return;
    try {
      if (kind === 'hello') {
        if (typeof m.redis === 'string') state.redis = m.redis;
        setWritable(m.writable);
        renderConn();
      } else if (kind === 'redis') {
        if (typeof m.redis !== 'string') return;
        state.redis = m.redis;
        renderConn();
        if (m.redis === 'connected') startSync(); // messages may have been missed meanwhile
      } else if (kind === 'resync') {
        startSync(); // the daemon could not relay a message (too large): read the snapshot again
      } else if (kind === 'health') {
        onHealthEvent(m);
      } else if (kind === 'tools') {
        onToolsEvent(m);
      }
    } catch (e) {
      report(e); // a message we could not handle is ignored
    }
  }

  function onHealthEvent(m) {
    if (m.type === 'command_done' || m.type === 'command_error') { onCommandReply(m); return; }
    if (typeof m.server_id !== 'string' || m.server_id === '') return;
    if (m.type !== 'health' && m.type !== 'removed') return;
    const sy = state.sync;
    if (sy.buffering) {
      sy.buffer.push(m);
      // Too much arrived while loading: a snapshot fetched from now on covers what we drop.
      if (sy.buffer.length > BUFFER_MAX) startSync();
    } else {
      applyMessage(m);
    }
    noteCommandAnswer(m);
  }

  function applyMessage(m) {
    if (m.type === 'removed') applyRemoved(m);
    else applyHealth(m.server_id, m, false);
  }

  function startSync() {
    const sy = state.sync;
    sy.gen++;
    sy.buffering = true;
    sy.buffer = [];
    clearTimeout(sy.timer);
    fetchSnapshot(sy.gen, 0).catch(report);
  }

  async function fetchSnapshot(gen, attempt) {
    setSyncStatus(attempt ? 'loading snapshot (attempt ' + (attempt + 1) + ')…' : 'loading snapshot…');
    const r = await request('/api/status', { headers: { Accept: 'application/json' } });
    const sy = state.sync;
    if (gen !== sy.gen) return;
    if (r.status === 200 && isObj(r.body) && isObj(r.body.servers)) {
      try {
        applySnapshot(r.body);
        for (const m of sy.buffer) applyMessage(m);
      } catch (e) {
        report(e);
      }
      sy.buffer = [];
      sy.buffering = false;
      sy.loaded = true;
      setSyncStatus('');
      layoutNeeded = true;
      countsNeeded = true;
      schedule();
      if (state.panel.id) { renderPanelChanges(); loadPanelTools().catch(report); }
      return;
    }
    const why = r.status === 200 ? 'malformed answer' : errText(r);
    setSyncStatus('snapshot failed: ' + why + ' — retrying');
    if (r.status === 503) { state.redis = 'disconnected'; renderConn(); }
    if (state.connected) sy.timer = setTimeout(() => { if (gen === sy.gen) fetchSnapshot(gen, attempt + 1).catch(report); }, 1000);
  }

  function applySnapshot(body) {
    if (typeof body.redis === 'string') state.redis = body.redis;
    setWritable(body.writable);
    renderConn();
    state.tomb.clear();   // the snapshot is the truth; buffered removals re-create what is needed
    const servers = body.servers;
    const ids = new Set();
    for (const id of Object.keys(servers)) {
      const m = servers[id];
      if (!isObj(m) || id === '') continue;
      ids.add(id);
      applyHealth(id, m, true);
    }
    for (const id of [...state.servers.keys()]) if (!ids.has(id)) removeServer(id);
    renderInvalid(Array.isArray(body.invalid) ? body.invalid : []);
  }

  function renderInvalid(list) {
    const items = list.filter(isObj);
    dom.invalid.textContent = '';
    dom.invalid.hidden = items.length === 0;
    if (!items.length) return;
    dom.invalid.append(el('strong', null, items.length + ' invalid ' + (items.length === 1 ? 'entry' : 'entries') + ' in mcp:status: '));
    items.slice(0, 10).forEach((it, i) => {
      if (i) dom.invalid.append(', ');
      dom.invalid.append(el('span', 'mono', clip(str(it.server_id), 128)), ' (' + clip(str(it.error), 200) + ')');
    });
    if (items.length > 10) dom.invalid.append(' … and ' + (items.length - 10) + ' more');
  }

  // ---------- tools messages ----------
  function onToolsEvent(m) {
    if (typeof m.server_id !== 'string' || m.server_id === '') return;
    if (m.type !== undefined && m.type !== 'tools') return;
    const id = m.server_id;
    const seq = num(m.seq);
    let log = state.toolLog.get(id);
    if (!log) { log = []; state.toolLog.set(id, log); }
    const last = log[log.length - 1];
    if (last && seq !== null && last.seq !== null && seq <= last.seq) return;
    log.push({
      seq, t: parseTime(m.discovered_at), rawAt: m.discovered_at, count: num(m.tool_count),
      added: names(m.added), removed: names(m.removed), changed: names(m.changed),
    });
    if (log.length > CHANGES_MAX) log.shift();
    if (state.panel.id === id) {
      renderPanelChanges();
      if (!state.sync.buffering) loadPanelTools().catch(report); // a re-sync reloads the tools itself
    }
  }

  // ---------- side panel ----------
  function openPanel(id) {
    const s = state.servers.get(id);
    if (!s) return;
    const prev = state.panel.id && state.servers.get(state.panel.id);
    if (prev) prev.tr.classList.remove('selected');
    const same = state.panel.id === id;
    state.panel.id = id;
    s.tr.classList.add('selected');
    dom.panel.dataset.serverId = id;
    dom.panel.hidden = false;
    renderPanelSummary();
    renderPanelChanges();
    if (!same) { dom.tools.textContent = ''; loadPanelTools().catch(report); }
  }

  function closePanel() {
    const s = state.panel.id && state.servers.get(state.panel.id);
    if (s) s.tr.classList.remove('selected');
    state.panel.id = null;
    state.panel.gen++;
    dom.panel.hidden = true;
    delete dom.panel.dataset.serverId;
    dom.tools.textContent = '';
    dom.changes.textContent = '';
  }

  function fact(dl, label, value, cls, title) {
    if (value === '' || value == null) return;
    const dd = el('dd', cls || null, value);
    if (title) dd.title = title;
    dl.append(el('dt', null, label), dd);
  }

  function renderPanelSummary() {
    const s = state.panel.id && state.servers.get(state.panel.id);
    if (!s) return;
    const m = s.msg;
    dom.panelTitle.textContent = s.id;
    dom.panelName.textContent = s.name;
    dom.panelStatus.className = 'status ' + statusClass(s.status);
    dom.panelStatus.textContent = s.status;
    dom.panelHint.hidden = s.status !== 'auth_required';
    if (s.status === 'auth_required') showLoginHint(dom.panelHint, s.id, m, true);
    else dom.panelHint.textContent = '';

    const dl = dom.panelFacts;
    dl.textContent = '';
    fact(dl, 'since', s.sinceT != null ? relTime(s.sinceT) : str(m.status_since), null, absTitle(s.sinceT, m.status_since));
    fact(dl, 'previous', str(m.previous_status));
    fact(dl, 'last check', s.checkedT != null ? clockTime(s.checkedT) + ' (' + relTime(s.checkedT) + ')' : str(m.checked_at),
      null, absTitle(s.checkedT, m.checked_at));
    fact(dl, 'trigger', str(m.trigger));
    const lat = isObj(m.latency_ms) ? m.latency_ms : {};
    const parts = ['connect', 'initialize', 'tools_list'].filter((k) => num(lat[k]) !== null).map((k) => k + ' ' + ms(num(lat[k])));
    fact(dl, 'latency', s.total !== null ? ms(s.total) + (parts.length ? ' — ' + parts.join(', ') : '') : '', 'mono');
    fact(dl, 'tools', num(m.tool_count) !== null ? String(m.tool_count) : '');
    fact(dl, 'tools hash', typeof m.tools_hash === 'string' ? clip(m.tools_hash, 16) : '', 'mono', str(m.tools_hash));
    fact(dl, 'protocol', str(m.protocol_version));
    if (isObj(m.server_info)) fact(dl, 'server', (str(m.server_info.name) + ' ' + str(m.server_info.version)).trim());
    const cf = num(m.consecutive_failures), cs = num(m.consecutive_successes);
    if (cf !== null || cs !== null) fact(dl, 'in a row', (cs ?? 0) + ' ok / ' + (cf ?? 0) + ' failed');
    if (s.errKind || s.errMessage) {
      const hs = isObj(m.error) ? num(m.error.http_status) : null;
      fact(dl, 'error', (s.errKind ? s.errKind + (hs !== null ? ' (HTTP ' + hs + ')' : '') + ': ' : '') + s.errMessage, 'err');
    }
    fact(dl, 'seq', s.seq !== null ? String(s.seq) : '', 'mono');
    renderSparkline(s);
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function renderSparkline(s) {
    const svg = dom.spark;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const pts = s.hist;
    if (!pts.length) { dom.sparkLegend.textContent = 'no latency measured yet'; return; }
    const W = 400, H = 64, PAD = 4;
    const vals = pts.map((p) => p.total);
    const max = Math.max(...vals), min = Math.min(...vals);
    const span = max - min || 1;
    const x = (i) => (pts.length === 1 ? W / 2 : PAD + (i * (W - 2 * PAD)) / (pts.length - 1));
    const y = (v) => H - PAD - ((v - min) / span) * (H - 2 * PAD) - (max === min ? (H - 2 * PAD) / 2 : 0);
    const coords = vals.map((v, i) => x(i).toFixed(1) + ',' + y(v).toFixed(1));
    if (pts.length > 1) {
      const area = document.createElementNS(SVG, 'polygon');
      area.setAttribute('class', 'spark-area');
      area.setAttribute('points', x(0).toFixed(1) + ',' + H + ' ' + coords.join(' ') + ' ' + x(pts.length - 1).toFixed(1) + ',' + H);
      svg.appendChild(area);
    }
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('class', 'spark-line');
    line.setAttribute('points', pts.length === 1 ? (PAD + ',' + y(vals[0]).toFixed(1) + ' ' + (W - PAD) + ',' + y(vals[0]).toFixed(1)) : coords.join(' '));
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.appendChild(line);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = pts.length + ' checks, last ' + ms(vals[vals.length - 1]);
    svg.appendChild(title);
    dom.sparkLegend.textContent = pts.length + ' check' + (pts.length === 1 ? '' : 's') + ' · last ' + ms(vals[vals.length - 1])
      + ' · min ' + ms(min) + ' · max ' + ms(max);
  }

  function nameList(label, list, cls) {
    const span = el('span', 'chg ' + cls);
    span.append(el('strong', null, label + ' ' + list.length + ': '));
    span.append(list.slice(0, NAMES_SHOWN).join(', ') + (list.length > NAMES_SHOWN ? ' … and ' + (list.length - NAMES_SHOWN) + ' more' : ''));
    return span;
  }

  function renderPanelChanges() {
    const ul = dom.changes;
    ul.textContent = '';
    const log = (state.panel.id && state.toolLog.get(state.panel.id)) || [];
    if (!log.length) { ul.appendChild(el('li', 'muted none', 'none seen yet')); return; }
    for (let i = log.length - 1; i >= 0; i--) {
      const c = log[i];
      const li = el('li', 'change');
      const when = el('time', 'mono muted', c.t != null ? clockTime(c.t) : str(c.rawAt));
      when.title = absTitle(c.t, c.rawAt);
      li.appendChild(when);
      if (c.added.length) li.appendChild(nameList('added', c.added, 'added'));
      if (c.removed.length) li.appendChild(nameList('removed', c.removed, 'removed'));
      if (c.changed.length) li.appendChild(nameList('changed', c.changed, 'changed'));
      if (!c.added.length && !c.removed.length && !c.changed.length) li.appendChild(el('span', 'chg', 'tool set changed'));
      if (c.count !== null) li.appendChild(el('span', 'muted small', ' → ' + c.count + ' tools'));
      ul.appendChild(li);
    }
  }

  async function loadPanelTools() {
    const id = state.panel.id;
    if (!id) return;
    const gen = ++state.panel.gen;
    if (!VALID_ID.test(id)) { dom.tools.textContent = ''; dom.toolsStatus.textContent = 'not a valid server id'; return; }
    dom.toolsStatus.textContent = 'loading tools…';
    const r = await request('/api/tools/' + encodeURIComponent(id), { headers: { Accept: 'application/json' } });
    if (gen !== state.panel.gen || id !== state.panel.id) return;
    dom.tools.textContent = '';
    if (r.status === 404) {
      dom.toolsStatus.textContent = 'no tool snapshot yet';
      dom.toolsStatus.title = errText(r);
      return;
    }
    dom.toolsStatus.title = '';
    if (r.status !== 200 || !isObj(r.body)) {
      dom.toolsStatus.textContent = 'could not load tools: ' + (r.status === 200 ? 'malformed answer' : errText(r));
      return;
    }
    const tools = r.body.tools;
    if (!Array.isArray(tools)) { dom.toolsStatus.textContent = 'could not load tools: the snapshot has no tools list'; return; }
    const t = parseTime(r.body.discovered_at);
    dom.toolsStatus.textContent = tools.length + ' tool' + (tools.length === 1 ? '' : 's')
      + (t != null ? ' · discovered ' + relTime(t) : '') + (num(r.body.seq) !== null ? ' · seq ' + r.body.seq : '');
    renderToolsChunk(tools, 0, gen);
  }

  // Large tool lists (up to 10,000) are rendered a chunk per frame.
  function renderToolsChunk(tools, start, gen) {
    if (gen !== state.panel.gen) return;
    const frag = document.createDocumentFragment();
    const end = Math.min(tools.length, start + TOOLS_CHUNK);
    for (let i = start; i < end; i++) frag.appendChild(toolItem(tools[i]));
    dom.tools.appendChild(frag);
    if (end < tools.length) requestAnimationFrame(() => renderToolsChunk(tools, end, gen));
  }

  function pretty(v) {
    if (v === undefined) return '(no inputSchema)';
    try { return JSON.stringify(v, null, 2); } catch (_) { return '(cannot display this schema)'; }
  }

  function toolItem(tool) {
    const t = isObj(tool) ? tool : {};
    const li = el('li', 'tool');
    const head = el('div', 'tool-head');
    head.append(el('span', 'tool-name mono', str(t.name)));
    const title = typeof t.title === 'string' ? t.title
      : isObj(t.annotations) && typeof t.annotations.title === 'string' ? t.annotations.title : str(t.title);
    head.append(el('span', 'tool-title', title));
    li.appendChild(head);
    li.appendChild(el('p', 'tool-description', str(t.description)));
    if (isObj(t.annotations)) {
      const hints = Object.keys(t.annotations).filter((k) => k !== 'title').map((k) => k + '=' + str(t.annotations[k]));
      if (hints.length) li.appendChild(el('div', 'tool-annotations mono small muted', clip(hints.join('  '), 400)));
    }
    const det = el('details', 'tool-schema');
    det.append(el('summary', null, 'input schema'), el('pre', 'mono', pretty(isObj(tool) ? t.inputSchema : tool)));
    li.appendChild(det);
    if (t.outputSchema !== undefined) {
      const out = el('details', 'tool-output-schema');
      out.append(el('summary', null, 'output schema'), el('pre', 'mono', pretty(t.outputSchema)));
      li.appendChild(out);
    }
    return li;
  }

  // ---------- token ----------
  let memToken = null; // fallback when sessionStorage is unavailable
  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || null; } catch (_) { return memToken; }
  }
  function storeToken(t) {
    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (_) { memToken = t; }
  }
  function clearToken() {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* ignore */ }
    memToken = null;
  }

  let tokenAsk = null; // {promise, resolve} while the dialog is open
  function askToken(message) {
    dom.tokenMessage.textContent = message || TOKEN_MESSAGE_DEFAULT;
    if (tokenAsk) return tokenAsk.promise;
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    tokenAsk = { promise, resolve };
    dom.tokenInput.value = '';
    const d = dom.dialog;
    if (typeof d.showModal === 'function') { if (!d.open) d.showModal(); } else d.setAttribute('open', '');
    dom.tokenInput.focus();
    return promise;
  }
  function finishToken(value) {
    const d = dom.dialog;
    if (d.open) { if (typeof d.close === 'function') d.close(); else d.removeAttribute('open'); }
    if (tokenAsk) { const r = tokenAsk.resolve; tokenAsk = null; r(value); }
  }
  function saveToken() {
    const v = dom.tokenInput.value.trim();
    if (!v) { dom.tokenMessage.textContent = 'Enter the token (the content of dashboard.token_file).'; return; }
    storeToken(v);
    finishToken(v);
  }

  // ---------- rechecks and command answers ----------
  // id = one server, or null for every server ("check *").
  async function recheck(id) {
    const label = id === null ? 'check *' : id;
    if (state.writable === false) { setNotice(label + ': ' + READONLY_TITLE, 'error'); return; }
    let token = getToken() || await askToken();
    if (!token) return;
    if (id !== null && !VALID_ID.test(id)) { setNotice(label + ': not a valid server id', 'error'); return; }
    const url = id === null ? '/api/check/*' : '/api/check/' + encodeURIComponent(id);
    for (;;) {
      const r = await request(url, { method: 'POST', headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } });
      if (r.status === 202) {
        const cid = isObj(r.body) && typeof r.body.command_id === 'string' ? r.body.command_id : null;
        if (!cid) { setNotice(label + ': accepted, but the answer has no command_id', 'error'); return; }
        state.pending.set(cid, { all: id === null });
        setNotice(label + ': check queued (command ' + cid + ')…');
        const early = state.answered.get(cid); // the answer may have arrived before the 202
        if (early) {
          state.answered.delete(cid);
          if (early.type === 'command_done' || early.type === 'command_error') onCommandReply(early);
          else noteCommandAnswer(early);
        }
        return;
      }
      if (r.status === 401) {
        clearToken();
        token = await askToken('The token was refused (' + errText(r) + '). Enter it again.');
        if (!token) { setNotice(label + ': not authorized (401)', 'error'); return; }
        continue;
      }
      if (r.status === 403) {
        setNotice(label + ': forbidden (403): ' + errText(r), 'error');
        if (isObj(r.body) && typeof r.body.error === 'string' && r.body.error.startsWith('read-only')) setWritable(false);
        return;
      }
      setNotice(label + ': ' + (r.status ? r.status + ' ' : '') + errText(r), 'error');
      return;
    }
  }

  function remember(cid, m) {
    state.answered.set(cid, m);
    if (state.answered.size > 500) state.answered.delete(state.answered.keys().next().value);
  }

  function commandIds(m) {
    const ids = [];
    if (typeof m.command_id === 'string') ids.push(m.command_id);
    for (const c of names(m.command_ids)) if (!ids.includes(c)) ids.push(c);
    return ids;
  }

  // A health or removal message that may answer one of our commands.
  function noteCommandAnswer(m) {
    for (const cid of commandIds(m)) {
      const p = state.pending.get(cid);
      if (!p) { remember(cid, m); continue; }
      if (!p.all) state.pending.delete(cid);
      const what = m.type === 'removed' ? 'removed' : statusWord(m);
      setNotice(m.server_id + ': ' + what + ' (command ' + cid + ')', m.type === 'removed' ? '' : 'st-' + (KNOWN.includes(what) ? what : 'other'));
      flashRow(m.server_id);
    }
  }

  function onCommandReply(m) {
    const cid = typeof m.command_id === 'string' ? m.command_id : null;
    if (!cid) return;
    if (!state.pending.has(cid)) { remember(cid, m); return; }
    state.pending.delete(cid);
    if (m.type === 'command_done') {
      const n = num(m.servers);
      setNotice((typeof m.op === 'string' ? m.op : 'check') + ' *: ' + (n === null ? '?' : n) + ' servers done', 'ok');
    } else {
      setNotice('command_error: ' + clip(str(m.error), 300), 'error');
    }
  }

  // ---------- wiring ----------
  for (const th of dom.table.tHead.querySelectorAll('th[data-sort]')) {
    // A button inside the header keeps sorting reachable by keyboard; the click lands on the th too.
    const btn = el('button', 'sort');
    btn.type = 'button';
    btn.append(th.textContent.trim(), el('span', 'arrow'));
    th.textContent = '';
    th.appendChild(btn);
    th.addEventListener('click', () => {
      const key = th.dataset.sort;
      if (state.sort.key === key) state.sort.dir = -state.sort.dir;
      else { state.sort.key = key; state.sort.dir = DESC_FIRST.has(key) ? -1 : 1; }
      renderSortHeaders();
      layoutNeeded = true;
      schedule();
    });
  }

  dom.tbody.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr');
    if (!tr || !tr.dataset.serverId) return;
    const id = tr.dataset.serverId;
    if (ev.target.closest('button.recheck')) { recheck(id).catch(report); return; }
    openPanel(id);
  });

  dom.filterText.addEventListener('input', () => {
    state.filter.text = dom.filterText.value.trim().toLowerCase();
    refilter();
  });
  dom.filterStatus.addEventListener('change', () => {
    state.filter.status = dom.filterStatus.value;
    refilter();
    countsNeeded = true;
  });
  dom.counts.addEventListener('click', (ev) => {
    const b = ev.target.closest('[data-count-status]');
    if (!b) return;
    const k = b.getAttribute('data-count-status');
    state.filter.status = state.filter.status === k ? '' : k;
    refilter();
    countsNeeded = true;
  });

  dom.recheckAll.addEventListener('click', () => recheck(null).catch(report));
  dom.panelRecheck.addEventListener('click', () => { if (state.panel.id) recheck(state.panel.id).catch(report); });
  dom.panelClose.addEventListener('click', closePanel);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !dom.panel.hidden && !dom.dialog.open) closePanel();
  });

  dom.tokenSave.addEventListener('click', saveToken);
  dom.tokenCancel.addEventListener('click', () => finishToken(null));
  dom.tokenInput.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); saveToken(); } });
  dom.dialog.addEventListener('close', () => finishToken(null)); // Esc, or closed by other means

  // Relative times ("3 min ago") age without any traffic.
  setInterval(() => {
    for (const s of state.servers.values()) if (s.tr.isConnected) renderSince(s);
    if (state.panel.id) { panelNeeded = true; schedule(); }
  }, 10000);

  renderSortHeaders();
  renderConn();
  renderCounts();
  layout();
  openStream();
})();
