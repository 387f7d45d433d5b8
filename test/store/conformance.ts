/**
 * The store conformance suite: what every `StateStore` (memory, LevelDB, IndexedDB) must do, written
 * once. It does not depend on the test runner — `storeConformance(harness, test)` hands each case to
 * `test(name, run, skip?)` — so the same cases run under vitest in Node and, bundled, in a Chromium
 * page that reports each case back to a Node test (test/store/idb-conformance.*).
 */
import { toHex } from '../../src/core/bytes.ts'
import { generateDevnet } from '../../src/core/chain/devnet.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { MemoryNodeStore, type StateStore, type WriteBatch } from '../../src/core/store.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { StateIntegrityError } from '../../src/core/trie/reachable.ts'

export interface StoreHarness {
  /** A fresh, empty store, ready. */
  open(): Promise<StateStore>
  /** Closes `store` and opens the same data again (a restart), ready. Absent: reopen cases skip. */
  reopen?: (store: StateStore) => Promise<StateStore>
  /**
   * Writes `crashBatches()` 1 in a process that is then killed before (`'before'`) or while
   * (`'during'`) it writes batch 2; returns the store reopened on what survived.
   */
  crash?: (when: CrashWhen) => Promise<StateStore>
  /** Why reopen and crash cases are skipped where they are. */
  skipReopen?: string
  skipCrash?: string
}

/**
 * `open(where)` and `reopen(store)` for stores that live at a name or path (LevelDB, IndexedDB): each
 * store opened is remembered with where it lives, and is ready when returned.
 */
export function storesAt(openAt: (where: string) => Promise<StateStore>) {
  const where = new Map<StateStore, string>()
  const open = async (w: string) => {
    const s = await openAt(w)
    await s.ready()
    where.set(s, w)
    return s
  }
  const reopen = async (s: StateStore) => {
    await s.close()
    return open(where.get(s)!)
  }
  return { open, reopen }
}

export type CrashWhen = 'before' | 'during'
export type Register = (name: string, run: () => Promise<void>, skip?: string) => void

export class ConformanceFailure extends Error {}

function check(ok: unknown, what: string): asserts ok {
  if (!ok) throw new ConformanceFailure(what)
}

function same(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new ConformanceFailure(`${what}: expected ${e}, got ${a}`)
}

const bytes = (s: string) => new TextEncoder().encode(s)
/** A content-addressed entry: deterministic bytes of `len` and their hash. */
function blob(seed: string, len = 80): readonly [Uint8Array, Uint8Array] {
  const v = new Uint8Array(len)
  for (let o = 0; o < len; o += 32)
    v.set(keccak256(bytes(`${seed}/${o}`)).subarray(0, Math.min(32, len - o)), o)
  return [keccak256(v), v] as const
}
const blobs = (seed: string, n: number, len = 80) =>
  Array.from({ length: n }, (_, i) => blob(`${seed}/${i}`, len))

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}
const hexes = (hs: Uint8Array[]) => hs.map(toHex).sort()

async function expectRejects(p: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await p
  } catch (e) {
    return e
  }
  throw new ConformanceFailure(`${what}: expected a rejection`)
}

/**
 * Two states of a small chain with contracts (storage tries and code): A, and B where some balances
 * and storage slots changed. `all` holds every entry of both; `liveB` what B reaches.
 */
export async function twoStates() {
  const { genesis } = generateDevnet({ seed: 'conformance', accounts: 60, contracts: 6, slots: 12 })
  const src = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const rootA = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await src.write({ nodes })
  const state = new StateDB(src, rootA)
  for (const [address, a] of genesis.alloc.slice(0, 20))
    await state.putAccount(address, { ...(await state.getAccount(address))!, balance: a.balance + 1n })
  const contracts = genesis.alloc.filter(([, a]) => a.storage.length)
  for (const [address, a] of contracts.slice(0, 3)) await state.setStorage(address, a.storage[0]![0], 7n)
  const rootB = await state.flush()
  const all = [...src.nodes.entries()].map(([, v]) => [keccak256(v), v] as const)
  const liveB = new Set<string>()
  await verifyStoredState(src, rootB, { onNode: (h) => liveB.add(toHex(h)) })
  const liveA = new Set<string>()
  await verifyStoredState(src, rootA, { onNode: (h) => liveA.add(toHex(h)) })
  return { rootA, rootB, all, liveA, liveB }
}

/** The batches of the crash cases: batch 1, then a larger batch 2 that changes what batch 1 wrote. */
export function crashBatches(): { first: WriteBatch; second: WriteBatch } {
  const n1 = blobs('crash/1', 200)
  const s1 = blobs('crash/staged', 10)
  const n2 = blobs('crash/2', 4000, 200)
  return {
    first: { nodes: n1, stage: s1, meta: [['crash/1', bytes('one')]] },
    second: {
      nodes: n2,
      meta: [['crash/2', bytes('two')]],
      unstage: s1.slice(0, 5).map(([h]) => h),
      deleteNodes: n1.slice(0, 5).map(([h]) => h),
    },
  }
}

/** After a crash: batch 1 whole, batch 2 all or nothing (nothing if killed before it started). */
export async function checkAfterCrash(store: StateStore, when: CrashWhen): Promise<'all' | 'none'> {
  const { first, second } = crashBatches()
  const n1 = [...first.nodes!]
  const n2 = [...second.nodes!]
  same(toHex((await store.getMeta('crash/1')) ?? new Uint8Array()), toHex(bytes('one')), 'batch 1 meta')
  const applied = (await store.getMeta('crash/2')) !== undefined
  check(when === 'during' || !applied, 'killed before batch 2 started, yet batch 2 is visible')
  const has2 = await store.hasNodes(n2.map(([h]) => h))
  same(
    has2.filter(Boolean).length,
    applied ? n2.length : 0,
    `batch 2 nodes (meta ${applied ? 'present' : 'absent'})`,
  )
  const has1 = await store.hasNodes(n1.map(([h]) => h))
  same(
    has1,
    n1.map((_, i) => !(applied && i < 5)),
    'batch 1 nodes (5 deleted by batch 2)',
  )
  const staged = hexes(await collect(store.stagedHashes()))
  same(staged, hexes([...first.stage!].slice(applied ? 5 : 0).map(([h]) => h)), 'staged nodes')
  return applied ? 'all' : 'none'
}

export const crashCaseName = (when: CrashWhen) =>
  `crash ${when} writing batch 2, reopen: batch 1 complete, batch 2 ${when === 'before' ? 'absent' : 'all or nothing'}`

/** Registers every case against `h`. */
export function storeConformance(h: StoreHarness, test: Register): void {
  test('an atomic batch: nodes, meta, stage, unstage and deleteNodes all visible after', async () => {
    const s = await h.open()
    const [a, b, c] = blobs('atomic', 3)
    const [st1, st2] = blobs('atomic/staged', 2)
    await s.write({ nodes: [a!, b!], stage: [st1!] })
    await s.write({
      nodes: [c!],
      meta: [['k/1', bytes('v1')]],
      stage: [st2!],
      unstage: [st1![0]],
      deleteNodes: [a![0]],
    })
    same(await s.hasNodes([a![0], b![0], c![0]]), [false, true, true], 'nodes after the batch')
    same(toHex((await s.getMeta('k/1'))!), toHex(bytes('v1')), 'meta after the batch')
    same(hexes(await collect(s.stagedHashes())), hexes([st2![0]]), 'staged after the batch')
    same((await s.getStaged(st1![0])) ?? null, null, 'unstaged node')
    await s.close()
  })

  test('a batch whose iterable throws mid-way leaves nothing of itself visible', async () => {
    const s = await h.open()
    const entries = blobs('throws', 4)
    function* nodes() {
      yield entries[0]!
      yield entries[1]!
      throw new Error('the batch source failed')
    }
    const [st] = blobs('throws/staged', 1)
    await expectRejects(
      s.write({ meta: [['t/1', bytes('x')]], stage: [st!], nodes: nodes() }),
      'throwing batch',
    )
    same(await s.hasNodes(entries.slice(0, 2).map(([h]) => h)), [false, false], 'nodes of the failed batch')
    same((await s.getMeta('t/1')) ?? null, null, 'meta of the failed batch')
    same((await collect(s.stagedHashes())).length, 0, 'staged of the failed batch')
    same(s.stats().nodes, 0, 'stats().nodes after the failed batch')
    await s.close()
  })

  test('a batch with invalid input (a 31-byte hash) is refused whole', async () => {
    const s = await h.open()
    const [good] = blobs('invalid', 1)
    const bad = [good![0].slice(1), good![1]] as const
    await expectRejects(s.write({ nodes: [good!, bad], meta: [['i/1', bytes('x')]] }), 'invalid batch')
    same(await s.hasNode(good![0]), false, 'the valid node of the refused batch')
    same((await s.getMeta('i/1')) ?? null, null, 'meta of the refused batch')
    await s.close()
  })

  test('staging: stage, getStaged, stagedHashes, unstage; a staged node is not a node until written', async () => {
    const s = await h.open()
    const st = blobs('staging', 3)
    await s.write({ stage: st })
    for (const [hash, v] of st) same(toHex((await s.getStaged(hash))!), toHex(v), 'getStaged')
    same(hexes(await collect(s.stagedHashes())), hexes(st.map(([x]) => x)), 'stagedHashes')
    same(await s.hasNode(st[0]![0]), false, 'hasNode of a staged node')
    same(s.stats().staged, 3, 'stats().staged')
    // Completed: written as a node and unstaged in one batch.
    await s.write({ nodes: [st[0]!], unstage: [st[0]![0], st[1]![0]] })
    same(await s.hasNode(st[0]![0]), true, 'a staged node written as a node')
    same(toHex((await s.getNode(st[0]![0]))!), toHex(st[0]![1]), 'its bytes')
    same(hexes(await collect(s.stagedHashes())), hexes([st[2]![0]]), 'stagedHashes after unstaging')
    same(s.stats().staged, 1, 'stats().staged after unstaging')
    await s.close()
  })

  test('presence: hasNode/hasNodes on present and absent hashes; a same-8-byte-prefix twin reads absent', async () => {
    const s = await h.open()
    const present = blobs('presence', 5)
    await s.write({ nodes: present })
    const absent = blob('presence/absent')[0]
    const twin = present[0]![0].slice()
    twin[31]! ^= 1
    same(await s.hasNode(present[2]![0]), true, 'hasNode present')
    same(await s.hasNode(absent), false, 'hasNode absent')
    same(
      await s.hasNodes([present[0]![0], absent, twin, present[4]![0]]),
      [true, false, false, true],
      'hasNodes',
    )
    same((await s.getNode(twin)) ?? null, null, 'getNode of the prefix twin')
    same((await s.getNode(absent)) ?? null, null, 'getNode absent')
    await s.close()
  })

  test('metadata: get, keys by prefix, delete with null', async () => {
    const s = await h.open()
    await s.write({
      meta: [
        ['m/a', bytes('1')],
        ['m/b', bytes('2')],
        ['n/a', bytes('3')],
      ],
    })
    same(toHex((await s.getMeta('m/b'))!), toHex(bytes('2')), 'getMeta')
    same((await collect(s.metaKeys('m/'))).sort(), ['m/a', 'm/b'], 'metaKeys(m/)')
    await s.write({ meta: [['m/a', null]] })
    same((await s.getMeta('m/a')) ?? null, null, 'deleted key')
    same(await collect(s.metaKeys('m/')), ['m/b'], 'metaKeys after delete')
    await s.close()
  })

  test('stats: nodes, bytes and staged follow writes and deletes', async () => {
    const s = await h.open()
    same(s.stats(), { nodes: 0, bytes: 0, staged: 0 }, 'an empty store')
    const n = blobs('stats', 4, 100)
    await s.write({ nodes: n, stage: blobs('stats/staged', 2) })
    const st = s.stats()
    same([st.nodes, st.staged], [4, 2], 'nodes and staged after a write')
    check(st.bytes >= 400, `bytes after a write cover the values (${st.bytes})`)
    await s.write({ deleteNodes: [n[0]![0]] })
    same(s.stats().nodes, 3, 'nodes after a delete')
    await s.close()
  })

  test('compaction keeps what the live roots reach (account trie, storage tries, code) and drops the rest', async () => {
    const s = await h.open()
    const t = await twoStates()
    await s.write({ nodes: t.all })
    const before = s.stats()
    const r = await s.compact([t.rootB])
    same(r.kept, t.liveB.size, 'kept')
    same(r.dropped, t.all.length - t.liveB.size, 'dropped')
    const seen = new Set<string>()
    const report = await verifyStoredState(s, t.rootB, { onNode: (x) => seen.add(toHex(x)) })
    same(seen.size, t.liveB.size, 'B verifies whole')
    check(report.code > 0 && report.accounts > 0, 'B has accounts and code')
    same(await s.hasNode(t.rootA), false, "A's root is dropped")
    same(s.stats().nodes, t.liveB.size, 'stats().nodes after compaction')
    check(s.stats().bytes < before.bytes, 'stats().bytes shrank')
    // Both states live: nothing more to drop.
    await s.write({ nodes: t.all })
    const both = await s.compact([t.rootA, t.rootB])
    same(both.dropped, 0, 'dropped with A and B live')
    await verifyStoredState(s, t.rootA)
    await s.close()
  })

  test('compaction of a damaged live state throws StateIntegrityError and deletes nothing', async () => {
    const s = await h.open()
    const t = await twoStates()
    // One node of A's tries missing (a deep one: not the root), B's nodes as garbage.
    const victim = t.all.find(([hash]) => t.liveA.has(toHex(hash)) && !t.liveB.has(toHex(hash)))!
    const written = t.all.filter((e) => e !== victim)
    await s.write({ nodes: written })
    const e = await expectRejects(s.compact([t.rootA]), 'compact of a damaged state')
    check(e instanceof StateIntegrityError, `a StateIntegrityError, not ${String(e)}`)
    same(e.code, 'STATE_MISSING', 'its code')
    same(e.hash, toHex(victim[0]), 'the hash it names')
    same(s.stats().nodes, written.length, 'stats().nodes')
    const has = await s.hasNodes(written.map(([hash]) => hash))
    same(has.filter((x) => !x).length, 0, 'entries deleted')
    await s.close()
  })

  test(
    'reopen: nodes, metadata, staged nodes and stats survive',
    async () => {
      let s = await h.open()
      const n = blobs('reopen', 50)
      const st = blobs('reopen/staged', 3)
      await s.write({ nodes: n, stage: st, meta: [['r/1', bytes('x')]] })
      const stats = s.stats()
      s = await h.reopen!(s)
      same(s.stats(), stats, 'stats after reopen')
      same((await s.hasNodes(n.map(([x]) => x))).every(Boolean), true, 'nodes after reopen')
      same(toHex((await s.getMeta('r/1'))!), toHex(bytes('x')), 'meta after reopen')
      same(hexes(await collect(s.stagedHashes())), hexes(st.map(([x]) => x)), 'staged after reopen')
      await s.close()
    },
    h.reopen ? undefined : h.skipReopen,
  )

  for (const when of ['before', 'during'] as const)
    test(
      crashCaseName(when),
      async () => {
        const s = await h.crash!(when)
        await checkAfterCrash(s, when)
        await s.close()
      },
      h.crash ? undefined : h.skipCrash,
    )
}
