/**
 * The static server inlines bootstrap.json into index.html (src/node/static-server.ts): the app
 * reads it back exactly, whatever the config holds, and the page is left alone when there is no
 * usable file.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { withBootstrap } from '../../src/node/static-server.ts'

const PAGE = '<!doctype html><html><head><title>rootsync</title></head><body></body></html>'
const ELEMENT = /<script type="application\/json" id="rootsync-bootstrap">(.*?)<\/script>/s

function fileWith(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'rootsync-inline-')), 'bootstrap.json')
  writeFileSync(f, text)
  return f
}

describe('bootstrap.json inlined into the page', () => {
  it('is read back as the same JSON, even when a value would close the script element', () => {
    const config = { chainId: 1337, peers: [{ name: '</script><script>alert(1)</script>', addrs: [] }] }
    const html = withBootstrap(PAGE, fileWith(JSON.stringify(config)))
    const m = html.match(ELEMENT)
    expect(m).not.toBeNull()
    expect(html.match(/<\/script>/g)).toHaveLength(1)
    expect(JSON.parse(m![1]!)).toEqual(config)
    expect(html.indexOf(m![0])).toBeLessThan(html.indexOf('</head>'))
  })

  it('leaves the page unchanged when the file is missing or is not JSON', () => {
    expect(withBootstrap(PAGE, fileWith('{ not json'))).toBe(PAGE)
    expect(withBootstrap(PAGE, join(tmpdir(), 'rootsync-no-such-dir', 'bootstrap.json'))).toBe(PAGE)
  })
})
