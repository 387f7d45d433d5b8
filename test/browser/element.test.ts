/**
 * `<rootsync-status>` from the built files on a page without a bundler: a plain module script imports
 * dist-lib/rootsync-status.js twice, under two URLs (so the module runs twice), and the element —
 * given only a `bootstrap` attribute — starts its own light client against a real serving node and
 * shows the head it verified, in its shadow root.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LibFixture, startLibFixture } from '../helpers/lib.ts'

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>element</title><link rel="icon" href="data:,"></head><body>
<rootsync-status bootstrap="/bootstrap.json"></rootsync-status>
<span class="phase" id="outside">not the element's</span>
<script type="module">
  import '/lib/rootsync-status.js'
  import '/lib/rootsync-status.js?again'
  window.defined = customElements.get('rootsync-status') !== undefined
</script>
</body></html>`

let app: LibFixture
let page: Page
const errors: string[] = []

beforeAll(async () => {
  app = await startLibFixture({ seed: 'element-test', accounts: 300, contracts: 4, slots: 4 })
  page = await app.browser.newPage()
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  // The test page, on the server's origin (its worker, IndexedDB and /bootstrap.json are real).
  await page.route(`${app.url}element.html`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: PAGE }),
  )
}, 120_000)

afterAll(async () => {
  await app?.stop()
})

describe('<rootsync-status> from the built files', () => {
  it('is defined once though imported twice, and shows the head its own client verified', async () => {
    await page.goto(`${app.url}element.html`)
    await expect.poll(() => page.evaluate(() => (window as { defined?: boolean }).defined)).toBe(true)
    const el = page.locator('rootsync-status')
    // The devnet produces no blocks: the verified head is the genesis the bootstrap names.
    await expect.poll(() => el.getByTestId('head-number').textContent(), { timeout: 60_000 }).toBe('0')
    expect(await el.getByTestId('head-hash').getAttribute('title')).toBe(app.genesisHash)
    expect(await el.getByTestId('head-root').getAttribute('title')).toBe(app.genesisRoot)
    await expect.poll(() => el.getByTestId('peers').textContent()).toBe('1/1 peers')
    // The state sync ends with the whole genesis state verified.
    await expect.poll(() => el.getByTestId('phase').textContent(), { timeout: 60_000 }).toBe('Synced')
    // Styles apply inside the shadow root, and only there: the page's own `.phase` keeps its weight.
    const weight = (l: ReturnType<Page['locator']>) => l.evaluate((e) => getComputedStyle(e).fontWeight)
    expect(await weight(el.getByTestId('phase'))).toBe('600')
    expect(await weight(page.locator('#outside'))).toBe('400')
    expect(errors).toEqual([])
  })
})
