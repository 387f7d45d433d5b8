/**
 * The store conformance suite on the LevelDB store (real classic-level on disk). The crash cases are
 * real: a child process writes and is SIGKILLed, and the store is reopened on what it left.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { STAGED_META_PREFIX } from '../../src/core/store.ts'
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

describe('LevelDB staged nodes', () => {
  it('reads, lists and unstages nodes a store staged in the older metadata form', async () => {
    const path = freshPath()
    const old = await LevelNodeStore.open(path)
    const bytes = Uint8Array.of(0xc2, 0x01, 0x02)
    const legacy = keccak256(bytes)
    // What a store written before staged keys became binary holds for a staged node.
    await old.write({ meta: [[STAGED_META_PREFIX + toHex(legacy), bytes]] })
    await old.close()

    const s = await LevelNodeStore.open(path)
    const fresh = keccak256(Uint8Array.of(0xc1, 0x03))
    await s.write({ stage: [[fresh, Uint8Array.of(0xc1, 0x03)]] })
    await s.ready()
    expect(s.stats().staged).toBe(2)
    const listed = []
    for await (const h of s.stagedHashes()) listed.push(toHex(h))
    expect(listed.sort()).toEqual([toHex(legacy), toHex(fresh)].sort())
    expect(toHex((await s.getStaged(legacy))!)).toBe(toHex(bytes))
    expect(await s.hasNode(legacy)).toBe(false)

    await s.write({ nodes: [[legacy, bytes]], unstage: [legacy, fresh] })
    expect(await s.getStaged(legacy)).toBeUndefined()
    expect(await s.getStaged(fresh)).toBeUndefined()
    expect(toHex((await s.getNode(legacy))!)).toBe(toHex(bytes))
    await s.close()
    const again = await LevelNodeStore.open(path)
    const left = []
    for await (const h of again.stagedHashes()) left.push(h)
    expect(left).toEqual([])
    await again.close()
  })
})
