// The ssd-ts web page: a dropped, chosen or camera image goes through the exported detector (model.onnx, with
// post-processing in the graph) in onnxruntime-web, or through POST /v1/detect when the browser cannot run it;
// boxes are drawn on the canvas and listed in <ul id="detections"> (one <li> per box, values in data-*).

const $ = (id) => document.getElementById(id);
const canvas = $('canvas');
const ctx = canvas.getContext('2d');
const list = $('detections');
const status = $('status');

// The same per-class palette as the server's annotated images (src/draw/palette.ts).
const PALETTE = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190], [0, 128, 128],
  [230, 190, 255], [170, 110, 40], [255, 225, 25], [128, 0, 0], [170, 255, 195],
  [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128], [100, 70, 220],
];
const colorOf = (cls) => PALETTE[(((cls - 1) % 20) + 20) % 20];

let config;           // /model.json: classNames, inputSize, normalization, defaults
let ort;              // the onnxruntime-web module, when loaded
let session;          // its InferenceSession, when the browser can run the model
let backend = 'server';
let busy = false;

function setStatus(state, text) {
  status.dataset.state = state;
  status.dataset.backend = backend;
  status.textContent = text;
}

async function init() {
  config = await (await fetch('model.json')).json();
  $('min-score').value = String(config.defaults.minScore);
  const forceServer = new URLSearchParams(location.search).get('backend') === 'server';
  if (!forceServer) {
    try {
      setStatus('loading', 'loading the model into the browser…');
      ort = await import('./ort/ort.wasm.min.mjs');
      ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
      // Threads need cross-origin isolation (the server sends the headers); else one thread.
      ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
      session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });
      backend = 'browser';
    } catch (e) {
      console.warn('running the model in the browser failed; using the server', e);
      session = undefined;
    }
  }
  setStatus('ready', backend === 'browser' ? 'ready: the model runs in this browser' : 'ready: detection runs on the server');
}

/** Normalised (1, 3, H, W) float32 input from an image source, resized to the model's input size. */
function prepare(source) {
  const { width: W, height: H } = config.inputSize;
  const off = new OffscreenCanvas(W, H);
  const c = off.getContext('2d', { willReadFrequently: true });
  c.drawImage(source, 0, 0, W, H);
  const px = c.getImageData(0, 0, W, H).data;
  const n = W * H;
  const out = new Float32Array(3 * n);
  const { mean, std } = config.normalization;
  for (let ch = 0; ch < 3; ch++) {
    const scale = 1 / (255 * std[ch]), shift = mean[ch] / std[ch];
    for (let i = 0; i < n; i++) out[ch * n + i] = px[4 * i + ch] * scale - shift;
  }
  return new ort.Tensor('float32', out, [1, 3, H, W]);
}

async function detectInBrowser(source, width, height, minScore) {
  const feeds = {
    images: prepare(source),
    min_score: new ort.Tensor('float32', Float32Array.of(minScore), [1]),
    max_overlap: new ort.Tensor('float32', Float32Array.of(config.defaults.maxOverlap), [1]),
    top_k: new ort.Tensor('int64', BigInt64Array.of(BigInt(config.defaults.topK)), [1]),
  };
  const t0 = performance.now();
  const out = await session.run(feeds);
  // The network and post-processing alone (an int8 model against a float32 one), for the page's tests.
  $('timing').dataset.inferenceMs = String(performance.now() - t0);
  const n = Number(out.num_detections.data[0]);
  const boxes = out.boxes.data, labels = out.labels.data, scores = out.scores.data;
  const clamp = (v, hi) => Math.min(hi, Math.max(0, v));
  const dets = [];
  for (let i = 0; i < n; i++) {
    const cls = Number(labels[i]);
    dets.push({
      label: config.classNames[cls], classIndex: cls, score: scores[i],
      box: { xmin: clamp(boxes[4 * i] * width, width), ymin: clamp(boxes[4 * i + 1] * height, height), xmax: clamp(boxes[4 * i + 2] * width, width), ymax: clamp(boxes[4 * i + 3] * height, height) },
    });
  }
  return dets;
}

async function detectOnServer(blob, minScore) {
  const res = await fetch(`v1/detect?minScore=${encodeURIComponent(minScore)}`, { method: 'POST', body: blob, headers: { 'content-type': blob.type || 'application/octet-stream' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `server answered ${res.status}`);
  return body.detections;
}

function draw(source, width, height, dets) {
  canvas.width = width;
  canvas.height = height;
  ctx.drawImage(source, 0, 0, width, height);
  const line = Math.max(2, Math.round(Math.min(width, height) / 200));
  const font = Math.max(14, Math.round(Math.min(width, height) / 28));
  ctx.font = `bold ${font}px ui-monospace, monospace`;
  ctx.textBaseline = 'top';
  const sorted = [...dets].sort((a, b) => a.score - b.score);
  for (const d of sorted) {
    const [r, g, b] = colorOf(d.classIndex);
    ctx.strokeStyle = `rgb(${r},${g},${b})`;
    ctx.lineWidth = line;
    ctx.strokeRect(d.box.xmin + line / 2, d.box.ymin + line / 2, d.box.xmax - d.box.xmin - line, d.box.ymax - d.box.ymin - line);
  }
  for (const d of sorted) {
    const [r, g, b] = colorOf(d.classIndex);
    const text = `${d.label} ${d.score.toFixed(2)}`;
    const pad = Math.max(2, Math.round(font * 0.2));
    const w = ctx.measureText(text).width + 2 * pad, h = font + 2 * pad;
    // Above the box when there is room, else inside its top edge; always inside the picture.
    let y = d.box.ymin - h >= 0 ? d.box.ymin - h : d.box.ymin;
    y = Math.max(0, Math.min(y, height - h));
    const x = Math.max(0, Math.min(d.box.xmin, width - w));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(x, y, w, h);
    ctx.fillStyle = 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? '#000' : '#fff';
    ctx.fillText(text, x + pad, y + pad);
  }
  list.replaceChildren(
    ...dets.map((d) => {
      const li = document.createElement('li');
      const [r, g, b] = colorOf(d.classIndex);
      li.style.setProperty('--c', `rgb(${r},${g},${b})`);
      Object.assign(li.dataset, {
        label: d.label, classIndex: String(d.classIndex), score: String(d.score),
        xmin: String(d.box.xmin), ymin: String(d.box.ymin), xmax: String(d.box.xmax), ymax: String(d.box.ymax),
      });
      li.textContent = `${d.label} ${d.score.toFixed(2)}  [${[d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax].map((v) => Math.round(v)).join(', ')}]`;
      return li;
    }),
  );
}

/** Detects in one picture: `source` drawable, `blob` its encoded bytes for the server (made when needed). */
async function run(source, width, height, getBlob) {
  const minScore = Number($('min-score').value) || 0;
  const t0 = performance.now();
  let dets;
  if (session) {
    try {
      dets = await detectInBrowser(source, width, height, minScore);
    } catch (e) {
      console.warn('browser inference failed; using the server from now on', e);
      session = undefined;
      backend = 'server';
    }
  }
  if (!dets) dets = await detectOnServer(await getBlob(), minScore);
  draw(source, width, height, dets);
  $('timing').textContent = `${dets.length} object${dets.length === 1 ? '' : 's'} in ${Math.round(performance.now() - t0)} ms (${backend})`;
  return dets;
}

async function onFile(file) {
  if (!file || busy) return;
  busy = true;
  setStatus('busy', `detecting in ${file.name}…`);
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    await run(bitmap, bitmap.width, bitmap.height, async () => file);
    setStatus('done', `${file.name}: done`);
  } catch (e) {
    setStatus('error', `${file.name}: ${e.message}`);
  } finally {
    busy = false;
  }
}

$('file').addEventListener('change', (e) => onFile(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); onFile(e.dataTransfer.files[0]); });

// The camera: detect frame after frame (the next one when the previous is done) until stopped.
let stream;
$('camera').addEventListener('click', async () => {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch (e) {
    setStatus('error', `camera: ${e.message}`);
    return;
  }
  const video = $('video');
  video.srcObject = stream;
  await video.play();
  $('camera').hidden = true;
  $('stop').hidden = false;
  setStatus('busy', 'camera: detecting…');
  const frame = new OffscreenCanvas(1, 1);
  const loop = async () => {
    if (!stream) return;
    const w = video.videoWidth, h = video.videoHeight;
    if (w && h) {
      frame.width = w;
      frame.height = h;
      frame.getContext('2d').drawImage(video, 0, 0);
      try {
        await run(frame, w, h, () => frame.convertToBlob({ type: 'image/jpeg', quality: 0.9 }));
      } catch (e) {
        setStatus('error', `camera: ${e.message}`);
      }
    }
    requestAnimationFrame(loop);
  };
  loop();
});
$('stop').addEventListener('click', () => {
  for (const t of stream?.getTracks() ?? []) t.stop();
  stream = undefined;
  $('camera').hidden = false;
  $('stop').hidden = true;
  setStatus('ready', 'camera stopped');
});

init().catch((e) => setStatus('error', `could not start: ${e.message}`));
