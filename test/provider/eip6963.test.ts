/**
 * EIP-6963 discovery: the announcement at once and on each request, its frozen detail, and the
 * function that stops answering requests. `window` is an EventTarget here (the Chromium test
 * discovers the provider on a real page).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEip1193Provider } from '../../src/provider/eip1193.ts'
import { announceProvider, ROOTSYNC_ICON } from '../../src/provider/eip6963.ts'
import { fakeLightClient } from './fake-light-client.ts'

interface Detail {
  info: { uuid: string; name: string; icon: string; rdns: string }
  provider: unknown
}

const g = globalThis as { window?: EventTarget }
beforeAll(() => {
  g.window = new EventTarget()
})
afterAll(() => {
  delete g.window
})

function heard() {
  const details: Detail[] = []
  const l = (e: Event) => details.push((e as CustomEvent<Detail>).detail)
  window.addEventListener('eip6963:announceProvider', l)
  return { details, off: () => window.removeEventListener('eip6963:announceProvider', l) }
}

describe('announceProvider', () => {
  it('announces at once and on every request, with a frozen detail, until stopped', () => {
    const provider = createEip1193Provider(fakeLightClient())
    const { details, off } = heard()
    const stop = announceProvider(provider)
    expect(details).toHaveLength(1)
    const d = details[0]!
    expect(d.provider).toBe(provider)
    expect(d.info).toMatchObject({ name: 'rootsync', rdns: 'org.rootsync', icon: ROOTSYNC_ICON })
    expect(d.info.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(d.info.icon).toMatch(/^data:image\/svg\+xml,/)
    expect(Object.isFrozen(d)).toBe(true)
    expect(Object.isFrozen(d.info)).toBe(true)
    window.dispatchEvent(new Event('eip6963:requestProvider'))
    window.dispatchEvent(new Event('eip6963:requestProvider'))
    expect(details).toHaveLength(3)
    expect(details[2]).toBe(d)
    stop()
    window.dispatchEvent(new Event('eip6963:requestProvider'))
    expect(details).toHaveLength(3)
    off()
  })

  it('takes the info given, and a new uuid for each announcer', () => {
    const provider = createEip1193Provider(fakeLightClient())
    const { details, off } = heard()
    const stops = [
      announceProvider(provider, { name: 'My wallet', rdns: 'com.example' }),
      announceProvider(provider),
    ]
    expect(details[0]!.info).toMatchObject({ name: 'My wallet', rdns: 'com.example', icon: ROOTSYNC_ICON })
    expect(details[0]!.info.uuid).not.toBe(details[1]!.info.uuid)
    for (const s of stops) s()
    off()
  })
})
