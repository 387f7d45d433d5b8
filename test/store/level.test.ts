/**
 * The store conformance suite on the LevelDB store (real classic-level on disk). The crash cases are
 * real: a child process writes and is SIGKILLed, and the store is reopened on what it left.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { ROOT } from '../helpers/cli.ts'
import { type CrashWhen, storeConformance, storesAt } from './conformance.ts'

const dirs: string[] = []
const level = storesAt((path) => LevelNodeStore.open(path))

const freshPath = () => {
  const d = mkdtempSync(join(tmpdir(), 'rootsync-level-conf-'))
  dirs.push(d)
  return join(d, 'db')
}

/** Runs level-crash-child.ts on `path`, SIGKILLs it once it reports, and waits for it to die. */
function crashChild(path: string, when: CrashWhen): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'test/store/level-crash-child.ts'), path, when],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    child.stdout.on('data', (d: Buffer) => {
      if (/^(writing|idle)$/m.test(d.toString())) child.kill('SIGKILL')
    })
    child.on('error', reject)
    child.on('close', (_code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`the writer exited without being killed: ${err}`)),
    )
  })
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('store conformance: LevelDB', () => {
  storeConformance(
    {
      open: () => level.open(freshPath()),
      reopen: level.reopen,
      crash: async (when) => {
        const path = freshPath()
        await crashChild(path, when)
        return level.open(path)
      },
    },
    (name, run, skip) => (skip ? it.skip(`${name} (skipped: ${skip})`, run) : it(name, run)),
  )
})
