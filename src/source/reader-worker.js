// @ts-check
// The reading thread of a feed connection (reader.ts runs it): a `ws` client whose frames are
// copied, a loop turn's worth at a time, into one transferable buffer and posted to the main
// thread with each frame's receive time. Reading here never waits for what the main thread does
// with the frames (splitting, keeping, producing), so a burst is read at the socket's rate; the
// main thread is told of every frame in order and says how many bytes it has taken, and the
// socket is paused while more than `readAheadBytes` are posted and not yet taken, or, given a spill
// directory, batches beyond that wait on disk (frame-spill.js) and the socket is read on.
//
// Plain JavaScript (types in JSDoc, checked): a .ts entry would make the thread load Node's
// TypeScript stripper for itself, 20 MB more memory per feed (measured: an idle thread with `ws`
// is 26 MB of RSS from a .js entry, 46 MB from a .ts one).
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import WebSocket from 'ws';
import { FrameSpill } from './frame-spill.js';

/** @typedef {import('./reader.ts').ReaderCommand} ReaderCommand */
/** @typedef {import('./reader.ts').ReaderEvent} ReaderEvent */


const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
/** @type {WebSocket | undefined} */
let ws;
let id = 0;
let readAhead = 0;
/** A batch is posted once the loop turn ends, or as soon as it holds this many bytes (reader.ts READ_BATCH_BYTES). */
let batchLimit = 256 * 1024;
/** Bytes posted and not yet taken by the main thread. */
let outstanding = 0;
/** Paused by the read-ahead bound. */
let boundPaused = false;
/**
 * Batches beyond the read-ahead bound, on disk, when the connection was opened with a spill
 * directory; and what comes after them in memory: batches the disk refused (full, failing: the
 * socket is paused until they are posted) and the connection's last events, which must follow
 * its frames.
 * @type {FrameSpill | undefined}
 */
let spill;
let spillMax = 0;
/** @type {Array<{ batch: Batch } | { event: ReaderEvent }>} */
let tail = [];
/** The main thread is stopping: batches are no longer held back by the read-ahead bound (what waits is posted as it takes). */
let draining = false;
/** When the last spill write failure was reported (one warning per 5 s). */
let spillWarnedAt = 0;
/** Posted while spilling: main thread's backlog is refilled from the disk below this. */
const REFILL_BYTES = 8 * 1024 * 1024;
/** @type {Buffer[]} */
let frames = [];
/** @type {boolean[]} */
let binary = [];
/** @type {number[]} */
let times = [];
let batchBytes = 0;
let flushScheduled = false;

/** @typedef {{ data: ArrayBuffer, lengths: Uint32Array<ArrayBuffer>, binary: Uint8Array<ArrayBuffer>, times: Float64Array<ArrayBuffer> }} Batch */

/**
 * @param {ReaderEvent} event
 * @param {ArrayBuffer[]} [transfer]
 */
function post(event, transfer = []) {
  port.postMessage(event, transfer);
}

function flush() {
  flushScheduled = false;
  if (frames.length === 0) return;
  const data = new ArrayBuffer(batchBytes);
  const bytes = new Uint8Array(data);
  const lengths = new Uint32Array(frames.length);
  let at = 0;
  for (let i = 0; i < frames.length; i++) {
    const f = /** @type {Buffer} */ (frames[i]);
    bytes.set(f, at);
    lengths[i] = f.length;
    at += f.length;
  }
  const batch = { data, lengths, binary: Uint8Array.from(binary, (b) => (b ? 1 : 0)), times: Float64Array.from(times) };
  frames = [];
  binary = [];
  times = [];
  batchBytes = 0;
  emitBatch(batch);
  refill();
}

/** Whether batches and events wait behind the main thread's backlog (on disk, or in the tail). */
function behind() {
  return tail.length > 0 || (spill !== undefined && !spill.empty);
}

/** @param {Batch} b */
function emitBatch(b) {
  const over = readAhead > 0 && outstanding + b.data.byteLength > readAhead && !draining;
  if (spill === undefined || (!over && !behind())) return postBatch(b);
  if (tail.length === 0 && spill.bytes + b.data.byteLength <= spillMax) {
    try {
      spill.append(new Uint8Array(b.data), b.lengths, b.binary, b.times);
      post({ t: 'spill', id, bytes: spill.bytes });
      return;
    } catch (err) {
      const now = Date.now();
      if (now - spillWarnedAt > 5000) {
        spillWarnedAt = now;
        post({ t: 'warn', id, code: 'SPOOL_WRITE_FAILED', message: `the reading thread could not write frames to ${spill.dir} (${/** @type {Error} */ (err).message}): the socket is paused until the main thread has taken what waits` });
      }
    }
  }
  tail.push({ batch: b });
}

/** @param {ReaderEvent} e */
function emitEvent(e) {
  if (behind()) tail.push({ event: e });
  else post(e);
}

/** @param {Batch} b */
function postBatch(b) {
  outstanding += b.data.byteLength;
  post({ t: 'frames', id, ...b, outstanding, spilled: spill?.bytes ?? 0 }, [b.data, b.lengths.buffer, b.binary.buffer, b.times.buffer]);
}

/** Posts what waits on disk, then in the tail, while the main thread's backlog is short. */
function refill() {
  while (behind()) {
    // Draining too: the main thread takes as it goes, so the disk is not read into memory at once.
    if (readAhead > 0 && outstanding >= Math.min(readAhead, REFILL_BYTES)) break;
    if (spill !== undefined && !spill.empty) {
      const waiting = spill.bytes;
      /** @type {Batch | undefined} */
      let b;
      try {
        b = spill.next();
      } catch (err) {
        // The disk lost what it held: said, with its size, and the bridge goes on with what follows.
        post({ t: 'warn', id, code: 'SPOOL_WRITE_FAILED', message: `the reading thread could not read back ${waiting} bytes of frames from ${spill.dir} (${/** @type {Error} */ (err).message}): they are lost; the next gap record does not cover them` });
        spill.close();
        continue;
      }
      if (b !== undefined) postBatch(b);
      continue;
    }
    const item = /** @type {{ batch: Batch } | { event: ReaderEvent }} */ (tail.shift());
    if ('batch' in item) postBatch(item.batch);
    else post(item.event);
  }
  applyPause();
}

function applyPause() {
  if (spill !== undefined) {
    // Spilling: paused only while the disk cannot take more (what it refused waits in the tail).
    boundPaused = tail.some((item) => 'batch' in item);
  } else if (readAhead > 0 && outstanding > readAhead) boundPaused = true;
  // Resume below half the bound, so that the socket is not paused and resumed every batch.
  else if (outstanding <= readAhead / 2) boundPaused = false;
  if (ws === undefined) return;
  if (boundPaused) ws.pause();
  else ws.resume();
}

/** @param {Extract<ReaderCommand, { t: 'open' }>} cmd */
function open(cmd) {
  // What the previous connection left (its reader is gone) is not posted under the new id.
  tail = [];
  spill?.close();
  id = cmd.id;
  readAhead = cmd.readAheadBytes;
  batchLimit = cmd.batchBytes;
  draining = false;
  spillMax = cmd.spill?.maxBytes ?? 0;
  if (cmd.spill === undefined) {
    spill?.close();
    spill = undefined;
  } else if (spill?.dir !== cmd.spill.dir) {
    spill?.close();
    try {
      spill = new FrameSpill(cmd.spill.dir);
    } catch (err) {
      spill = undefined;
      post({ t: 'warn', id, code: 'SPOOL_WRITE_FAILED', message: `the reading thread cannot keep frames in ${cmd.spill.dir} (${/** @type {Error} */ (err).message}): beyond --read-ahead-bytes the socket is paused` });
    }
  }
  outstanding = 0;
  boundPaused = false;
  const socket = new WebSocket(cmd.url, cmd.options);
  ws = socket;
  const mine = cmd.id;
  socket.on('open', () => {
    if (id !== mine) return;
    post({ t: 'open', id: mine });
    applyPause();
  });
  socket.on('message', (/** @type {Buffer} */ data, /** @type {boolean} */ isBinary) => {
    if (id !== mine) return;
    frames.push(data);
    binary.push(isBinary);
    times.push(performance.timeOrigin + performance.now());
    batchBytes += data.length;
    if (batchBytes >= batchLimit) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  });
  socket.on('pong', () => {
    if (id === mine) post({ t: 'pong', id: mine });
  });
  socket.on('error', (/** @type {Error & { code?: string }} */ err) => {
    if (id !== mine) return;
    flush();
    emitEvent({ t: 'error', id: mine, message: err.message, ...(err.code !== undefined ? { code: err.code } : {}) });
  });
  socket.on('close', (/** @type {number} */ code, /** @type {Buffer} */ reason) => {
    if (id !== mine) return;
    flush();
    emitEvent({ t: 'close', id: mine, code, reason: reason.toString() });
    ws = undefined;
    refill();
  });
}

port.on('message', (/** @type {ReaderCommand} */ cmd) => {
  if (cmd.t === 'open') return open(cmd);
  if (cmd.id !== id) return;
  switch (cmd.t) {
    case 'taken':
      outstanding -= cmd.bytes;
      refill();
      return;
    case 'drain':
      draining = true;
      flush();
      refill();
      return;
    case 'forget':
      // What waits is not wanted (an HA member's takeover gap covers it): its files go now.
      tail = [];
      spill?.close();
      return;
    case 'send':
      if (ws?.readyState === WebSocket.OPEN) ws.send(cmd.data);
      return;
    case 'ping':
      if (ws?.readyState === WebSocket.OPEN) ws.ping();
      return;
    case 'close':
      ws?.close(cmd.code, cmd.reason);
      return;
    case 'terminate':
      ws?.terminate();
      return;
  }
});
