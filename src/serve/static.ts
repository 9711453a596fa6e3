// Files the server hands out as they are: the web page (src/serve/web/) and onnxruntime-web's browser build
// (node_modules/onnxruntime-web/dist, at /ort/). Read once, kept in memory; names are checked, never joined blindly.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A response body with its content type. */
export interface Asset {
  body: Uint8Array;
  type: string;
  cache?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** The page's folder: beside this file when run from source; when built (dist/src/serve), the package's
 *  src/serve/web, found by walking up from here. */
function webDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'web', 'index.html'))) return join(here, 'web');
  for (let dir = here, i = 0; i < 6; i++, dir = dirname(dir)) {
    const web = join(dir, 'src', 'serve', 'web');
    if (existsSync(join(web, 'index.html'))) return web;
  }
  throw new Error(`ssd serve: the web page files (src/serve/web/index.html, app.js) are not found above ${here}`);
}

function ortDir(): string {
  // The package's main entry lives in its dist folder, next to the browser builds.
  return dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
}

const cache = new Map<string, Asset | null>();

function load(dir: () => string, name: string, cacheControl: string): Asset | undefined {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) return undefined;
  const ext = name.slice(name.lastIndexOf('.'));
  const type = TYPES[ext];
  if (!type) return undefined;
  const key = `${dir.name}/${name}`;
  if (!cache.has(key)) {
    const file = join(dir(), name);
    cache.set(key, existsSync(file) ? { body: readFileSync(file), type, cache: cacheControl } : null);
  }
  return cache.get(key) ?? undefined;
}

/** The page's own files: `/` is index.html. */
export function staticAsset(path: string): Asset | undefined {
  return load(webDir, path === '/' ? 'index.html' : path.slice(1), 'no-cache');
}

/** A file of onnxruntime-web's dist folder (`name` without folders). */
export function ortAsset(name: string): Asset | undefined {
  return load(ortDir, name, 'public, max-age=86400');
}
