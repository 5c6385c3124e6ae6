// The one table of limits on what the feed may send: each is an option of `run` (the flag below),
// has a documented default (docs/configuration.md) and its own error code (docs/errors.md) for
// what is refused. The splitter, the source and the bridge read their limits from here.
import { DEFAULT_MAX_DEPTH } from '../split/split.ts';

export const LIMITS = {
  maxFrameBytes: {
    flag: 'max-frame-bytes',
    env: 'MAX_FRAME_BYTES',
    default: 16 * 1024 * 1024,
    min: 1024,
    max: 256 * 1024 * 1024,
    code: 'FRAME_TOO_LARGE',
    help: 'largest WebSocket frame read; a larger one makes the WebSocket library close the connection (1009): reconnect and a gap record',
  },
  maxEventsPerFrame: {
    flag: 'max-events-per-frame',
    env: 'MAX_EVENTS_PER_FRAME',
    default: 100_000,
    min: 1,
    max: 10_000_000,
    code: 'TOO_MANY_EVENTS',
    help: 'most events in one frame; a frame with more goes whole to the dead-letter topic',
  },
  maxDepth: {
    flag: 'max-depth',
    env: 'MAX_DEPTH',
    default: DEFAULT_MAX_DEPTH,
    min: 2,
    max: 10_000,
    code: 'TOO_DEEP',
    help: "deepest nesting of arrays and objects in a frame (the frame's array is 1, an event 2); a deeper frame goes whole to the dead-letter topic",
  },
  maxKeyBytes: {
    flag: 'max-key-bytes',
    env: 'MAX_KEY_BYTES',
    default: 1024,
    min: 1,
    max: 1024 * 1024,
    code: 'KEY_TOO_LONG',
    help: 'longest key (sym, pair or T) of an event; an event with a longer key goes alone to the dead-letter topic',
  },
} as const;

export type LimitName = keyof typeof LIMITS;

/**
 * max.message.bytes of a dead-letter topic the bridge creates: room for the largest frame it
 * accepts, plus the record batch, the record's headers and key.
 */
export function deadLetterMaxMessageBytes(maxFrameBytes: number): number {
  return maxFrameBytes + 64 * 1024;
}
