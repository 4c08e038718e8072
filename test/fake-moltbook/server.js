// A local fake of Moltbook's public profile API, for the tests only:
//
//   GET  /api/v1/agents/profile?name=NAME   the profile set for NAME, or 404
//   POST /control/profile                  {"name":..., "answer":{...}} sets it
//   POST /control/raw                      {"name":..., "hex":"..."} sets it
//                                          as bytes, valid JSON or not
//   GET  /control/count?name=NAME           how many lookups NAME got
//
// Names with a behaviour of their own: slow (never answers), garbage (not
// JSON), huge (2 MB), redirect (to another host), sameredirect (to this
// server), error (HTTP 500), badshape (JSON of the wrong shape).
//
// usage: node server.js PORTFILE   (listens on a free loopback port and
// writes it to PORTFILE)
const http = require('http');
const fs = require('fs');

const profiles = new Map();
const raws = new Map();
const counts = new Map();

function send(res, status, body, type) {
  res.writeHead(status, { 'Content-Type': type || 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'POST' && url.pathname === '/control/profile') {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      const j = JSON.parse(data);
      profiles.set(j.name.toLowerCase(), j.answer);
      send(res, 200, { ok: true });
    });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/control/raw') {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      const j = JSON.parse(data);
      raws.set(j.name.toLowerCase(), Buffer.from(j.hex, 'hex'));
      send(res, 200, { ok: true });
    });
    return;
  }
  if (url.pathname === '/control/count') {
    send(res, 200, { count: counts.get(url.searchParams.get('name')) || 0 });
    return;
  }
  if (url.pathname === '/api/v1/agents/profile' && req.method === 'GET') {
    const name = url.searchParams.get('name') || '';
    counts.set(name, (counts.get(name) || 0) + 1);
    switch (name) {
      case 'slow': return; // never answers
      case 'garbage': return send(res, 200, '<html>not json', 'text/html');
      case 'huge': return send(res, 200, JSON.stringify({ success: true, agent: { name: 'huge', is_claimed: true }, pad: 'x'.repeat(2 * 1024 * 1024) }));
      case 'redirect':
        res.writeHead(302, { Location: 'http://elsewhere.invalid/api/v1/agents/profile?name=x' });
        return res.end();
      case 'sameredirect':
        res.writeHead(302, { Location: '/api/v1/agents/profile?name=redirected_bot' });
        return res.end();
      case 'error': return send(res, 500, { success: false, error: 'boom' });
      case 'badshape': return send(res, 200, { success: true, agent: 'nope' });
    }
    const raw = raws.get(name.toLowerCase());
    if (raw) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(raw);
    }
    const p = profiles.get(name.toLowerCase());
    if (!p) return send(res, 404, { success: false, error: 'Agent not found' });
    return send(res, 200, p);
  }
  send(res, 404, { success: false, error: 'no such route' });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(process.argv[2], String(server.address().port));
});
