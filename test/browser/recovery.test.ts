/**
 * State recovery in real Chromium, through the app's Recovery panel: after a sync, the IndexedDB
 * store is damaged on disk (a node's bytes flipped, a pack record lost, an index record lost); "Verify
 * and repair" finds the damage, the recovery's attempts are shown in order (the local snapshot cannot
 * restore a damaged state; peer state sync does, downloading only the damaged paths), lookups answer
 * from the local state again, and a second "Verify and repair" finds the state clean. The driver also
 * recovers by itself: on the repair flag left on disk, after a read met damage, and when the sampled
 * start-up check finds damage — and the panel says why.
 *
 * The user-driven cases open the app with `samplePaths=0` (no sampled start-up check), so that the
 * damage is still there when the button is clicked: with the default, the start-up check may find it
 * first and repair it itself (that path has its own test below, with damage it always finds).
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { repairRecord } from '../../src/core/light/trust.ts'
import { DEFAULT_STRATEGIES } from '../../src/core/recovery/types.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { CAUSE_LABELS, ether } from '../../src/ui/format.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'
import { corruptStoredNode, loseRecordsOf, writeMeta } from '../helpers/idb-tamper.ts'

let app: AppFixture
/** The genesis state's nodes, in memory (what the app syncs). */
const mem = new MemoryNodeStore()
/** Accounts grouped by the depth-1 node of their proof path (distinct victims for each case). */
let groups: { node: Uint8Array; accounts: { address: string; balance: bigint }[] }[]

beforeAll(async () => {
  app = await startAppFixture({ accounts: 300, contracts: 2, slots: 2 })
  const root = genesisStateRoot(app.files.genesis, (h, b) => void mem.nodes.set(toHex(h), b))
  const byNode = new Map<string, (typeof groups)[number]>()
  for (const [address, acc] of app.files.genesis.alloc) {
    const node = (await accountProof(mem, root, address, [])).accountProof[1]!
    const key = toHex(keccak256(node))
    const g = byNode.get(key) ?? { node, accounts: [] }
    g.accounts.push({ address: toHex(address), balance: acc.balance })
    byNode.set(key, g)
  }
  groups = [...byNode.values()]
  expect(groups.length).toBeGreaterThan(5)
}, 120_000)

afterAll(() => app?.stop())

async function open(page: Page, query = '?samplePaths=0') {
  await page.goto(`${app.url}${query}`)
  await synced(page)
}

async function synced(page: Page) {
  await expect
    .poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 })
    .toBe(app.genesisRoot)
}

/** A page in a profile of its own: each case damages its own IndexedDB. */
async function freshPage(): Promise<Page> {
  const ctx = await app.freshBrowser()
  const page = await ctx.newPage()
  page.on('close', () => void ctx.close().catch(() => {}))
  return page
}

async function lookUp(page: Page, a: { address: string; balance: bigint }, source: 'local' | 'proof') {
  await page.getByLabel('Address', { exact: true }).fill(a.address)
  await page.getByRole('button', { name: 'Look up' }).click()
  await expect
    .poll(() => page.getByTestId('source').textContent(), { timeout: 30_000 })
    .toBe(source === 'local' ? 'local state' : 'proof')
  expect(await page.getByTestId('balance').textContent()).toBe(ether(a.balance.toString()))
}

/** Records whether the "repairing" message was ever on the page (the phase may be brief). */
async function watchRepairing(page: Page) {
  await page.evaluate(() => {
    const w = window as unknown as { repairingSeen: string | null }
    w.repairingSeen = null
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid="repairing"]')
      if (el) w.repairingSeen = el.textContent
    }).observe(document.body, { subtree: true, childList: true, characterData: true })
  })
}
const repairingSeen = (page: Page) =>
  page.evaluate(() => (window as unknown as { repairingSeen: string | null }).repairingSeen)

/** Clicks "Verify and repair" and waits for its outcome. */
async function verifyAndRepair(page: Page) {
  const button = page.getByRole('button', { name: 'Verify and repair' })
  await expect.poll(() => button.isEnabled(), { timeout: 30_000 }).toBe(true)
  await button.click()
  const result = page.getByTestId('verify-result')
  await expect
    .poll(async () => (await result.count()) + (await page.getByTestId('verify-error').count()), {
      timeout: 120_000,
    })
    .toBe(1)
  if (await page.getByTestId('verify-error').count())
    throw new Error(`verify and repair failed: ${await page.getByTestId('verify-error').textContent()}`)
  expect(await button.isEnabled()).toBe(true)
  return {
    damage: Number(await result.getAttribute('data-damage')),
    repaired: (await result.getAttribute('data-repaired')) === 'yes',
  }
}

interface Row {
  strategy: string
  outcome: string
  reason: string
  nodes: number
}

async function lastAttempts(page: Page): Promise<Row[]> {
  return page
    .getByTestId('last-attempts')
    .locator('[data-testid="recovery-attempt"]')
    .evaluateAll((rows) =>
      rows.map((r) => ({
        strategy: r.getAttribute('data-strategy') ?? '',
        outcome: r.getAttribute('data-outcome') ?? '',
        reason: r.getAttribute('data-reason') ?? '',
        nodes: Number(r.getAttribute('data-nodes')),
      })),
    )
}

/**
 * The last recovery as the panel shows it: attempts in the configured order, every one before the
 * last failed or not applicable with a typed reason, the last one recovered — and named as the
 * strategy that restored the state.
 */
async function expectRecovered(page: Page, why: keyof typeof CAUSE_LABELS): Promise<Row[]> {
  await expect
    .poll(() => page.getByTestId('recovery-why').getAttribute('data-why'), { timeout: 120_000 })
    .toBe(why)
  expect(await page.getByTestId('recovery-why').textContent()).toBe(CAUSE_LABELS[why])
  const rows = await lastAttempts(page)
  expect(rows.length).toBeGreaterThan(0)
  const order = rows.map((r) => DEFAULT_STRATEGIES.indexOf(r.strategy as never))
  expect(order.every((o, i) => o >= 0 && (i === 0 || o > order[i - 1]!))).toBe(true)
  for (const r of rows.slice(0, -1)) {
    expect(['failed', 'not-applicable']).toContain(r.outcome)
    expect(r.reason).not.toBe('')
  }
  const last = rows.at(-1)!
  expect(last).toMatchObject({ outcome: 'recovered', reason: '' })
  expect(await page.getByTestId('recovery-strategy').getAttribute('data-strategy')).toBe(last.strategy)
  return rows
}

/**
 * A damaged state restored through the button: the check lists the damage (with `victim`, a node at
 * depth 1, among it
 * when given: a lost record may take an ancestor with it, and the walk stops at the first damaged
 * entry of a path),
 * the local snapshot (the state just damaged) does not restore it, peer state sync does, downloading
 * only the damaged paths; lookups are local again; a second check finds the state clean.
 */
async function repairThroughPanel(
  page: Page,
  victim: Uint8Array | null,
  reader: { address: string; balance: bigint },
) {
  await watchRepairing(page)
  const r = await verifyAndRepair(page)
  expect(r.damage).toBeGreaterThan(0)
  expect(r.repaired).toBe(true)
  const check = page.getByTestId('state-check')
  expect(await check.getAttribute('data-mode')).toBe('full')
  expect(Number(await check.getAttribute('data-damage'))).toBe(r.damage)
  if (victim)
    expect(
      await page.locator(`[data-testid="damage"][data-hash="${toHex(keccak256(victim))}"]`).count(),
    ).toBe(1)

  const rows = await expectRecovered(page, 'user')
  expect(rows[0]).toMatchObject({ strategy: 'local' })
  expect(rows[0]!.outcome).not.toBe('recovered')
  const peer = rows.find((x) => x.strategy === 'peer')!
  expect(peer.outcome).toBe('recovered')
  expect(peer.nodes).toBeGreaterThan(0)
  if (victim)
    // Only the damaged path came again: the node (at depth 1) and the root that vouched for it.
    expect(peer.nodes).toBeLessThanOrEqual(2)
  // A lost record takes a share of the state that depends on how the sync batched its writes (up
  // to most of it): what is downloaded again is bounded by the state, never more.
  else expect(peer.nodes).toBeLessThanOrEqual(mem.nodes.size)
  expect(await repairingSeen(page)).toContain('lookups keep working, answered by proof from peers')

  await lookUp(page, reader, 'local')
  // Verified clean now: no damage, nothing to repair.
  expect(await verifyAndRepair(page)).toEqual({ damage: 0, repaired: false })
  expect(await page.getByTestId('state-check').getAttribute('data-damage')).toBe('0')
}

describe('state recovery in Chromium (Recovery panel)', () => {
  it('a sound state: "Verify and repair" checks every node and finds nothing to repair', async () => {
    const page = await freshPage()
    await open(page)
    expect(await page.getByTestId('no-recovery').count()).toBe(1)
    expect(await verifyAndRepair(page)).toEqual({ damage: 0, repaired: false })
    expect(Number(await page.getByTestId('state-check').getAttribute('data-nodes'))).toBeGreaterThan(0)
    expect(await page.getByTestId('no-recovery').count()).toBe(1)
    await page.close()
  }, 180_000)

  const damaged: [string, (page: Page, node: Uint8Array) => Promise<number>, boolean][] = [
    ['bytes flipped in a stored node', corruptStoredNode, true],
    ['a pack record lost', (page, node) => loseRecordsOf(page, node, 'packs'), false],
    ['an index record lost', (page, node) => loseRecordsOf(page, node, 'index'), false],
  ]
  damaged.forEach(([what, damage, victimListed], i) => {
    it(`${what}: found, restored by peer state sync after the local snapshot does not`, async () => {
      const g = groups[i]!
      const page = await freshPage()
      await open(page)
      expect(await damage(page, g.node)).toBeGreaterThan(0)
      // A new worker reads the packs from disk (the running one may hold them in memory).
      await page.reload()
      await synced(page)
      await repairThroughPanel(page, victimListed ? g.node : null, g.accounts[0]!)
      await page.close()
    }, 240_000)
  })

  it('a read that meets damage flags the state; the driver recovers it by itself (why: read-damage)', async () => {
    const g = groups[3]!
    const page = await freshPage()
    await open(page)
    expect(await corruptStoredNode(page, g.node)).toBeGreaterThan(0)
    await page.reload()
    await synced(page)
    await lookUp(page, g.accounts[0]!, 'proof')
    await expectRecovered(page, 'read-damage')
    await expect.poll(() => page.getByTestId('needs-repair').count(), { timeout: 30_000 }).toBe(0)
    await lookUp(page, g.accounts.at(-1)!, 'local')
    await page.close()
  }, 240_000)

  it('the repair flag left on disk by an earlier session: after a reload the driver recovers (why: repair-flag)', async () => {
    const page = await freshPage()
    await open(page)
    // What a session that met damage and was closed before it recovered leaves behind.
    const [key, value] = repairRecord({ reason: 'missing-node', hash: null })
    await writeMeta(page, key, value)
    await page.reload()
    await expectRecovered(page, 'repair-flag')
    await synced(page)
    await expect.poll(() => page.getByTestId('needs-repair').count(), { timeout: 30_000 }).toBe(0)
    await lookUp(page, groups[4]!.accounts[0]!, 'local')
    // The report is on disk: a reload shows the same last recovery.
    const at = await page.getByTestId('recovery-at').getAttribute('datetime')
    await page.reload()
    await expect.poll(() => page.getByTestId('recovery-at').getAttribute('datetime')).toBe(at)
    expect(await page.getByTestId('recovery-why').getAttribute('data-why')).toBe('repair-flag')
    await page.close()
  }, 240_000)

  it('damage the sampled start-up check always finds (the root node): the driver recovers it by itself (why: startup-check)', async () => {
    const root = mem.nodes.get(app.genesisRoot)!
    const page = await freshPage()
    await open(page)
    expect(await corruptStoredNode(page, root)).toBeGreaterThan(0)
    // The default settings: the start-up check runs.
    await page.goto(app.url)
    await expectRecovered(page, 'startup-check')
    const check = page.getByTestId('state-check')
    expect(await check.getAttribute('data-mode')).toBe('sampled')
    await synced(page)
    await lookUp(page, groups[5]!.accounts[0]!, 'local')
    await page.close()
  }, 240_000)
})
