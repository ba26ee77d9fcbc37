// Test peer for interactive OAuth: a real authorization server (oidc-provider: authorization code
// with PKCE, refresh tokens rotated on every use, dynamic client registration open to anyone,
// resource indicators) whose login and consent complete by themselves (a browser that fetches the
// authorization URL and follows the redirects lands on the client's redirect URI with a code),
// and an MCP server built with @modelcontextprotocol/sdk that accepts only that server's access
// tokens (JWTs for its resource, ACCESS_TTL seconds long).
//
// env: AS_PORT, MCP_PORT, ACCESS_TTL (default 3600), STEP_UP_SCOPE (a scope the MCP server also
// wants, not named in its 401 challenge: a token without it gets 403 insufficient_scope naming
// "mcp:tools <it>"; the authorization server grants mcp:admin when asked).
// Admin endpoints on the MCP port: GET /admin/stats (grants by type, the tokens issued, for the
// test to look for them where they must not be), POST /admin/revoke (every grant: its refresh
// tokens are refused from then on).
import Provider from 'oidc-provider';
import express from 'express';
import * as jose from 'jose';
import crypto from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const asPort = Number(process.env.AS_PORT);
const mcpPort = Number(process.env.MCP_PORT);
const accessTtl = Number(process.env.ACCESS_TTL || 3600);
const stepUpScope = process.env.STEP_UP_SCOPE || '';
const issuer = `http://127.0.0.1:${asPort}`;
const resource = `http://127.0.0.1:${mcpPort}/mcp`;
const metadataUrl = `http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`;

const stats = { grants: {}, grantErrors: 0, registrations: 0, authorizations: 0, mcpAuthorized: 0,
                mcpRejected: 0, mcpInsufficient: 0, issued: [] };
const grantIds = new Set();

const provider = new Provider(issuer, {
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'mcp:tools mcp:admin',
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: accessTtl,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  scopes: ['openid', 'offline_access', 'mcp:tools', 'mcp:admin'],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  // A client allowed to refresh gets a refresh token (offline_access alone is an OIDC scope,
  // dropped from a request without openid).
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { RefreshToken: 24 * 3600, Interaction: 600, Session: 600, Grant: 24 * 3600 },
  jwks: { keys: [(() => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'as-1' };
  })()] },
});
provider.on('grant.success', (ctx) => {
  const type = ctx.oidc.params.grant_type;
  stats.grants[type] = (stats.grants[type] ?? 0) + 1;
  const body = ctx.body ?? {};
  for (const t of [body.access_token, body.refresh_token]) if (t) stats.issued.push(t);
});
provider.on('grant.error', () => { stats.grantErrors += 1; });
provider.on('registration_create.success', () => { stats.registrations += 1; });
provider.on('authorization.success', () => { stats.authorizations += 1; });

const as = express();
// Login and consent finish at once: the "user" is always `tester`, and grants what is asked.
as.get('/interaction/:uid', async (req, res, next) => {
  try {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      return await provider.interactionFinished(req, res, { login: { accountId: 'tester' } },
                                                { mergeWithLastSubmission: false });
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    grantIds.add(grantId);
    return await provider.interactionFinished(req, res, { consent: { grantId } },
                                              { mergeWithLastSubmission: true });
  } catch (e) {
    next(e);
  }
});
as.use(provider.callback());
as.listen(asPort, '127.0.0.1');

const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`));
const app = express();
app.use(express.json());
app.get('/.well-known/oauth-protected-resource/mcp', (req, res) => {
  res.json({ resource, authorization_servers: [issuer], scopes_supported: ['mcp:tools'] });
});
app.get('/admin/stats', (req, res) => res.json(stats));
app.post('/admin/revoke', async (req, res) => {
  let n = 0;
  for (const id of grantIds) {
    const grant = await provider.Grant.find(id);
    if (grant) { await grant.destroy(); n += 1; }
  }
  grantIds.clear();
  res.json({ revoked: n });
});

const challenge = (error) =>
  `Bearer error="${error}", error_description="token required", resource_metadata="${metadataUrl}", scope="mcp:tools"`;

app.post('/mcp', async (req, res) => {
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  let claims;
  try {
    if (!token) throw new Error('missing');
    claims = (await jose.jwtVerify(token, jwks, { issuer, audience: resource })).payload;
  } catch {
    stats.mcpRejected += 1;
    res.status(401).set('WWW-Authenticate', challenge('invalid_token')).json({ error: 'invalid_token' });
    return;
  }
  if (stepUpScope && !String(claims.scope ?? '').split(' ').includes(stepUpScope)) {
    stats.mcpInsufficient += 1;
    res.status(403).set('WWW-Authenticate',
      `Bearer error="insufficient_scope", scope="mcp:tools ${stepUpScope}", resource_metadata="${metadataUrl}"`)
      .json({ error: 'insufficient_scope' });
    return;
  }
  stats.mcpAuthorized += 1;
  const server = new McpServer({ name: 'oauth-code-test-server', version: '1.0.0' });
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
  server.registerTool('whoami', { description: 'Says hello' }, async () => ({ content: [{ type: 'text', text: 'hi' }] }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
app.all('/mcp', (req, res) => res.status(405).set('Allow', 'POST').end());
app.listen(mcpPort, '127.0.0.1', () => console.error(`oauth code peers: AS ${issuer}, MCP ${resource}`));
