// A WebSocket client we did not write (the `ws` package), for run.sh.
//
//   node ws_client.js URL errors-and-subscribe RUN   prints the seqs it got
//   node ws_client.js URL vanish                     leaves mid-frame
//   node ws_client.js URL expect-status CODE         upgrade answered CODE
//
// URL is ws://127.0.0.1:PORT/ws[?token=T]. Exit 0 when every check held.
'use strict';
const WebSocket = require('ws');
const net = require('net');

const [url, mode, arg] = process.argv.slice(2);
const fail = (msg) => { console.error('ws_client: ' + msg); process.exit(1); };
setTimeout(() => fail('timed out'), 30000).unref();

if (mode === 'expect-status') {
  const ws = new WebSocket(url);
  ws.on('unexpected-response', (req, res) => {
    if (String(res.statusCode) !== arg) fail('status ' + res.statusCode);
    process.exit(0);
  });
  ws.on('open', () => fail('the upgrade was accepted'));
  ws.on('error', (e) => fail('error ' + e.message));
} else if (mode === 'vanish') {
  // Handshake by hand, then half of a masked text frame, then gone.
  const u = new URL(url);
  const s = net.connect(Number(u.port), u.hostname, () => {
    s.write('GET ' + u.pathname + u.search + ' HTTP/1.1\r\nHost: x\r\n' +
            'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
            'Sec-WebSocket-Version: 13\r\n\r\n');
  });
  s.once('data', (d) => {
    if (!String(d).startsWith('HTTP/1.1 101')) fail('no upgrade: ' + d);
    // FIN text frame, masked, 100-byte payload; send 10 bytes of it.
    s.write(Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    setTimeout(() => { s.destroy(); process.exit(0); }, 50);
  });
  s.on('error', (e) => fail(e.message));
} else if (mode === 'errors-and-subscribe') {
  const ws = new WebSocket(url);
  const want = ['bad_json', 'unknown_type', 'unknown_run'];
  const seqs = [];
  ws.on('open', () => {
    ws.send('this is not json{');
    ws.send(JSON.stringify({ type: 'no_such_type' }));
    ws.send(JSON.stringify({ type: 'subscribe', run: 999999 }));
    ws.send(JSON.stringify({ type: 'subscribe', run: Number(arg),
                             from: 'start', format: 'json' }));
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) fail('binary frame on a json subscription');
    const m = JSON.parse(String(data));
    if (m.type === 'error') {
      if (m.code !== want.shift()) fail('unexpected error ' + m.code);
    } else if (m.type === 'events') {
      for (const e of m.events) seqs.push(e.seq);
    } else if (m.type === 'end') {
      if (want.length) fail('missing errors: ' + want.join(' '));
      console.log(seqs.join('\n'));
      ws.close();
      process.exit(0);
    }
  });
  ws.on('error', (e) => fail(e.message));
} else {
  fail('unknown mode ' + mode);
}
