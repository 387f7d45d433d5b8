/**
 * The web app's static server for `npm start` and the browser tests: files from the built `dist/`,
 * `/bootstrap.json` from the devnet's data directory, and `index.html` for any other path.
 */
import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { extname, join, normalize } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
}

export function serveApp(o: {
  dist: string
  bootstrapFile: string
  host: string
  port: number
}): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    const file =
      path === '/bootstrap.json'
        ? o.bootstrapFile
        : join(o.dist, normalize(path).replace(/^(\.\.[/\\])+/, ''))
    const target = existsSync(file) && statSync(file).isFile() ? file : join(o.dist, 'index.html')
    res.writeHead(200, {
      'content-type': TYPES[extname(target)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
    })
    createReadStream(target).pipe(res)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve(server))
  })
}
