// Test peer: a real OAuth2 authorization server (oidc-provider, client credentials with
// client_secret_basic, client_secret_post and private_key_jwt) and an MCP server built with
// @modelcontextprotocol/sdk that accepts only that server's tokens (JWTs for its resource).
//
// env: AS_PORT, MCP_PORT, STATE_DIR (writes clients.json with the secrets and jwt.pem there).
// Admin endpoints on the MCP port: GET /admin/stats, POST /admin/revoke (refuse every token seen).
import Provider from 'oidc-provider';
import express from 'express';
import * as jose from 'jose';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const asPort = Number(process.env.AS_PORT);
const mcpPort = Number(process.env.MCP_PORT);
const stateDir = process.env.STATE_DIR;
const issuer = `http://127.0.0.1:${asPort}`;
const resource = `http://127.0.0.1:${mcpPort}/mcp`;
const metadataUrl = `http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`;

const secret = () => crypto.randomBytes(24).toString('base64url');
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
fs.writeFileSync(`${stateDir}/jwt.pem`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
const jwk = { ...publicKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig' };

const secrets = { 'cc-basic': secret(), 'cc-post': secret(), 'cc-short': secret() };
fs.writeFileSync(`${stateDir}/clients.json`, JSON.stringify(secrets), { mode: 0o600 });
const base = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], id_token_signed_response_alg: 'ES256' };
const clients = [
  { ...base, client_id: 'cc-basic', client_secret: secrets['cc-basic'], token_endpoint_auth_method: 'client_secret_basic' },
  { ...base, client_id: 'cc-post', client_secret: secrets['cc-post'], token_endpoint_auth_method: 'client_secret_post' },
  { ...base, client_id: 'cc-short', client_secret: secrets['cc-short'], token_endpoint_auth_method: 'client_secret_basic' },
  { ...base, client_id: 'cc-jwt', token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [jwk] } },
];

const stats = { tokensIssued: {}, tokenErrors: 0, mcpAuthorized: 0, mcpRejected: 0 };
const seen = new Set();
const revoked = new Set();

const provider = new Provider(issuer, {
  clients,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, res, client) => ({
        scope: 'mcp:tools',
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: client.clientId === 'cc-short' ? 2 : 3600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  scopes: ['mcp:tools'],
  enabledJWA: { clientAuthSigningAlgValues: ['ES256', 'RS256'] },
  jwks: { keys: [await (async () => {
    const { privateKey: k } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { ...k.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'as-1' };
  })()] },
});
provider.on('grant.success', (ctx) => {
  const id = ctx.oidc.client?.clientId ?? '?';
  stats.tokensIssued[id] = (stats.tokensIssued[id] ?? 0) + 1;
});
provider.on('grant.error', () => { stats.tokenErrors += 1; });
provider.listen(asPort, '127.0.0.1');

const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`));
const app = express();
app.use(express.json());
app.get('/.well-known/oauth-protected-resource/mcp', (req, res) => {
  res.json({ resource, authorization_servers: [issuer], scopes_supported: ['mcp:tools'] });
});
// A mix-up: /mcp-mixup names this origin as its authorization server, whose metadata claims to be
// the real issuer and sends tokens to /capture-token here. A client that checks the issuer
// (RFC 8414 §3.3) never posts its secret there.
const mixupResource = `http://127.0.0.1:${mcpPort}/mcp-mixup`;
const mixupAs = `http://127.0.0.1:${mcpPort}`;
app.get('/.well-known/oauth-protected-resource/mcp-mixup', (req, res) => {
  res.json({ resource: mixupResource, authorization_servers: [mixupAs] });
});
app.get('/.well-known/oauth-authorization-server', (req, res) => {
  res.json({ issuer, token_endpoint: `${mixupAs}/capture-token`, token_endpoint_auth_methods_supported: ['client_secret_basic'] });
});
stats.captured = 0;
app.post('/capture-token', (req, res) => { stats.captured += 1; res.status(400).json({ error: 'invalid_client' }); });
app.post('/mcp-mixup', (req, res) => {
  res.status(401).set('WWW-Authenticate',
    `Bearer error="invalid_token", resource_metadata="http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp-mixup"`)
    .json({ error: 'invalid_token' });
});
app.get('/admin/stats', (req, res) => res.json({ ...stats, tokensSeen: [...seen] }));
app.post('/admin/revoke', (req, res) => { for (const t of seen) revoked.add(t); res.json({ revoked: revoked.size }); });

const challenge = (error) =>
  `Bearer error="${error}", error_description="token required", resource_metadata="${metadataUrl}"`;

app.post('/mcp', async (req, res) => {
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  try {
    if (!token) throw new Error('missing');
    if (revoked.has(token)) throw new Error('revoked');
    await jose.jwtVerify(token, jwks, { issuer, audience: resource });
  } catch {
    stats.mcpRejected += 1;
    res.status(401).set('WWW-Authenticate', challenge('invalid_token')).json({ error: 'invalid_token' });
    return;
  }
  seen.add(token);
  stats.mcpAuthorized += 1;
  const server = new McpServer({ name: 'oauth-test-server', version: '1.0.0' });
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
  server.registerTool('whoami', { description: 'Says hello' }, async () => ({ content: [{ type: 'text', text: 'hi' }] }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
app.all('/mcp', (req, res) => res.status(405).set('Allow', 'POST').end());
app.listen(mcpPort, '127.0.0.1', () => console.error(`oauth peers: AS ${issuer}, MCP ${resource}`));
