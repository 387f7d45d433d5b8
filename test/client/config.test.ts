/**
 * The page's configuration: fields a person types (URL, settings form) over bootstrap.json, refused
 * field by field through the same parser the worker and the CLI use.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError, fieldsFromUrl, resolveConfig } from '../../src/client/config.ts'

const ID = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
const base = {
  chainId: 1337,
  genesisHash: `0x${'ab'.repeat(32)}`,
  checkpoint: { number: 0, hash: `0x${'ab'.repeat(32)}` },
  validators: [`0x${'11'.repeat(20)}`],
  peers: [{ name: 'node-0', peerId: ID, addrs: [`/ip4/127.0.0.1/tcp/1/ws/p2p/${ID}`] }],
  updatedAt: 'yesterday',
}

function refusal(f: Parameters<typeof resolveConfig>[1], b: typeof base | null = base): ConfigError {
  try {
    resolveConfig(b, f)
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return e as ConfigError
  }
  throw new Error('expected a refusal')
}

describe('resolveConfig', () => {
  it('takes bootstrap.json as it is, without its extra fields', () => {
    const c = resolveConfig(base, {})
    expect(c).toEqual({ ...base, updatedAt: undefined, peers: base.peers })
    expect('updatedAt' in c).toBe(false)
  })

  it('lets typed fields override it; a later checkpoint keeps the genesis hash', () => {
    const hash = `0x${'CD'.repeat(32)}`
    const c = resolveConfig(base, {
      chainId: '7',
      checkpoint: `12:${hash}`,
      validators: `0x${'22'.repeat(20)}, 0x${'33'.repeat(20)}`,
      peers: `/ip4/10.0.0.1/udp/9/webrtc-direct/certhash/uEiA/p2p/${ID} /dns4/x/tcp/443/wss/p2p/${ID}`,
    })
    expect(c.chainId).toBe(7)
    expect(c.checkpoint).toEqual({ number: 12, hash: hash.toLowerCase() })
    expect(c.genesisHash).toBe(base.genesisHash)
    expect(c.validators).toHaveLength(2)
    expect(c.peers).toHaveLength(1) // two addresses of one peer
    expect(c.peers[0]!.addrs).toHaveLength(2)
  })

  it('takes a trusting period from the URL (seconds, at least a minute)', () => {
    expect(resolveConfig(base, fieldsFromUrl('?trustingPeriod=3600')).trustingPeriodSec).toBe(3600)
    expect(refusal({ trustingPeriod: '30' }).field).toBe('trustingPeriodSec')
    expect(refusal({ trustingPeriod: 'a week' }).field).toBe('trustingPeriodSec')
  })

  it('names the field it refuses', () => {
    expect(refusal({ chainId: '-1' }).field).toBe('chainId')
    expect(refusal({ checkpoint: '12:0x1234' }).message).toMatch(/^checkpoint: expected/)
    expect(refusal({ validators: '0x1234' }).field).toBe('validators')
    expect(refusal({ peers: `/ip4/127.0.0.1/tcp/1/p2p/${ID}` }).message).toMatch(
      /no transport a browser can dial/,
    )
    expect(refusal({ peers: '/ip4/127.0.0.1/tcp/1/ws' }).message).toMatch(/\/p2p\/<peer id>/)
    expect(refusal({}, null).field).toBe('chainId')
    expect(refusal({}, { ...base, peers: [] }).message).toBe('peers: no peers to sync from')
  })

  it('refuses a bootstrap.json the core parser refuses (a malformed peer id), naming the field', () => {
    const bad = { ...base, peers: [{ name: 'x', peerId: 'not-a-peer-id', addrs: ['/ip4/1.2.3.4/tcp/1/ws'] }] }
    expect(refusal({}, bad).field).toBe('peers[0].peerId')
  })
})
