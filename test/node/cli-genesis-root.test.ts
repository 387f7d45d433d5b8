import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getGenesis } from '@ethereumjs/genesis'
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.ts'

const MAINNET_ROOT = '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'
const dir = mkdtempSync(join(tmpdir(), 'rootsync-genesis-'))

/** Ethereum mainnet's genesis alloc (8893 accounts, from @ethereumjs/genesis) in geth's genesis.json shape. */
function writeMainnetGenesis(): string {
  const alloc: Record<string, { balance: string }> = {}
  for (const [address, v] of Object.entries(getGenesis(1)!)) {
    alloc[address] = { balance: typeof v === 'string' ? v : (v as string[])[0]! }
  }
  const file = join(dir, 'mainnet.json')
  writeFileSync(file, JSON.stringify({ config: { chainId: 1 }, nonce: '0x42', timestamp: '0x0', alloc }))
  return file
}

describe('rootsync genesis-root', () => {
  it('prints the Ethereum mainnet genesis state root for the mainnet alloc', async () => {
    const r = await runCli(['genesis-root', writeMainnetGenesis()])
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe(MAINNET_ROOT)
    expect(r.code).toBe(0)
  })

  it('accepts decimal balances, nonces, code and storage as geth does', async () => {
    const file = join(dir, 'small.json')
    writeFileSync(
      file,
      JSON.stringify({
        config: { chainId: 1337 },
        alloc: {
          '0x0000000000000000000000000000000000000001': { balance: '1000' },
          '2000000000000000000000000000000000000002': {
            balance: '0x10',
            nonce: '0x1',
            code: '0x6001',
            storage: { '0x01': '0x02' },
          },
        },
      }),
    )
    const r = await runCli(['genesis-root', file])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(/^0x[0-9a-f]{64}$/)
  })

  it.each([
    ['a missing file', ['genesis-root', join(dir, 'nope.json')], 1, /cannot read .*nope\.json: ENOENT/],
    ['no file', ['genesis-root'], 2, /exactly one FILE/],
    ['an unknown command', ['frobnicate'], 2, /unknown command 'frobnicate'/],
  ])('%s gives a clear error', async (_name, args, code, message) => {
    const r = await runCli(args as string[])
    expect(r.code).toBe(code)
    expect(r.stderr).toMatch(message as RegExp)
  })

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['no chain id', '{"alloc":{}}', /config\.chainId/],
    ['a bad address', '{"config":{"chainId":1},"alloc":{"0x12":{"balance":"1"}}}', /alloc 0x12.*20 bytes/],
    [
      'a bad balance',
      '{"config":{"chainId":1},"alloc":{"0x0000000000000000000000000000000000000001":{"balance":"-5"}}}',
      /balance/,
    ],
  ])('a genesis with %s is refused with a message naming the problem', async (_name, text, message) => {
    const file = join(dir, `bad-${Math.random()}.json`)
    writeFileSync(file, text as string)
    const r = await runCli(['genesis-root', file])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(message as RegExp)
  })
})
