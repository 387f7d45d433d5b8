/**
 * `rootsync` command line. Each command is a function taking parsed arguments; errors a user can fix
 * print one line (`rootsync: …`) and exit with status 1 (2 for usage errors; `check` has 3 and 4).
 */
import './polyfills.ts'
import { parseArgs } from 'node:util'
import { toHex } from '../core/bytes.ts'
import { genesisStateRoot, parseGenesis } from '../core/chain/genesis.ts'
import { RootsyncError } from '../core/errors.ts'
import { useWasmKeccak } from '../core/hash.ts'
import { CHECK_USAGE, CheckFailedError, check } from './commands/check.ts'
import { DEVNET_USAGE, devnet } from './commands/devnet.ts'
import { RECOVER_USAGE, recover } from './commands/recover.ts'
import { SERVE_USAGE, serve } from './commands/serve.ts'
import { SYNC_USAGE, sync } from './commands/sync.ts'
import { readJson, UsageError } from './commands/usage.ts'
import { VERIFY_USAGE, verify } from './commands/verify.ts'

const USAGE = `usage: rootsync <command> [options]

commands:
  genesis-root FILE   print the state root of a geth-style genesis.json
  serve               run a serving full node
  devnet              run a local devnet of serving nodes
  sync                sync the state under a verified header from peers into DIR
  recover             restore a complete, verified state in DIR (local snapshot, peer repair, block replay, network snapshot)
  verify              check the state synced into DIR and report damage (missing/corrupt/undecodable)
  check               compare the state in DIR with peers (signed header, sampled account proofs); repair local damage

  ${SERVE_USAGE}
  ${DEVNET_USAGE}
  ${SYNC_USAGE}
  ${RECOVER_USAGE}
  ${VERIFY_USAGE}
  ${CHECK_USAGE}
`

async function genesisRoot(args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} })
  const file = positionals[0]
  if (!file || positionals.length > 1) throw new UsageError('genesis-root takes exactly one FILE')
  console.log(toHex(genesisStateRoot(parseGenesis(await readJson(file, 'genesis')))))
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  'genesis-root': genesisRoot,
  serve,
  devnet,
  sync,
  verify,
  recover,
  check,
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE)
    return cmd ? 0 : 2
  }
  const run = COMMANDS[cmd]
  if (!run) {
    process.stderr.write(`rootsync: unknown command '${cmd}'\n${USAGE}`)
    return 2
  }
  try {
    await useWasmKeccak()
    await run(rest)
    return 0
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`rootsync ${cmd}: ${(e as Error).message}\n${USAGE}`)
      return 2
    }
    if (e instanceof RootsyncError) {
      process.stderr.write(`rootsync ${cmd}: ${e.message}\n`)
      // A check that ran but found what it could not settle has its own statuses (3, 4).
      return e instanceof CheckFailedError ? e.exitCode : 1
    }
    throw e
  }
}

/**
 * One-shot commands end the process once their work is done and their store closed: libp2p can keep
 * TCP sockets of closed connections open for tens of seconds after `node.stop()` (seen with
 * `rootsync recover`), and a script waiting for the command should not wait for them. Long-running
 * commands (serve, devnet) return only when stopped.
 */
const ONE_SHOT = new Set(['sync', 'recover', 'verify', 'check', 'genesis-root'])
const argv = process.argv.slice(2)
const code = await main(argv)
if (ONE_SHOT.has(argv[0] ?? '')) process.exit(code)
process.exitCode = code
