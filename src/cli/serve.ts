// `ssd serve`: the detection HTTP service and its web page.
import { SSD } from '../nn/model.js';
import { serve } from '../serve/server.js';
import { intFlag, numberFlag, parseVerbArgs, stringFlag } from './args.js';
import { UsageError, type Command } from './command.js';

const help = `usage: ssd serve --weights <model.safetensors> [--port 8080] [--host 127.0.0.1] [options]

An HTTP service for a model, and a web page at / where you drop an image or open the camera and see
the boxes (the page runs the model in the browser with onnxruntime-web, or asks the server).

  POST /v1/detect   body: an image (JPEG, PNG, WebP, GIF, TIFF, AVIF)
                    query: minScore, maxOverlap, topK, suppress (class names, comma separated)
                    -> {"detections": [{"label", "classIndex", "score", "box": {"xmin", "ymin",
                        "xmax", "ymax"}}], "width", "height", "time_ms"}   (boxes in pixels)
  GET /healthz      -> {"status": "ok", ...batching counters}
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
  --max-body-mb <mb>    request size limit, larger bodies get 413           (default 10)
  --threads <n>         ONNX Runtime threads                                (default: all cores)

Stops gracefully on Ctrl-C / SIGTERM: requests in flight are answered first.`;

export const command: Command = {
  name: 'serve',
  summary: 'HTTP detection service with batching, and a web page (camera or dropped images)',
  help,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('serve', argv, {
      weights: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'min-score': { type: 'string' },
      'max-overlap': { type: 'string' },
      'top-k': { type: 'string' },
      'max-batch': { type: 'string' },
      'max-wait-ms': { type: 'string' },
      'max-body-mb': { type: 'string' },
      threads: { type: 'string' },
    });
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

    const model = await SSD.load(weights);
    const { server, url } = await serve(model, { port, host, defaults, maxBatch, maxWaitMs, maxBodyBytes, ...(threads === undefined ? {} : { threads }) });
    console.error(`ssd serve: ${model.config.architecture} (${model.classNames.length - 1} classes) at ${url}/  (POST ${url}/v1/detect; Ctrl-C stops)`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        console.error(`ssd serve: ${signal}: finishing requests in flight, then stopping`);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        server.close().then(resolve, resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await model.dispose();
    console.error('ssd serve: stopped');
    return 0;
  },
};
