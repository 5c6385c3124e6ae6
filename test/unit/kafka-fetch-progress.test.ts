// `kafka start`'s first download shows progress: Maven's transfer lines read into files and MB so
// far (MavenTransfers, on lines captured from Maven 3.8.7), and fetchKafka run against a fake mvn
// put first on PATH (no network, no real Maven): progress lines while it works, a final line, and
// Maven's last lines in KAFKA_FETCH_FAILED when it fails.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fetchKafka, MavenTransfers } from '../../src/kafka-local/artifacts.ts';

test('MavenTransfers: counts downloaded files and their size (kB, MB, B), jars copied; keeps the last lines', () => {
  const m = new MavenTransfers();
  const lines = [
    '\u001b[0m[INFO] Scanning for projects...',
    '[INFO] ',
    '[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/apache/commons/commons-text/1.12.0/commons-text-1.12.0.pom',
    '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/commons/commons-text/1.12.0/commons-text-1.12.0.pom (20 kB at 43 kB/s)',
    '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/junit/junit-bom/5.10.0/junit-bom-5.10.0.pom (5.6 kB at 628 kB/s)',
    '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/4.1.0/kafka_2.13-4.1.0.jar (6.6 MB at 2.1 MB/s)',
    '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/x/maven-metadata.xml (512 B at 3 kB/s)',
    '[INFO] Copying commons-text-1.12.0.jar to /tmp/x/libs/commons-text-1.12.0.jar',
    '[INFO] Copying kafka_2.13-4.1.0.jar to /tmp/x/libs/kafka_2.13-4.1.0.jar',
    '[INFO] BUILD SUCCESS',
    '\u001b[0m',
  ];
  for (const l of lines) m.add(l);
  assert.equal(m.files, 4);
  assert.equal(m.bytes, 20_000 + 5_600 + 6_600_000 + 512);
  assert.equal(m.copied, 2);
  assert.equal(m.progress(), '4 files, 6.6 MB so far');
  assert.equal(m.summary(), '2 jars copied; 4 files, 6.6 MB downloaded');
  assert.equal(m.tail.at(-1), '[INFO] BUILD SUCCESS', 'blank lines and colour codes left out');
  assert.equal(m.tail[0], '[INFO] Scanning for projects...');
  const cached = new MavenTransfers();
  assert.equal(cached.progress(), 'nothing downloaded yet');
  cached.add('[INFO] Copying kafka_2.13-4.1.0.jar to /tmp/x/libs/kafka_2.13-4.1.0.jar');
  assert.equal(cached.summary(), '1 jar copied; nothing downloaded (all in the local Maven repository)');
});

const FAKE_MVN = `#!/bin/sh
if [ "$1" = "-v" ]; then echo "Apache Maven 3.8.7 (fake)"; exit 0; fi
out=""
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="\${a#-DoutputDirectory=}";; esac; done
printf '\\033[0m[INFO] Scanning for projects...\\n'
if [ -n "$FAKE_MVN_FAIL" ]; then
  echo "[ERROR] Failed to execute goal on project kafka-runtime: Could not resolve dependencies"
  echo "[ERROR] -> [Help 1]"
  exit 1
fi
i=0
while [ $i -lt 8 ]; do
  echo "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/x/a$i.jar"
  echo "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/x/a$i.jar (1.5 MB at 3.0 MB/s)"
  sleep 0.1
  i=$((i+1))
done
mkdir -p "$out"
: > "$out/kafka_2.13-4.9.9.jar"
: > "$out/kafka-clients-4.9.9.jar"
echo "[INFO] Copying kafka_2.13-4.9.9.jar to $out/kafka_2.13-4.9.9.jar"
echo "[INFO] Copying kafka-clients-4.9.9.jar to $out/kafka-clients-4.9.9.jar"
echo "[INFO] BUILD SUCCESS"
`;

/** A fake mvn first on PATH and an empty ws2kafka home, both removed afterwards. */
async function fakeMaven(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ws2k-fake-mvn-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'mvn'), FAKE_MVN);
  await chmod(join(dir, 'mvn'), 0o755);
  const path = process.env['PATH'];
  process.env['PATH'] = `${dir}:${path ?? ''}`;
  t.after(() => {
    process.env['PATH'] = path;
    delete process.env['FAKE_MVN_FAIL'];
  });
  return join(dir, 'home');
}

test('fetchKafka: progress lines (files and MB so far, elapsed) while Maven works, then a final line', async (t) => {
  const home = await fakeMaven(t);
  const lines: string[] = [];
  const kafka = await fetchKafka(home, (l) => lines.push(l), { progressEveryMs: 100 });
  assert.equal(kafka.version, '4.9.9');
  assert.deepEqual((await readdir(kafka.libDir)).sort(), ['kafka-clients-4.9.9.jar', 'kafka_2.13-4.9.9.jar']);
  assert.match(lines[0] ?? '', /^resolving Apache Kafka \[4\.0\.0,5\.0\.0\) from Maven Central\.\.\.$/);
  const progress = lines.filter((l) => l.startsWith('resolving Apache Kafka from Maven Central: '));
  assert.ok(progress.length >= 1, `progress while Maven worked: ${lines.join('\n')}`);
  for (const l of progress) assert.match(l, /^resolving Apache Kafka from Maven Central: (nothing downloaded yet|\d+ files?, \d+\.\d MB so far) \(\d+ s\)$/);
  const files = progress.map((l) => Number(/: (\d+) file/.exec(l)?.[1] ?? 0));
  assert.deepEqual(files, [...files].sort((a, b) => a - b), 'counts only grow');
  assert.ok(progress.length <= 20, 'throttled: not a line per Maven line');
  const done = lines.find((l) => l.startsWith('Maven done '));
  assert.match(done ?? '', /^Maven done in \d+ s: 2 jars copied; 8 files, 12\.0 MB downloaded$/);
  assert.match(lines.at(-1) ?? '', /^Apache Kafka 4\.9\.9: 2 jars in /);
});

test('fetchKafka: Maven failing is KAFKA_FETCH_FAILED with its last lines; no progress after it', async (t) => {
  const home = await fakeMaven(t);
  process.env['FAKE_MVN_FAIL'] = '1';
  const lines: string[] = [];
  await assert.rejects(fetchKafka(home, (l) => lines.push(l), { progressEveryMs: 50 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'KAFKA_FETCH_FAILED');
    assert.match(err.message, /Could not resolve dependencies\n\[ERROR\] -> \[Help 1\]$/);
    return true;
  });
  const after = lines.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(lines.length, after, 'the progress timer stopped');
});
