/**
 * The web app as a PWA in real headless Chromium: its service worker activates and controls the
 * page, Chromium finds it installable with the declared manifest, once opened it loads offline,
 * with the chain config from the cached bootstrap.json, and a new build of the app is offered,
 * declined or taken (one reload) without losing the stored verified state.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { serveApp } from '../../src/node/static-server.ts'
import { ether } from '../../src/ui/format.ts'
import { type AppFixture, builtApp, startAppFixture } from '../helpers/app.ts'
import { launchBrowser } from '../helpers/browser.ts'

let app: AppFixture
let browser: BrowserContext
let url: string

beforeAll(async () => {
  app = await startAppFixture({ accounts: 200, contracts: 2, slots: 2, seed: 'pwa' })
  ;({ browser, url } = app)
}, 120_000)

afterAll(() => app?.stop())

const swState = (page: Page) => page.evaluate(() => document.documentElement.dataset.serviceWorker ?? null)
const controlled = (page: Page) => page.evaluate(() => navigator.serviceWorker.controller?.scriptURL ?? null)

/** Every cache of the page's origin: cache name → the paths it holds. */
const cacheContents = (page: Page) =>
  page.evaluate(async () => {
    const out: Record<string, string[]> = {}
    for (const name of await caches.keys()) {
      const requests = await (await caches.open(name)).keys()
      out[name] = requests.map((r) => new URL(r.url).pathname)
    }
    return out
  })

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Buffer): string {
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
  expect(bytes.subarray(12, 16).toString('ascii')).toBe('IHDR')
  return `${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`
}

describe('PWA in Chromium', () => {
  it('the service worker activates, precaches the app shell, and controls the page after a reload', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    // Errors about the worker, the manifest or a file it fetches (the app's own are app.test.ts's).
    const pwaError = /service.?worker|workbox|manifest|icon|precach|failed to load resource/i
    page.on('console', (m) => m.type() === 'error' && pwaError.test(m.text()) && errors.push(m.text()))
    await page.goto(url)
    await expect.poll(() => swState(page), { timeout: 30_000 }).toBe('activated')
    // The first visit ran before the worker existed, and the worker does not claim open pages.
    expect(await controlled(page)).toBeNull()
    // Its first install passed through "installed" on the way: that is no new version to offer.
    expect(await page.locator('#pwa-update').count()).toBe(0)

    const response = await page.reload()
    expect(response?.fromServiceWorker()).toBe(true)
    expect(await controlled(page)).toBe(`${url}service-worker.js`)
    await expect.poll(() => swState(page)).toBe('activated')
    await expect.poll(() => page.getByTestId('checkpoint').textContent()).toBe(app.genesisHash)

    const cached = await cacheContents(page)
    const precache = Object.entries(cached).find(([name]) => name.startsWith('workbox-precache'))?.[1]
    expect(precache).toBeDefined()
    for (const path of [
      '/index.html',
      '/manifest.webmanifest',
      '/icons/icon-192.png',
      '/icons/icon-512.png',
      '/icons/maskable-512.png',
    ]) {
      expect(precache).toContain(path)
    }
    expect(precache!.filter((p) => /^\/assets\/.+\.js$/.test(p)).length).toBeGreaterThanOrEqual(2) // app + sync worker
    expect(precache!.filter((p) => /^\/assets\/.+\.css$/.test(p)).length).toBe(1)
    expect(precache).not.toContain('/bootstrap.json')
    expect(precache).not.toContain('/service-worker.js')
    // bootstrap.json is only in its own network-first runtime cache.
    expect(cached['rootsync-bootstrap']).toEqual(['/bootstrap.json'])
    expect(errors).toEqual([])
  })

  it('the server sends the headers a service worker needs', async () => {
    const head = async (path: string) => {
      const r = await fetch(new URL(path, url))
      await r.arrayBuffer()
      return { status: r.status, type: r.headers.get('content-type'), cache: r.headers.get('cache-control') }
    }
    expect(await head('service-worker.js')).toEqual({
      status: 200,
      type: 'text/javascript',
      cache: 'no-cache',
    })
    expect(await head('')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', cache: 'no-cache' })
    expect(await head('manifest.webmanifest')).toEqual({
      status: 200,
      type: 'application/manifest+json',
      cache: 'no-cache',
    })
    expect(await head('bootstrap.json')).toMatchObject({ status: 200, cache: 'no-cache' })
    const html = await (await fetch(url)).text()
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1]
    expect(script).toBeDefined()
    expect((await head(script!)).cache).toMatch(/immutable/)
    // A missing file is a 404, never index.html (which a cache would keep under a script's URL).
    expect((await head('assets/gone-0000.js')).status).toBe(404)
  })

  it('Chromium finds the app installable, with the manifest as declared', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await expect.poll(() => swState(page), { timeout: 30_000 }).toBe('activated')
    const cdp = await page.context().newCDPSession(page)
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors')
    expect(installabilityErrors).toEqual([])

    const manifest = await cdp.send('Page.getAppManifest')
    expect(manifest.url).toBe(`${url}manifest.webmanifest`)
    expect(manifest.errors).toEqual([])
    const m = JSON.parse(manifest.data ?? 'null')
    expect(m).toMatchObject({
      name: 'rootsync',
      short_name: 'rootsync',
      start_url: './',
      scope: './',
      display: 'standalone',
      theme_color: '#2f7d32',
      background_color: '#ffffff',
    })
    expect(manifest.parsed?.scope).toBe(url)
    const icons = m.icons as { src: string; sizes: string; type: string; purpose: string }[]
    const png = icons.filter((i) => i.type === 'image/png')
    for (const [sizes, purpose] of [
      ['192x192', 'any'],
      ['512x512', 'any'],
      ['512x512', 'maskable'],
    ]) {
      expect(png.some((i) => i.sizes === sizes && i.purpose === purpose)).toBe(true)
    }
    // Every PNG icon is served as a PNG of its declared size.
    for (const icon of png) {
      const r = await fetch(new URL(icon.src, manifest.url))
      expect(r.headers.get('content-type')).toBe('image/png')
      expect(pngSize(Buffer.from(await r.arrayBuffer()))).toBe(icon.sizes)
    }
    expect(await page.locator('link[rel="manifest"]').getAttribute('href')).toBe('./manifest.webmanifest')
    expect(await page.locator('meta[name="theme-color"]').getAttribute('content')).toBe('#2f7d32')
  })

  it('opened once, the app loads offline: the shell from the precache, the chain from the cached bootstrap.json', async () => {
    // A new profile: this visit is the first one, before any service worker.
    const ctx = await launchBrowser()
    const bootstrapFile = join(app.files.dir, 'bootstrap.json')
    const original = readFileSync(bootstrapFile, 'utf8')
    try {
      const page = await ctx.newPage()
      await page.goto(url)
      await expect.poll(() => page.getByTestId('checkpoint').textContent()).toBe(app.genesisHash)
      await expect.poll(() => swState(page), { timeout: 30_000 }).toBe('activated')
      // Installing seeded the bootstrap cache, though this page fetched it before the worker existed.
      expect((await cacheContents(page))['rootsync-bootstrap']).toEqual(['/bootstrap.json'])

      // Online, bootstrap.json is network-first: a changed file replaces the cached copy.
      const updatedAt = '2030-01-01T00:00:00.000Z'
      writeFileSync(bootstrapFile, JSON.stringify({ ...JSON.parse(original), updatedAt }))
      await page.reload()
      expect(await controlled(page)).toBe(`${url}service-worker.js`)
      await expect.poll(() => page.getByTestId('checkpoint').textContent()).toBe(app.genesisHash)
      const cachedBootstrap = () =>
        page.evaluate(async () => {
          const r = await (await caches.open('rootsync-bootstrap')).match('bootstrap.json')
          return r ? ((await r.json()) as { updatedAt: string }).updatedAt : null
        })
      await expect.poll(cachedBootstrap).toBe(updatedAt)

      await ctx.setOffline(true)
      const offline = await page.reload()
      expect(offline?.fromServiceWorker()).toBe(true)
      expect(await page.getByRole('heading', { name: 'rootsync', level: 1, exact: true }).isVisible()).toBe(
        true,
      )
      await expect.poll(() => page.getByTestId('checkpoint').textContent()).toBe(app.genesisHash)
      expect(await page.getByTestId('chain-id').textContent()).toBe('1337')
      expect(await page.getByRole('heading', { name: 'Chain', exact: true }).isVisible()).toBe(true)
      // The network really is gone: an uncached URL fails.
      expect(
        await page.evaluate(() =>
          fetch('./not-cached.json').then(
            () => 'reached',
            () => 'failed',
          ),
        ),
      ).toBe('failed')
    } finally {
      writeFileSync(bootstrapFile, original)
      await ctx.close()
    }
  }, 90_000)
})

/** The second build of the same sources, as a server would deploy it: another build id. */
const NEXT_BUILD = 'pwa-test-next'

describe('PWA updates in Chromium', () => {
  it('a new build is offered while the page is open: "Later" keeps the running build, "Reload" reloads once onto the new one; offline, a reload shows the stored verified state', async () => {
    // Its own origin (port): a service worker and a store of its own, and a server whose files can
    // be swapped from one build to the next, as a deployment does.
    const current = await builtApp()
    const next = await builtApp(NEXT_BUILD)
    const root = mkdtempSync(join(tmpdir(), 'rootsync-pwa-update-'))
    const live = join(root, 'live')
    const deploy = (dist: string) => {
      symlinkSync(dist, join(root, 'incoming'))
      renameSync(join(root, 'incoming'), live)
    }
    deploy(current)
    const server = await serveApp({
      dist: live,
      bootstrapFile: join(app.files.dir, 'bootstrap.json'),
      host: '127.0.0.1',
      port: 0,
    })
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    const page = await browser.newPage()
    const spender = app.files.genesis.alloc.find(
      ([a]) => toHex(a) === toHex(addressOf(app.files.keys.spenders[0]!)),
    )!
    const balance = ether(spender[1].balance.toString())
    const build = () => page.evaluate(() => document.documentElement.dataset.build ?? null).catch(() => null)
    const lookUpBalance = async () => {
      await page.getByLabel('Address', { exact: true }).fill(toHex(spender[0]))
      await page.getByRole('button', { name: 'Look up' }).click()
      await expect.poll(() => page.getByTestId('balance').textContent(), { timeout: 20_000 }).toBe(balance)
      expect(await page.getByTestId('source').textContent()).toBe('local state')
    }
    try {
      // The page asks the server for a new build every second (default: every 30 minutes).
      await page.goto(`${origin}?updateCheckMs=1000`)
      await expect.poll(() => swState(page), { timeout: 30_000 }).toBe('activated')
      await page.reload()
      expect(await controlled(page)).toBe(`${origin}service-worker.js`)
      await expect
        .poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 })
        .toBe(app.genesisRoot)
      const oldBuild = await build()
      expect(oldBuild).toBeTruthy()
      expect(oldBuild).not.toBe(NEXT_BUILD)
      expect(await page.getByTestId('build').textContent()).toBe(`rootsync build ${oldBuild}`)
      const bar = page.getByTestId('update-bar')
      expect(await bar.count()).toBe(0)

      // A new build is deployed: the open page learns of it and offers it.
      deploy(next)
      await expect.poll(() => bar.isVisible(), { timeout: 30_000 }).toBe(true)
      expect(await bar.textContent()).toContain('A new version of rootsync is available.')

      // Declined: the old build keeps running and answering; the offer comes back on a later check.
      // (Clicked in the page, so the next check, a second away, cannot put the bar back in between.)
      const gone = await page.evaluate(() => {
        const later = [...document.querySelectorAll('#pwa-update button')].find(
          (b) => b.textContent === 'Later',
        )
        ;(later as HTMLButtonElement).click()
        return document.getElementById('pwa-update') === null
      })
      expect(gone).toBe(true)
      expect(await build()).toBe(oldBuild)
      await lookUpBalance()
      await expect.poll(() => bar.isVisible(), { timeout: 30_000 }).toBe(true)
      expect(await build()).toBe(oldBuild)

      // Accepted: exactly one navigation, onto the new build, which the new worker controls.
      let navigations = 0
      page.on('framenavigated', (f) => f === page.mainFrame() && navigations++)
      await bar.getByRole('button', { name: 'Reload' }).click()
      await expect.poll(build, { timeout: 30_000 }).toBe(NEXT_BUILD)
      expect(await page.getByTestId('build').textContent()).toBe(`rootsync build ${NEXT_BUILD}`)
      await expect
        .poll(() => page.getByTestId('verified-root').textContent(), { timeout: 30_000 })
        .toBe(app.genesisRoot)
      await expect.poll(() => swState(page)).toBe('activated')
      await lookUpBalance()
      expect(navigations).toBe(1)
      expect(await bar.count()).toBe(0) // nothing newer waits: no prompt on the new build

      // Offline: the new build's shell from its precache, the verified head and the balance from
      // the state stored in IndexedDB before the update.
      await browser.setOffline(true)
      const offline = await page.reload()
      expect(offline?.fromServiceWorker()).toBe(true)
      expect(await build()).toBe(NEXT_BUILD)
      await expect
        .poll(() => page.getByTestId('verified-root').textContent(), { timeout: 30_000 })
        .toBe(app.genesisRoot)
      await lookUpBalance()
    } finally {
      await browser.setOffline(false)
      await page.close()
      server.close()
      rmSync(root, { recursive: true, force: true })
    }
  }, 180_000)
})
