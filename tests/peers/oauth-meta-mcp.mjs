// Test peer for the refusals of the interactive OAuth flow: an MCP endpoint that answers 401 and
// the metadata of an authorization server that is wrong in one way per variant. Nothing here
// issues a token; a client that refuses as it should never reaches /register, /authorize or
// /token (GET /admin/requests lists every request, for the test to see that).
//
//   /<variant>/mcp  -> 401, WWW-Authenticate naming /.well-known/oauth-protected-resource/<variant>/mcp
//   that document   -> resource /<variant>/mcp, authorization server http://127.0.0.1:PORT/<variant>
//   /.well-known/oauth-authorization-server/<variant> -> its metadata, with the variant's fault:
//     nos256    code_challenge_methods_supported lists only "plain"
//     plainhttp the authorization endpoint is http:// on a host that is not loopback
//     fragment  the authorization endpoint holds a fragment
//     noreg     no registration_endpoint (and so no client without --client-id)
//     badclient registration issues a client_id with a space in it
//   /legacy/mcp     -> 401 naming no metadata; every protected-resource location answers 404
//                      (the 2025-03-26 spec: the authorization server is the origin)
//   /broken/mcp     -> 401 naming no metadata; its path's protected-resource location answers 500
//                      (a server that is down is not sent to its origin's endpoints)
//
// env: MCP_PORT.
import http from 'node:http';

const port = Number(process.env.MCP_PORT);
const origin = `http://127.0.0.1:${port}`;
const variants = new Set(['nos256', 'plainhttp', 'fragment', 'noreg', 'badclient']);
const requests = [];

function json(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function metadata(v) {
  const issuer = `${origin}/${v}`;
  const m = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    registration_endpoint: `${issuer}/register`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic'],
    scopes_supported: ['mcp:tools'],
  };
  if (v === 'nos256') m.code_challenge_methods_supported = ['plain'];
  if (v === 'plainhttp') m.authorization_endpoint = 'http://auth.example.test/authorize';
  if (v === 'fragment') m.authorization_endpoint = `${issuer}/authorize#x`;
  if (v === 'noreg') delete m.registration_endpoint;
  return m;
}

http.createServer((req, res) => {
  const url = new URL(req.url, origin);
  const p = url.pathname;
  requests.push(`${req.method} ${p}`);
  let m;
  if (p === '/admin/requests') return json(res, 200, requests.filter((r) => !r.endsWith('/admin/requests')));
  if ((m = /^\/([a-z0-9]+)\/mcp$/.exec(p)) && (variants.has(m[1]) || m[1] === 'legacy' || m[1] === 'broken')) {
    const challenge = variants.has(m[1])
      ? `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/${m[1]}/mcp"`
      : 'Bearer realm="mcp"';
    res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ error: 'unauthorized' }));
  }
  if ((m = /^\/\.well-known\/oauth-protected-resource\/([a-z0-9]+)\/mcp$/.exec(p)) && variants.has(m[1])) {
    return json(res, 200, { resource: `${origin}/${m[1]}/mcp`, authorization_servers: [`${origin}/${m[1]}`] });
  }
  if ((m = /^\/\.well-known\/oauth-authorization-server\/([a-z0-9]+)$/.exec(p)) && variants.has(m[1])) {
    return json(res, 200, metadata(m[1]));
  }
  if (p.startsWith('/.well-known/oauth-protected-resource') && p.includes('broken')) {
    return json(res, 500, { error: 'server_error' });
  }
  if ((m = /^\/badclient\/register$/.exec(p)) && req.method === 'POST') {
    return json(res, 201, { client_id: 'client id with spaces', token_endpoint_auth_method: 'none' });
  }
  return json(res, 404, { error: 'not_found' });
}).listen(port, '127.0.0.1');
