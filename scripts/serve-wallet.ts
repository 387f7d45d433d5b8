/**
 * `npm run example:wallet`: the example wallet page (examples/wallet/), served on its own origin —
 * another port than the app's — with what a page without a bundler needs: the built library
 * (dist-lib/, built first) under /lib/, ethers' self-contained ES module build under /vendor/, the
 * devnet's bootstrap.json, and /accounts.json (a few addresses of the devnet's genesis to show).
 *
 *   npm run example:wallet -- [--bootstrap .devnet/bootstrap.json] [--port 5174] [--host 127.0.0.1] [--no-build]
 *
 * Environment: ROOTSYNC_BOOTSTRAP (the bootstrap file), PORT. The genesis is read from beside the
 * bootstrap file (genesis.json, as `rootsync devnet` writes them); without one the list is empty.
 *
 * Security considerations: /accounts.json only says which addresses to look at; every balance the
 * page shows is read through the provider, verified against a header verified from the bootstrap's
 * checkpoint. The bootstrap file is the page's root of trust, as for the app.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const PAGE_DIR = join(ROOT, 'examples', 'wallet')
const ETHERS = join(ROOT, 'node_modules', 'ethers', 'dist', 'ethers.min.js')
/** How many genesis addresses /accounts.json lists. */
const KNOWN_ACCOUNTS = 5

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
}

export interface WalletServerOptions {
  /** The devnet's bootstrap.json (genesis.json beside it gives the known accounts). */
  bootstrapFile: string
  /** The built library (default dist-lib/). */
  libDir?: string
  host?: string
  /** 0: any free port. */
  port: number
}

/** `file` inside `dir`, or null for a path that leaves it (`..`) or names no file. */
function inside(dir: string, path: string): string | null {
  const file = resolve(dir, `.${path}`)
  if (file !== dir && !file.startsWith(dir + sep)) return null
  return existsSync(file) && statSync(file).isFile() ? file : null
}

/** The first few addresses of the genesis beside the bootstrap file, or none. */
export function knownAccounts(bootstrapFile: string): string[] {
  try {
    const genesis = JSON.parse(readFileSync(join(dirname(bootstrapFile), 'genesis.json'), 'utf8'))
    return Object.keys(genesis.alloc ?? {})
      .slice(0, KNOWN_ACCOUNTS)
      .map((a) => (a.startsWith('0x') ? a : `0x${a}`))
  } catch {
    return []
  }
}

export function serveWallet(o: WalletServerOptions): Promise<Server> {
  const lib = resolve(o.libDir ?? join(ROOT, 'dist-lib'))
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    const send = (status: number, type: string, body?: string) => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      })
      res.end(body)
    }
    if (path === '/accounts.json')
      return send(200, TYPES['.json']!, JSON.stringify(knownAccounts(o.bootstrapFile)))
    const file =
      path === '/bootstrap.json'
        ? existsSync(o.bootstrapFile)
          ? o.bootstrapFile
          : null
        : path === '/vendor/ethers.js'
          ? ETHERS
          : path.startsWith('/lib/')
            ? inside(lib, path.slice('/lib'.length))
            : inside(PAGE_DIR, path === '/' ? '/index.html' : path)
    if (!file) return send(404, 'text/plain', 'not found\n')
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    })
    createReadStream(file).pipe(res)
  })
  return new Promise((res, rej) => {
    server.once('error', rej)
    server.listen(o.port, o.host ?? '127.0.0.1', () => res(server))
  })
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bootstrap: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'no-build': { type: 'boolean' },
    },
  })
  const bootstrapFile = resolve(
    values.bootstrap ?? process.env.ROOTSYNC_BOOTSTRAP ?? join(ROOT, '.devnet', 'bootstrap.json'),
  )
  if (!existsSync(bootstrapFile))
    console.warn(`example:wallet: ${bootstrapFile} does not exist yet (start the devnet: npm start)`)
  if (!values['no-build']) {
    console.log('building the library…')
    const { build } = await import('vite')
    await build({ root: ROOT, configFile: join(ROOT, 'vite.lib.config.ts'), logLevel: 'warn' })
  }
  const host = values.host ?? '127.0.0.1'
  const server = await serveWallet({
    bootstrapFile,
    host,
    port: Number(values.port ?? process.env.PORT ?? 5174),
  })
  const { port } = server.address() as { port: number }
  console.log(`example wallet: open http://${host}:${port}/ (bootstrap: ${bootstrapFile})`)
  const stop = () => server.close(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main()
