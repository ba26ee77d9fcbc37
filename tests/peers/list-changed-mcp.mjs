// A Streamable HTTP MCP server (stateful sessions, GET streams) whose tool list changes when the
// test asks: POST /admin/add-tool?name=N registers tool N in every live session, and the SDK
// sends notifications/tools/list_changed on each session's GET stream. New sessions see every
// tool added so far. GET /admin/sessions counts the open sessions. Usage: PORT=<port> node list-changed-mcp.mjs
import express from 'express';
import crypto from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const port = Number(process.env.PORT);
const added = [];
const sessions = new Map(); // session id -> { server, transport }

function addTool(server, name) {
  server.registerTool(name, { description: `Tool ${name}` }, async () => ({
    content: [{ type: 'text', text: name }],
  }));
}

function newServer() {
  const server = new McpServer({ name: 'list-changed-test-server', version: '1.0.0' },
                               { capabilities: { tools: { listChanged: true } } });
  addTool(server, 'first');
  for (const name of added) addTool(server, name);
  return server;
}

const app = express();
app.use(express.json());

app.post('/admin/add-tool', (req, res) => {
  const name = String(req.query.name);
  added.push(name);
  for (const { server } of sessions.values()) addTool(server, name);  // notifies each session
  res.json({ sessions: sessions.size, tools: 1 + added.length });
});

// How many sessions are open (a client that ends its session DELETEs it).
app.get('/admin/sessions', (req, res) => res.json({ sessions: sessions.size }));

app.post('/mcp', async (req, res) => {
  const id = req.headers['mcp-session-id'];
  if (id && sessions.has(id)) {
    return sessions.get(id).transport.handleRequest(req, res, req.body);
  }
  if (id || !isInitializeRequest(req.body)) {
    return res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
  }
  const server = newServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    onsessioninitialized: (sid) => sessions.set(sid, { server, transport }),
  });
  transport.onclose = () => { if (transport.sessionId) sessions.delete(transport.sessionId); };
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});

const existing = (req, res) => {
  const s = sessions.get(req.headers['mcp-session-id']);
  if (!s) return res.status(404).end();
  return s.transport.handleRequest(req, res);
};
app.get('/mcp', existing);
app.delete('/mcp', existing);

app.listen(port, '127.0.0.1', () => console.error(`list-changed peer on ${port}`));
