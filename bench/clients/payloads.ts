// Writes the workload's trade events, one per line, for kafka-producer-perf-test --payload-file.
import { writeFileSync } from 'node:fs';
import { makeWorkload } from './workload.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: node payloads.ts FILE');
writeFileSync(file, makeWorkload().values.map((v) => v.toString()).join('\n') + '\n');
