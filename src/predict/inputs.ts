// What `ssd detect` runs on: the images and videos that paths name. Folders are walked safely: a dangling
// symbolic link, a link loop, a folder reached twice through links, a name that is not UTF-8 or an entry that cannot
// be read is skipped and named, never an ENOENT or ELOOP that stops the run before any image is processed; a FIFO or
// a device named like an image is never opened (a FIFO would wait for a writer, /dev/zero never ends).
import { accessSync, constants, lstatSync, readdirSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { extname, join } from 'node:path';

/** File extensions taken from folders as images (files named on the command line are tried whatever their name). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic', '.heif']);

/** File extensions taken as videos, from folders and from the command line (decoded with ffmpeg). */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set(['.mp4', '.webm', '.mov', '.avi', '.mkv']);

/** An entry of a folder (or a path given) that was left out, and why. */
export interface SkippedPath {
  /** The path; a name that is not UTF-8 is shown as Latin-1. */
  path: string;
  reason: string;
}

/** The inputs that paths name. */
export interface Inputs {
  images: string[];
  videos: string[];
  skipped: SkippedPath[];
}

/** Options of {@link collectInputs}. */
export interface CollectOptions {
  /** A folder never searched (the output folder): an entry that is it, or a link to it, is skipped and named. */
  exclude?: string;
}

/** A path named on the command line that does not exist (or is a dangling link or a link loop). */
export class InputPathError extends Error {
  override readonly name = 'InputPathError';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const isVideo = (name: string): boolean => VIDEO_EXTENSIONS.has(extname(name).toLowerCase());
const isImage = (name: string): boolean => IMAGE_EXTENSIONS.has(extname(name).toLowerCase());

/** What a non-regular, non-folder entry is, for messages. */
function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Why `path` (a link) cannot be followed, from the error of stat. */
function brokenLink(path: string | Buffer, e: NodeJS.ErrnoException): string {
  if (e.code === 'ELOOP') return 'a symbolic link loop (it leads back to itself)';
  if (e.code === 'ENOENT') {
    let target = '?';
    try {
      target = readlinkSync(path, 'utf8');
    } catch {
      // Gone since: the link's target stays unknown.
    }
    return `a symbolic link to '${target}', which does not exist`;
  }
  return `cannot be read: ${e.message}`;
}

/**
 * The images and videos that `paths` name: a file as given (a video by its extension, anything else as an image),
 * a folder searched recursively for image and video extensions (sorted, hidden entries skipped). Symbolic links are
 * followed, but a folder reached a second time (a loop, or two links to one folder) is not searched again.
 * Entries that cannot be used are in `skipped` with the reason. A path given that does not exist is an
 * {@link InputPathError} naming it.
 */
export function collectInputs(paths: readonly string[], options: CollectOptions = {}): Inputs {
  const images: string[] = [];
  const videos: string[] = [];
  const skipped: SkippedPath[] = [];
  const searched = new Map<string, string>(); // folder identity (device:inode) -> the path it was searched as
  const id = (st: Stats): string => `${st.dev}:${st.ino}`;
  let excluded: string | undefined;
  if (options.exclude !== undefined) {
    try {
      excluded = id(statSync(options.exclude));
    } catch {
      // Not there yet: nothing can lead into it.
    }
  }
  const take = (path: string, name: string, st: Stats, fromFolder: boolean): void => {
    const video = isVideo(name);
    if (fromFolder && !video && !isImage(name)) return;
    if (!st.isFile()) return void skipped.push({ path, reason: `${kindOf(st)}, not a file` });
    try {
      accessSync(path, constants.R_OK);
    } catch (e) {
      return void skipped.push({ path, reason: `cannot be read: ${(e as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : (e as Error).message}` });
    }
    (video ? videos : images).push(path);
  };
  const walk = (dir: string, st: Stats): void => {
    const key = id(st);
    if (key === excluded) {
      skipped.push({ path: dir, reason: 'the output folder: not searched for inputs' });
      return;
    }
    const before = searched.get(key);
    if (before !== undefined) {
      skipped.push({ path: dir, reason: `a link to a folder already searched as '${before}'` });
      return;
    }
    searched.set(key, dir);
    let raw: Buffer[];
    try {
      raw = readdirSync(dir, { encoding: 'buffer' });
    } catch (e) {
      skipped.push({ path: dir, reason: `the folder cannot be read: ${(e as Error).message}` });
      return;
    }
    const entries = raw.map((b) => {
      try {
        return { name: utf8.decode(b), raw: b, valid: true };
      } catch {
        return { name: b.toString('latin1'), raw: b, valid: false };
      }
    });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { name, raw: rawName, valid } of entries) {
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      if (!valid) {
        // Read through the bytes of the name to say what it is; only folders and media files are worth a word.
        const bytes = Buffer.concat([Buffer.from(dir + '/'), rawName]);
        let folder = false;
        try {
          folder = statSync(bytes).isDirectory();
        } catch {
          // A broken entry with a broken name: named below if it looks like media.
        }
        if (folder || isImage(name) || isVideo(name)) skipped.push({ path, reason: `the ${folder ? 'folder' : 'file'} name is not valid UTF-8 (shown as Latin-1); rename it` });
        continue;
      }
      let st: Stats;
      try {
        const l = lstatSync(path);
        st = l.isSymbolicLink() ? statSync(path) : l;
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const link = err.code === 'ENOENT' || err.code === 'ELOOP';
        skipped.push({ path, reason: link ? brokenLink(path, err) : `cannot be read: ${err.message}` });
        continue;
      }
      if (st.isDirectory()) walk(path, st);
      else take(path, name, st, true);
    }
  };
  for (const p of paths) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      let isLink = false;
      try {
        isLink = lstatSync(p).isSymbolicLink();
      } catch {
        // Not there at all.
      }
      throw new InputPathError(isLink ? `'${p}' is ${brokenLink(p, err)}` : err.code === 'ENOENT' || err.code === 'ENOTDIR' ? `'${p}' does not exist` : `'${p}' cannot be read: ${err.message}`);
    }
    if (st.isDirectory()) walk(p, st);
    else take(p, p, st, false);
  }
  return { images, videos, skipped };
}

/** The image files that `paths` name ({@link collectInputs} without videos and without the list of what was skipped). */
export function collectImages(paths: readonly string[]): string[] {
  return collectInputs(paths).images;
}
