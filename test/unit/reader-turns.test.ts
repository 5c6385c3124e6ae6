// The main thread takes at most TURN_BYTES of frames from a reading thread per turn of the event
// loop, so that what else waits (Kafka's acknowledgements) is read in between, in order, with the
// connection's close after its last frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ReaderSocket, TURN_BYTES, type ReaderEvent } from '../../src/source/reader.ts';

function batch(id: number, tag: number, frames: number, frameBytes: number): Extract<ReaderEvent, { t: 'frames' }> {
  const data = new Uint8Array(frames * frameBytes);
  for (let i = 0; i < frames; i++) data[i * frameBytes] = tag;
  return { t: 'frames', id, data: data.buffer, lengths: new Uint32Array(frames).fill(frameBytes), binary: new Uint8Array(frames), times: new Float64Array(frames).fill(performance.timeOrigin), outstanding: 0, spilled: 0 };
}

test('batches beyond one turn wait for the next turns, in order, and the close comes after them', async () => {
  const taken: number[] = [];
  const socket = new ReaderSocket(1, false, (cmd) => {
    if (cmd.t === 'taken') taken.push(cmd.bytes);
  }, () => {});
  const seen: number[] = [];
  let closed = -1;
  socket.on('message', (data: Buffer) => seen.push(data[0]!));
  socket.on('close', () => (closed = seen.length));
  const perBatch = TURN_BYTES / 2;
  // Eight batches and the close arrive at once, as after a stall of the main thread.
  for (let b = 0; b < 8; b++) socket.handle(batch(1, b, 4, perBatch / 4));
  socket.handle({ t: 'close', id: 1, code: 1000, reason: '' });
  assert.equal(seen.length, 8, 'this turn: two batches (one budget), four frames each');
  assert.equal(closed, -1, 'the close waits behind the frames');
  let turns = 0;
  while (closed < 0 && turns < 20) {
    await nextTurn();
    turns++;
  }
  assert.equal(turns, 3, 'three more turns of two batches each');
  assert.deepEqual(seen, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7], 'in the order they came');
  assert.equal(closed, 32, 'closed after the last frame');
  assert.equal(taken.reduce((a, b) => a + b, 0), 8 * perBatch, 'every byte is reported taken');
});

test('a pause holds what waits across turns; resume goes on within the budget', async () => {
  const socket = new ReaderSocket(2, false, () => {}, () => {});
  const seen: number[] = [];
  socket.on('message', (data: Buffer) => seen.push(data[0]!));
  socket.pause();
  for (let b = 0; b < 4; b++) socket.handle(batch(2, b, 1, TURN_BYTES));
  await nextTurn();
  await nextTurn();
  assert.equal(seen.length, 0, 'paused: nothing is emitted');
  socket.resume();
  assert.deepEqual(seen, [0], 'one budget at once');
  await nextTurn();
  await nextTurn();
  await nextTurn();
  assert.deepEqual(seen, [0, 1, 2, 3]);
});
