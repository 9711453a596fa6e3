// What hostile or careless clients can cost the detection service, each bounded: image bombs (answered 413 from
// the header, with peak memory measured), bodies over the limit (413, the connection closed, nothing more read),
// slow headers and bodies (timeouts of seconds), too many connections (refused), repeated query parameters (400),
// and how many images decode at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import sharp from 'sharp';
import { DetectionServer, serve } from '../../src/serve/server.js';
import type { ImageInput } from '../../src/nn/model.js';
import type { ImageReadOptions } from '../../src/io/image.js';
import { pngBomb } from '../io/png-bomb.js';
import { peakRssGrowth } from '../io/peak-rss.js';
import { TinyDetector } from './tiny-model.js';

const model = new TinyDetector();
let server: DetectionServer;
let url: string;
let port: number;
let photo: Buffer;
const bomb = pngBomb(16000, 16000);

before(async () => {
  photo = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 40, g: 120, b: 200 } } })
    .composite([{ input: { create: { width: 200, height: 240, channels: 3, background: { r: 240, g: 200, b: 20 } } }, left: 100, top: 80 }])
    .jpeg()
    .toBuffer();
  ({ server, url, port } = await serve(model, { port: 0, log: null, maxBodyBytes: 256 * 1024 }));
});

after(async () => {
  await server.close();
  await model.dispose();
});

async function post(body: Uint8Array, query = ''): Promise<{ status: number; json: { error?: string }; connection: string | null }> {
  const res = await fetch(`${url}/v1/detect${query}`, { method: 'POST', body });
  return { status: res.status, json: (await res.json()) as { error?: string }, connection: res.headers.get('connection') };
}

// First in the file, so that no earlier test has left freed memory for the server to reuse unseen.
test('an image bomb (16000x16000 1-bit PNG, 31 KB) is a 413 at once, with peak RSS growth under 200 MB; 8 at once too', async () => {
  const t0 = performance.now();
  const one = await peakRssGrowth(() => post(bomb));
  assert.equal(one.result.status, 413);
  assert.equal(one.result.json.error, "the image is 16000x16000 = 256 megapixels, above this server's limit of 40 megapixels");
  assert.equal(one.result.connection, 'close');
  assert.ok(performance.now() - t0 < 2000, `answered in ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(one.growthMb < 200, `one bomb grew RSS by ${one.growthMb.toFixed(0)} MB`);
  const eight = await peakRssGrowth(() => Promise.all(Array.from({ length: 8 }, () => post(bomb))));
  assert.deepEqual(eight.result.map((r) => r.status), Array(8).fill(413));
  assert.ok(eight.growthMb < 200, `8 concurrent bombs grew RSS by ${eight.growthMb.toFixed(0)} MB`);
  assert.equal((await post(photo)).status, 200, 'the server still answers');
});

/** Streams up to `total` bytes of body to the server as fast as it takes them; returns what came back. */
function streamBody(headers: Record<string, string>, total: number): Promise<{ status: number | undefined; sent: number; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let status: number | undefined;
    let sent = 0;
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      resolve({ status, sent, closed, ms: performance.now() - t0 });
    };
    const req = request({ host: '127.0.0.1', port, path: '/v1/detect', method: 'POST', headers }, (res) => {
      status = res.statusCode;
      res.resume();
    });
    req.on('error', () => done(true));
    req.on('close', () => done(true));
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
    setTimeout(() => {
      req.destroy();
      done(false);
    }, 20_000).unref();
  });
}

test('a body over the limit is a 413 that closes the connection: a chunked or declared 100 MB upload is not read on', async () => {
  for (const headers of [{ 'transfer-encoding': 'chunked' }, { 'content-length': String(100 * 2 ** 20) }] as Record<string, string>[]) {
    const r = await streamBody(headers, 100 * 2 ** 20);
    assert.equal(r.status, 413, JSON.stringify(headers));
    assert.ok(r.closed, `${JSON.stringify(headers)}: the server closed the connection`);
    assert.ok(r.sent < 32 * 2 ** 20, `${JSON.stringify(headers)}: ${(r.sent / 2 ** 20).toFixed(1)} MB went out before the connection closed`);
  }
  // Expect: 100-continue with a size over the limit: refused before a byte of body is sent.
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/detect', method: 'POST', headers: { 'content-length': String(2 ** 30), expect: '100-continue' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('continue', () => reject(new Error('the server asked for the body')));
    req.on('error', () => undefined);
    req.flushHeaders();
  });
  assert.equal(status, 413);
  assert.equal((await post(photo)).status, 200, 'the server still answers');
});

test('a repeated query parameter is a 400 naming it', async () => {
  const r = await post(photo, '?minScore=0.3&topK=5&minScore=0.9');
  assert.equal(r.status, 400);
  assert.equal(r.json.error, "query parameter 'minScore' is given 2 times; give it once");
});

/** Opens a raw connection, writes `text`, and resolves with what the server sent and when it closed. */
function rawConnection(text: string, p = port): Promise<{ reply: string; ms: number; socket: Socket }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = connect(p, '127.0.0.1', () => socket.write(text));
    let reply = '';
    socket.on('data', (d) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ reply, ms: performance.now() - t0, socket }));
  });
}

test('slow clients: headers not done in headersTimeoutMs, or a body not done in requestTimeoutMs, get 408 and are closed', async () => {
  const { server: s, port: p } = await serve(model, { port: 0, log: null, headersTimeoutMs: 500, requestTimeoutMs: 1500 });
  try {
    const [headers, body, silent] = await Promise.all([
      rawConnection('POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Le', p),
      rawConnection('POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789', p),
      rawConnection('', p),
    ]);
    assert.match(headers.reply, /^HTTP\/1\.1 408/);
    assert.ok(headers.ms >= 400 && headers.ms < 2500, `slow headers closed after ${headers.ms.toFixed(0)} ms`);
    assert.match(body.reply, /^HTTP\/1\.1 408/);
    assert.ok(body.ms >= 1400 && body.ms < 3500, `slow body closed after ${body.ms.toFixed(0)} ms`);
    assert.ok(silent.ms < 2500, `a connection that sends nothing closed after ${silent.ms.toFixed(0)} ms`);
  } finally {
    await s.close();
  }
});

test('connections beyond maxConnections are refused at once; the server answers again when one frees', async () => {
  const { server: s, url: u, port: p } = await serve(model, { port: 0, log: null, maxConnections: 3 });
  const held: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      held.push(await new Promise<Socket>((resolve) => {
        const c = connect(p, '127.0.0.1', () => resolve(c));
        c.on('error', () => undefined);
      }));
    }
    // Let the server accept the three before the fourth arrives.
    await new Promise((r) => setTimeout(r, 100));
    const refused = await rawConnection('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', p);
    assert.equal(refused.reply, '', 'the fourth connection got no answer');
    assert.ok(refused.ms < 1000, `and was closed after ${refused.ms.toFixed(0)} ms`);
    held.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const health = await fetch(`${u}/healthz`, { headers: { connection: 'close' } });
    assert.equal(health.status, 200);
    assert.ok(((await health.json()) as { connections: { dropped: number } }).connections.dropped >= 1);
  } finally {
    for (const c of held) c.destroy();
    await s.close();
  }
});

test('at most maxDecodes images decode at once; the others wait and are answered', async () => {
  const counting = Object.create(model) as TinyDetector;
  let now = 0, most = 0;
  counting.prepare = async (image: ImageInput, options?: ImageReadOptions) => {
    now++;
    most = Math.max(most, now);
    try {
      await new Promise((r) => setTimeout(r, 30));
      return await model.prepare(image, options);
    } finally {
      now--;
    }
  };
  const { server: s, url: u } = await serve(counting, { port: 0, log: null, maxDecodes: 2 });
  try {
    most = 0;
    const answers = await Promise.all(Array.from({ length: 10 }, () => fetch(`${u}/v1/detect`, { method: 'POST', body: photo })));
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
    assert.equal(most, 2, `${most} images decoded at once`);
  } finally {
    await s.close();
  }
});
