// A fresh tmpfs for one test (a disk that can fill up or be remounted read-only). Needs Linux and
// root (mount); otherwise the test is skipped with the reason.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface TmpfsOptions {
  /** The size of the tmpfs. */
  bytes: number;
  /** The start of the mount point's name, under the system's temporary directory. */
  prefix: string;
  /** Run after the test, before the unmount (close files, stop processes using the mount). */
  beforeUnmount?: () => void | Promise<void>;
}

/**
 * Mounts a fresh tmpfs of `bytes`, unmounted and removed after the test (after `beforeUnmount`,
 * in the same hook so that the order holds); undefined, the test skipped with the reason, if it
 * cannot be mounted.
 */
export function mountTmpfs(t: TestContext, { bytes, prefix, beforeUnmount }: TmpfsOptions): string | undefined {
  if (process.platform !== 'linux') {
    t.skip(`needs Linux to mount a tmpfs (this is ${process.platform})`);
    return undefined;
  }
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a tmpfs (run the tests as root to exercise a full disk)');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    t.skip(`cannot mount a tmpfs: ${stderr || (e as Error).message}`);
    return undefined;
  }
  t.after(async () => {
    try {
      await beforeUnmount?.();
    } finally {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return dir;
}
