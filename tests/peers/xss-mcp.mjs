// A stateless Streamable HTTP MCP server whose tool metadata is HTML: the dashboard browser test
// (tests/browser) checks that the page shows it as text and never runs it. Tool `xss` has an
// <img onerror> description and a <b> title; tool `echo` is harmless; its serverInfo name is
// HTML too. POST /html-error answers 500 with an HTML body, which the daemon quotes in the error
// message of the server that points there.
// Usage: PORT=<port> node xss-mcp.mjs   (listens on 127.0.0.1:<port>/mcp)
import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const port = Number(process.env.PORT);

function newServer() {
  const server = new McpServer({ name: '<img src=x onerror="window.pwned=4">', version: '1.0.0' });
  server.registerTool('xss', {
    title: '<b>bold?</b>',
    description: '<img src=x onerror="window.pwned=1">',
  }, async () => ({ content: [{ type: 'text', text: 'nothing happened' }] }));
  server.registerTool('echo', {
    title: 'Echo',
    description: 'Echoes back the input text',
    inputSchema: { text: z.string().describe('Text to echo') },
  }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return server;
}

const app = express();
app.use(express.json());

// Stateless: a new server and transport for every POST, no session id.
app.post('/mcp', async (req, res) => {
  const server = newServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});

// No GET stream and no session to DELETE.
const notAllowed = (req, res) => res.status(405).set('Allow', 'POST').json({
  jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null,
});
app.get('/mcp', notAllowed);
app.post('/html-error', (req, res) => res.status(500).type('text/html')
  .send('<img src=x onerror="window.pwned=3"><b>boom</b>'));
app.delete('/mcp', notAllowed);

app.listen(port, '127.0.0.1', () => console.error(`xss peer on ${port}`));
