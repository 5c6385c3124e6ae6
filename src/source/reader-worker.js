// @ts-check
// The reading thread of a feed connection (reader.ts runs it): a `ws` client whose frames are
// copied, a loop turn's worth at a time, into one transferable buffer and posted to the main
// thread with each frame's receive time. Reading here never waits for what the main thread does
// with the frames (splitting, keeping, producing), so a burst is read at the socket's rate; the
// main thread is told of every frame in order and says how many bytes it has taken, and the
// socket is paused while more than `readAheadBytes` are posted and not yet taken.
//
// Plain JavaScript (types in JSDoc, checked): a .ts entry would make the thread load Node's
// TypeScript stripper for itself, 20 MB more memory per feed (measured: an idle thread with `ws`
// is 26 MB of RSS from a .js entry, 46 MB from a .ts one).
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import WebSocket from 'ws';

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
/** @type {Buffer[]} */
let frames = [];
/** @type {boolean[]} */
let binary = [];
/** @type {number[]} */
let times = [];
let batchBytes = 0;
let flushScheduled = false;

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
    const f = frames[i];
    bytes.set(f, at);
    lengths[i] = f.length;
    at += f.length;
  }
  const flags = Uint8Array.from(binary, (b) => (b ? 1 : 0));
  const stamps = Float64Array.from(times);
  outstanding += batchBytes;
  post({ t: 'frames', id, data, lengths, binary: flags, times: stamps, outstanding }, [data, lengths.buffer, flags.buffer, stamps.buffer]);
  frames = [];
  binary = [];
  times = [];
  batchBytes = 0;
  applyPause();
}

function applyPause() {
  // Resume below half the bound, so that the socket is not paused and resumed every batch.
  if (readAhead > 0 && outstanding > readAhead) boundPaused = true;
  else if (outstanding <= readAhead / 2) boundPaused = false;
  if (ws === undefined) return;
  if (boundPaused) ws.pause();
  else ws.resume();
}

/** @param {Extract<ReaderCommand, { t: 'open' }>} cmd */
function open(cmd) {
  id = cmd.id;
  readAhead = cmd.readAheadBytes;
  batchLimit = cmd.batchBytes;
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
    post({ t: 'error', id: mine, message: err.message, ...(err.code !== undefined ? { code: err.code } : {}) });
  });
  socket.on('close', (/** @type {number} */ code, /** @type {Buffer} */ reason) => {
    if (id !== mine) return;
    flush();
    post({ t: 'close', id: mine, code, reason: reason.toString() });
    ws = undefined;
  });
}

port.on('message', (/** @type {ReaderCommand} */ cmd) => {
  if (cmd.t === 'open') return open(cmd);
  if (cmd.id !== id) return;
  switch (cmd.t) {
    case 'taken':
      outstanding -= cmd.bytes;
      applyPause();
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
