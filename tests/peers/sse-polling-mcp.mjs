// A Streamable HTTP MCP server (SDK, stateful sessions) that answers tools/list the 2025-11-25
// "SSE polling" way: each page's response stream gets a priming event (an event id, `retry:`),
// is closed before the response, and the response is sent once the client resumes it with a GET
// carrying Last-Event-ID. 3 pages of 4 tools.
//   /mcp        the SDK's own resumability (an event store, retryInterval RETRY_MS, default 200)
//   /noid/mcp   the same shape without event ids (written by hand: the SDK never closes a stream
//               it cannot resume): the stream of tools/list ends early and nothing can resume it
//   GET /admin/stats   {"resumes": GETs that carried Last-Event-ID, "closed": streams closed early,
//                       "streamResumes": those that resumed a session's GET stream}
//   POST /admin/notify[?close=1]  notifications/tools/list_changed on every session's GET stream
//                       (the tools stay the same), then, with close=1, that stream is ended (the
//                       client must come back with the notification's event id);
//                       {"sessions", "delivered": the sessions whose GET stream was open}
// Usage: PORT=<port> [RETRY_MS=<ms>] node sse-polling-mcp.mjs
import express from 'express';
import crypto from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ListToolsRequestSchema, CallToolRequestSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const port = Number(process.env.PORT);
const retryMs = Number(process.env.RETRY_MS || 200);
const stats = { resumes: 0, closed: 0, streamResumes: 0 };
const sessions = new Map(); // session id -> transport
const servers = new Map();  // session id -> its Server

// The SDK's example store cannot resume the session's GET stream: it takes an event's stream id
// as the text before its first '_', and that stream's id is '_GET_stream'. This one keeps each
// event's stream id beside it (ids '<stream id>|<n>').
class EventStore {
  events = new Map(); // event id -> { streamId, message }, in the order stored
  n = 0;
  async storeEvent(streamId, message) {
    const id = `${streamId}|${++this.n}`;
    this.events.set(id, { streamId, message });
    return id;
  }
  async getStreamIdForEventId(id) { return this.events.get(id)?.streamId; }
  async replayEventsAfter(lastEventId, { send }) {
    const last = this.events.get(lastEventId);
    if (!last) return '';
    let after = false;
    for (const [id, e] of this.events) {
      if (after && e.streamId === last.streamId) await send(id, e.message);
      if (id === lastEventId) after = true;
    }
    return last.streamId;
  }
}

const pages = [0, 1, 2].map((p) => [0, 1, 2, 3].map((i) => ({
  name: `polled_${p * 4 + i}`,
  description: `Tool ${p * 4 + i}, listed on page ${p} of a polled stream.`,
  inputSchema: { type: 'object', properties: {} },
})));

function newServer() {
  const server = new Server({ name: 'sse-polling-test-server', version: '1.0.0' },
                            { capabilities: { tools: { listChanged: true } } });
  server.setRequestHandler(ListToolsRequestSchema, async (req, extra) => {
    const page = req.params?.cursor ? Number(req.params.cursor) : 0;
    if (extra.closeSSEStream) {
      extra.closeSSEStream(); // the client must come back with Last-Event-ID
      stats.closed++;
    }
    await new Promise((r) => setTimeout(r, 3 * retryMs));
    const out = { tools: pages[page] ?? [] };
    if (page + 1 < pages.length) out.nextCursor = String(page + 1);
    return out;
  });
  server.setRequestHandler(CallToolRequestSchema, async () => ({ content: [] }));
  return server;
}

const app = express();
app.use(express.json());
app.get('/admin/stats', (req, res) => res.json(stats));
// Whether a session has its GET stream open (SDK 1.32 internals, pinned by package-lock.json: the
// test needs to know that a notification reached a stream rather than only the event store).
const streamOpen = (transport) =>
  transport?._webStandardTransport?._streamMapping?.has('_GET_stream') === true;
app.post('/admin/notify', async (req, res) => {
  let delivered = 0;
  for (const [sid, server] of servers) {
    const open = streamOpen(sessions.get(sid));
    await server.sendToolListChanged();
    if (open) delivered++;
    if (req.query.close === '1') sessions.get(sid)?.closeStandaloneSSEStream();
  }
  res.json({ sessions: servers.size, delivered });
});

app.post('/mcp', async (req, res) => {
  const id = req.headers['mcp-session-id'];
  if (id && sessions.has(id)) return sessions.get(id).handleRequest(req, res, req.body);
  if (id || !isInitializeRequest(req.body)) {
    return res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    eventStore: new EventStore(),
    retryInterval: retryMs,
    onsessioninitialized: (sid) => { sessions.set(sid, transport); servers.set(sid, server); },
  });
  transport.onclose = () => {
    if (transport.sessionId) { sessions.delete(transport.sessionId); servers.delete(transport.sessionId); }
  };
  const server = newServer();
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});

const existing = (req, res) => {
  const id = req.headers['mcp-session-id'];
  if (!id || !sessions.has(id)) return res.status(404).send('Session not found');
  if (req.method === 'GET' && req.headers['last-event-id']) {
    stats.resumes++;
    // The event store's ids start with the stream's id: '_GET_stream' is the session's GET stream.
    if (req.headers['last-event-id'].startsWith('_GET_stream')) stats.streamResumes++;
  }
  return sessions.get(id).handleRequest(req, res);
};
app.get('/mcp', existing);
app.delete('/mcp', existing);

// Without event ids: a stream that ends early cannot be resumed.
app.post('/noid/mcp', (req, res) => {
  const m = req.body;
  if (m.method === 'initialize') {
    res.set('Mcp-Session-Id', 'noid-session');
    return res.json({ jsonrpc: '2.0', id: m.id, result: {
      protocolVersion: '2025-11-25', capabilities: { tools: {} },
      serverInfo: { name: 'sse-polling-noid', version: '1.0.0' } } });
  }
  if (m.id === undefined) return res.status(202).end();
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Mcp-Session-Id': 'noid-session' });
  res.write(`retry: ${retryMs}\n\n`);
  stats.closed++;
  res.end();
});
app.get('/noid/mcp', (req, res) => res.status(405).end());
app.delete('/noid/mcp', (req, res) => res.status(200).end());

app.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
