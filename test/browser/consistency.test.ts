/**
 * Consistency checks in real Chromium, through the app's Consistency panel, against real serving
 * processes:
 * - local corruption: after a sync, the stored bytes of 5% of the account leaves are flipped in
 *   IndexedDB. With auto-repair off, "Check now" (64 sampled accounts, a fixed seed) reports the
 *   damaged ones it samples and leaves them (after a reload the same check finds the same); with it
 *   on, the same check repairs each, and a lookup of every repaired account afterwards answers from
 *   the local state with the devnet's value, verified.
 * - equivocation: a serving node presents, at every height, another header signed by the real
 *   validator keys. The alert names the double signers and offers the evidence as JSON; lookups are
 *   refused with it; a reload keeps it (the evidence is stored, and verified again); "Acknowledge"
 *   clears it and lookups answer again.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import type { EquivocationEvidence } from '../../src/core/consistency/types.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { ether } from '../../src/ui/format.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'
import { corruptStoredNode } from '../helpers/idb-tamper.ts'
import { CORRUPT_SERVE, startNode } from '../helpers/nodes.ts'

let app: AppFixture
/** Every genesis account: its address, hashed key, balance and account leaf (the last proof node). */
let accounts: { address: string; key: string; balance: bigint; leaf: Uint8Array }[]

beforeAll(async () => {
  app = await startAppFixture({ accounts: 300, contracts: 2, slots: 2, seed: 'consistency' }, undefined, {
    nodes: 2,
  })
  const mem = new MemoryNodeStore()
  const root = genesisStateRoot(app.files.genesis, (h, b) => void mem.nodes.set(toHex(h), b))
  accounts = await Promise.all(
    app.files.genesis.alloc.map(async ([address, acc]) => ({
      address: toHex(address),
      key: toHex(keccak256(address)),
      balance: acc.balance,
      leaf: (await accountProof(mem, root, address, [])).accountProof.at(-1)!,
    })),
  )
}, 120_000)

afterAll(() => app?.stop())

/** A page in a profile of its own (each case damages its own IndexedDB). */
async function freshPage(): Promise<Page> {
  const ctx = await app.freshBrowser()
  const page = await ctx.newPage()
  page.on('close', () => void ctx.close().catch(() => {}))
  return page
}

/** No periodic checks, no start-up spot check: the damage waits for "Check now". */
const ON_DEMAND = 'consistencyMs=0&samplePaths=0'
const SAMPLED = `${ON_DEMAND}&consistencyAccounts=64&consistencySeed=consistency-test`

async function synced(page: Page, root?: string) {
  const el = page.getByTestId('synced-root')
  await expect.poll(() => el.count(), { timeout: 60_000 }).toBe(1)
  if (root) await expect.poll(() => el.textContent(), { timeout: 60_000 }).toBe(root)
}

/** Clicks "Check now" and waits for its result (a new last check, or an error). */
async function checkNow(page: Page) {
  const button = page.getByTestId('check-now')
  await expect.poll(() => button.isEnabled(), { timeout: 30_000 }).toBe(true)
  // Read without waiting: before the first check there is no last check (a locator read would wait
  // for one to appear, for Playwright's whole default timeout).
  const last = page.getByTestId('last-check')
  const before = (await last.count()) ? await last.locator('time').getAttribute('datetime') : null
  await button.click()
  await expect
    .poll(
      async () =>
        (await page.getByTestId('check-error').count()) > 0 ||
        ((await button.isEnabled()) &&
          (await last.count()) === 1 &&
          (await last.locator('time').getAttribute('datetime')) !== before),
      { timeout: 90_000 },
    )
    .toBe(true)
  if (await page.getByTestId('check-error').count())
    throw new Error(`check failed: ${await page.getByTestId('check-error').textContent()}`)
  return page.getByTestId('discrepancy').evaluateAll((els) =>
    els.map((e) => ({
      kind: e.getAttribute('data-kind'),
      action: e.getAttribute('data-action'),
      account: e.getAttribute('data-account'),
      hash: e.getAttribute('data-hash'),
    })),
  )
}

async function lookUp(page: Page, address: string) {
  await page.getByLabel('Address', { exact: true }).fill(address)
  await page.getByRole('button', { name: 'Look up' }).click()
}

type Account = (typeof accounts)[number]

/** Flips a byte in every stored copy of 5% of the account leaves (every 20th by hashed key). */
async function corruptLeaves(page: Page): Promise<Account[]> {
  const victims = [...accounts].sort((a, b) => (a.key < b.key ? -1 : 1)).filter((_, i) => i % 20 === 7)
  for (const v of victims) expect(await corruptStoredNode(page, v.leaf)).toBeGreaterThan(0)
  return victims
}

/**
 * The damaged accounts a check found: a damaged leaf is named by its hash (the walk met it before
 * it could read the leaf's key), a leaf that decodes to another value by the account's key.
 */
function damagedAccounts(
  found: { kind: string | null; action: string | null; account: string | null; hash: string | null }[],
  victims: Account[],
) {
  return found
    .filter((d) => d.kind === 'LocalDamage' || d.kind === 'AccountMismatch')
    .map((d) => ({
      ...d,
      victim: victims.find((v) => v.key === d.account || toHex(keccak256(v.leaf)) === d.hash),
    }))
}

describe('consistency checks in Chromium (Consistency panel)', () => {
  it('local corruption: with autoRepair=0 reported and left; then found by the same sampled check and repaired from proofs', async () => {
    // The fixture's browser: a profile of its own, used by nothing else.
    const page = await app.browser.newPage()
    await page.goto(`${app.url}?${ON_DEMAND}`)
    await synced(page, app.genesisRoot)
    expect(await page.getByTestId('no-check').count()).toBe(1)
    const victims = await corruptLeaves(page)
    const keys = (ds: { victim?: Account }[]) => ds.map((d) => d.victim?.key ?? 'not a victim').sort()

    // Auto-repair off (a new worker: it reads the records from disk, not from its memory).
    await page.goto(`${app.url}?${SAMPLED}&autoRepair=0`)
    await synced(page, app.genesisRoot)
    const reported = damagedAccounts(await checkNow(page), victims)
    expect(Number(await page.getByTestId('peers-asked').textContent())).toBe(2)
    // The seed samples some of the damaged leaves (64 of ~300 accounts, 5% damaged) — and only
    // damaged ones: a sound account is never reported.
    expect(reported.length).toBeGreaterThan(0)
    for (const d of reported) {
      expect(d.victim).toBeDefined()
      expect(d.action).toBe('reported')
    }
    expect(await page.getByTestId('repaired').count()).toBe(0)
    // Left as it was: after a reload the same check (same seed) finds the same damage.
    await page.reload()
    await synced(page, app.genesisRoot)
    expect(keys(damagedAccounts(await checkNow(page), victims))).toEqual(keys(reported))

    // Auto-repair on (the default): the same damage found, and repaired.
    await page.goto(`${app.url}?${SAMPLED}`)
    await synced(page, app.genesisRoot)
    const damaged = damagedAccounts(await checkNow(page), victims)
    expect(keys(damaged)).toEqual(keys(reported))
    for (const d of damaged) expect(d.action).toBe('repaired')
    const repaired = await page
      .getByTestId('repaired-path')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-path')!))
    // One repaired path per damaged leaf found, named by the damaged account's own key.
    expect(repaired.sort()).toEqual(keys(damaged))
    expect(await page.getByTestId('check-outcome').textContent()).not.toBe('')

    // Every repaired account reads from the local state again, with the devnet's value.
    for (const a of new Set(damaged.map((d) => d.victim!))) {
      await lookUp(page, a.address)
      await expect
        .poll(() => page.getByTestId('source').textContent(), { timeout: 30_000 })
        .toBe('local state')
      expect(await page.getByTestId('lookup-result').textContent()).toContain(app.genesisRoot)
      expect(await page.getByTestId('balance').textContent()).toBe(ether(a.balance.toString()))
    }
    // Stored results: a reload shows the same last check, and a new check finds nothing damaged.
    const last = page.getByTestId('last-check')
    const at = await last.locator('time').getAttribute('datetime')
    await page.reload()
    await expect.poll(() => last.locator('time').getAttribute('datetime'), { timeout: 30_000 }).toBe(at)
    await synced(page, app.genesisRoot)
    expect(damagedAccounts(await checkNow(page), victims)).toEqual([])
    await page.close()
  }, 180_000)

  it('equivocation: the alert names the double signers, reads are refused, a reload keeps it, "Acknowledge" clears it', async () => {
    // A chain that moves (the evidence needs signed headers above the genesis), and a node that
    // follows it and presents another quorum-signed header at every height.
    const producer = await startNode('producer', `${app.files.dir}/producer`, [
      '--genesis',
      app.files.genesisFile,
      '--produce',
      app.files.keysFile,
      '--block-time',
      '1000',
      '--txs',
      '1',
    ])
    // The equivocator and the browser start while the chain makes its first blocks.
    const [liar, page] = await Promise.all([
      startNode(
        'equivocator',
        `${app.files.dir}/equivocator`,
        [
          '--genesis',
          app.files.genesisFile,
          '--follow',
          producer.ws,
          '--mode',
          'root-equivocate',
          '--keys',
          app.files.keysFile,
        ],
        { script: CORRUPT_SERVE },
      ),
      freshPage(),
      producer.waitHead(2),
    ])
    await page.goto(`${app.url}?${ON_DEMAND}&peers=${encodeURIComponent(`${producer.ws},${liar.ws}`)}`)
    await synced(page)
    await expect
      .poll(async () => Number(await page.getByTestId('verified-number').textContent()), { timeout: 30_000 })
      .toBeGreaterThan(0)

    const alert = page.getByTestId('equivocation-alert')
    // The equivocator answers once it has followed to the checked height (before that: unavailable).
    await expect
      .poll(
        async () => {
          await checkNow(page)
          return alert.count()
        },
        { timeout: 90_000, interval: 500 },
      )
      .toBe(1)
    const height = Number(await alert.getAttribute('data-height'))
    const id = (await alert.getAttribute('data-evidence'))!
    expect(height).toBeGreaterThan(0)
    expect(await alert.getAttribute('data-halted')).toBe('yes')
    const signers = await page
      .getByTestId('double-signer')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-address')))
    expect(signers.sort()).toEqual(app.files.genesis.validators.map((v) => toHex(v)).sort())
    const href = (await page.getByTestId('evidence-download').getAttribute('href'))!
    const evidence = JSON.parse(decodeURIComponent(href.slice(href.indexOf(',') + 1))) as EquivocationEvidence
    expect(evidence).toMatchObject({ id, height, peer: expect.stringContaining(liar.ready.peerId) })
    expect(evidence.local.hash).not.toBe(evidence.conflicting.hash)

    const account = accounts[3]!
    const refused = async () => {
      await lookUp(page, account.address)
      await expect.poll(() => page.getByTestId('lookup-error').count(), { timeout: 30_000 }).toBe(1)
      expect(await page.getByTestId('lookup-error').textContent()).toContain('EQUIVOCATION_HALT')
    }
    await refused()

    // The evidence is on disk: after a reload the alert is back and reads are still refused.
    await page.reload()
    await expect.poll(() => alert.getAttribute('data-evidence'), { timeout: 30_000 }).toBe(id)
    await refused()

    await page.getByTestId('acknowledge').click()
    await expect.poll(() => alert.count(), { timeout: 30_000 }).toBe(0)
    await lookUp(page, account.address)
    await expect.poll(() => page.getByTestId('balance').count(), { timeout: 30_000 }).toBe(1)
    expect(await page.getByTestId('lookup-result').textContent()).toContain('verified')
    await page.close()
  }, 180_000)
})
