// `ssd serve`: the detection HTTP service and its web page.
import { SSD } from '../nn/model.js';
import { serve } from '../serve/server.js';
import { intFlag, maxPixelsFlag, numberFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { UsageError, type Command } from './command.js';

const flags: FlagSpec = {
  weights: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'min-score': { type: 'string' },
  'max-overlap': { type: 'string' },
  'top-k': { type: 'string' },
  'max-batch': { type: 'string' },
  'max-wait-ms': { type: 'string' },
  'max-body-mb': { type: 'string' },
  'max-pixels': { type: 'string' },
  'max-decodes': { type: 'string' },
  'max-connections': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  threads: { type: 'string' },
};

const help = `usage: ssd serve --weights <model.safetensors> [--port 8080] [--host 127.0.0.1] [options]

An HTTP service for a model, and a web page at / where you drop an image or open the camera and see
the boxes (the page runs the model in the browser with onnxruntime-web, or asks the server).

  POST /v1/detect   body: an image (JPEG, PNG, WebP, GIF, TIFF, AVIF)
                    query: minScore, maxOverlap, topK, suppress (class names, comma separated)
                    -> {"detections": [{"label", "classIndex", "score", "box": {"xmin", "ymin",
                        "xmax", "ymax"}}], "width", "height", "time_ms"}   (boxes in pixels)
  GET /healthz      -> 200 {"status": "ok", ...counters}; 503 when stopping or the network fails
  GET /             the web page;  GET /model.onnx  the model with post-processing (ONNX)

  curl --data-binary @photo.jpg -H 'content-type: image/jpeg' 'http://127.0.0.1:8080/v1/detect?minScore=0.3'

options:
  --weights <file>      model file                                          [required]
  --port <n>            port (0: any free one)                              (default 8080)
  --host <addr>         address to listen on (0.0.0.0 for every interface)  (default 127.0.0.1)
  --min-score <p>       default minScore                                    (default 0.2)
  --max-overlap <iou>   default maxOverlap                                  (default 0.45)
  --top-k <n>           default topK                                        (default 200)
  --max-batch <n>       most requests run together in one network run       (default 8)
  --max-wait-ms <ms>    longest a request waits for others to batch with    (default 5)
  --threads <n>         ONNX Runtime threads                                (default: all cores)

limits (what one client can cost):
  --max-body-mb <mb>    request size limit, larger bodies get 413           (default 10)
  --max-pixels <MP>     largest image, in megapixels, judged from its header
                        before decoding; larger ones get 413                (default 40)
  --max-decodes <n>     images decoded at once                              (default: cores)
  --max-connections <n> open connections; more are refused                  (default 64)
  --headers-timeout <s> time a client has to send a request's headers      (default 10)
  --request-timeout <s> time a client has to send a whole request           (default 30)

The model runs on a blank image before the server listens: a model that cannot run does not start.
Stops gracefully on Ctrl-C / SIGTERM: requests in flight are answered first (a second signal stops at once).

examples
  ssd serve --weights runs/voc/best.safetensors
  ssd serve --weights runs/voc/best.safetensors --host 0.0.0.0 --port 8080 --min-score 0.3 --max-batch 16`;

export const command: Command = {
  name: 'serve',
  summary: 'HTTP detection service with batching, and a web page (camera or dropped images)',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('serve', argv, flags);
    const weights = stringFlag(args, 'weights');
    if (!weights) throw new UsageError('ssd serve: --weights <model file> is required (see ssd serve --help)');
    if (args.positionals.length) throw new UsageError(`ssd serve: unexpected argument '${args.positionals[0]}'`);
    const port = intFlag('serve', 'port', stringFlag(args, 'port'), 8080, 0, 65535);
    const host = stringFlag(args, 'host') ?? '127.0.0.1';
    const defaults = {
      minScore: numberFlag('serve', 'min-score', stringFlag(args, 'min-score'), 0.2, 0, 0.999999),
      maxOverlap: numberFlag('serve', 'max-overlap', stringFlag(args, 'max-overlap'), 0.45, 0, 1),
      topK: intFlag('serve', 'top-k', stringFlag(args, 'top-k'), 200, 1, 10_000),
    };
    const maxBatch = intFlag('serve', 'max-batch', stringFlag(args, 'max-batch'), 8, 1, 256);
    const maxWaitMs = numberFlag('serve', 'max-wait-ms', stringFlag(args, 'max-wait-ms'), 5, 0, 10_000);
    const maxBodyBytes = Math.round(numberFlag('serve', 'max-body-mb', stringFlag(args, 'max-body-mb'), 10, 0.001, 4096) * 2 ** 20);
    const threadsFlag = stringFlag(args, 'threads');
    const threads = threadsFlag === undefined ? undefined : intFlag('serve', 'threads', threadsFlag, 0, 1, 1024);
    const maxPixels = maxPixelsFlag('serve', args);
    const decodesFlag = stringFlag(args, 'max-decodes');
    const maxDecodes = decodesFlag === undefined ? undefined : intFlag('serve', 'max-decodes', decodesFlag, 0, 1, 1024);
    const maxConnections = intFlag('serve', 'max-connections', stringFlag(args, 'max-connections'), 64, 1, 1_000_000);
    const headersTimeoutMs = numberFlag('serve', 'headers-timeout', stringFlag(args, 'headers-timeout'), 10, 0.1, 3600) * 1000;
    const requestTimeoutMs = numberFlag('serve', 'request-timeout', stringFlag(args, 'request-timeout'), 30, 0.1, 3600) * 1000;
    if (headersTimeoutMs > requestTimeoutMs) throw new UsageError('ssd serve: --headers-timeout must not exceed --request-timeout');

    const model = await SSD.load(weights);
    try {
      const { server, url } = await serve(model, {
        port,
        host,
        defaults,
        maxBatch,
        maxWaitMs,
        maxBodyBytes,
        maxConnections,
        headersTimeoutMs,
        requestTimeoutMs,
        ...(maxPixels === undefined ? {} : { maxPixels }),
        ...(maxDecodes === undefined ? {} : { maxDecodes }),
        ...(threads === undefined ? {} : { threads }),
      });
      console.error(`ssd serve: ${model.config.architecture} (${model.classNames.length - 1} classes) at ${url}/  (POST ${url}/v1/detect; Ctrl-C stops)`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          console.error(`ssd serve: ${signal}: finishing requests in flight, then stopping`);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          // A second signal: stop at once.
          process.once('SIGINT', () => process.exit(130));
          process.once('SIGTERM', () => process.exit(143));
          server.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    } finally {
      await model.dispose();
    }
    console.error('ssd serve: stopped');
    return 0;
  },
};
