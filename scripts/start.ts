/**
 * `npm start`: builds the web app, starts the local devnet (`rootsync devnet`, extra arguments are
 * passed on) and serves the app and the devnet's bootstrap.json on 127.0.0.1, printing the URL.
 * Environment: PORT (default 5173), DEVNET_DIR (default .devnet).
 */
import '../src/node/polyfills.ts'
import { spawn } from 'node:child_process'
import type { Server } from 'node:http'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import { serveApp } from '../src/node/static-server.ts'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const DIST = join(ROOT, 'dist')
const DATA = resolve(process.env.DEVNET_DIR ?? join(ROOT, '.devnet'))
const PORT = Number(process.env.PORT ?? 5173)
console.log('building the web app…')
await build({ root: ROOT, logLevel: 'warn' })

const devnet = spawn(
  process.execPath,
  [join(ROOT, 'bin', 'rootsync.js'), 'devnet', '--data', DATA, ...process.argv.slice(2)],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
const up = new Promise<void>((res, rej) => {
  devnet.stdout!.on('data', (d: Buffer) => {
    process.stdout.write(d)
    if (d.toString().includes('Ctrl-C stops')) res()
  })
  devnet.once('exit', (code) => rej(new Error(`the devnet exited (code ${code})`)))
})

let server: Server | undefined
const stop = () => {
  server?.close()
  devnet.kill('SIGINT')
  devnet.once('exit', () => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)

try {
  await up
} catch (e) {
  console.error(`npm start: ${(e as Error).message}`)
  process.exit(1)
}
server = await serveApp({
  dist: DIST,
  bootstrapFile: join(DATA, 'bootstrap.json'),
  host: '127.0.0.1',
  port: PORT,
})
console.log(`\nrootsync is running: open http://127.0.0.1:${PORT}/\n`)
