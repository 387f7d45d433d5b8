/**
 * The web app's static server for `npm start` and the browser tests: files from the built `dist/`,
 * `/bootstrap.json` from the devnet's data directory, and `index.html` for any other page path.
 *
 * Caching, for the service worker (docs/architecture.md, "Offline"): files under `assets/` have a
 * content hash in their name and are immutable; everything else (index.html, service-worker.js, the
 * web manifest, icons, bootstrap.json) is `no-cache`, so the browser revalidates it and a new build's
 * service worker is found on the next visit. A missing file (a path with an extension) is a 404, not
 * index.html: an HTML page must never be cached under a script's URL. The worker lives at the root
 * of its scope, so it needs no `Service-Worker-Allowed` header.
 *
 * index.html is served with the devnet's bootstrap.json inlined (`<script type="application/json"
 * id="rootsync-bootstrap">`), so the app starts its worker without a round trip for its config. It
 * is the same file `/bootstrap.json` serves, and no more trusted: it names the checkpoint the
 * worker verifies everything from, exactly as the fetched copy would.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { extname, join, normalize, relative, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
}

const IMMUTABLE = 'public, max-age=31536000, immutable'

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
    let target = file
    if (!(existsSync(file) && statSync(file).isFile())) {
      if (extname(path) !== '') {
        res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-cache' })
        res.end('not found\n')
        return
      }
      target = join(o.dist, 'index.html')
    }
    if (target === join(o.dist, 'index.html')) {
      res.writeHead(200, {
        'content-type': TYPES['.html']!,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      })
      res.end(withBootstrap(readFileSync(target, 'utf8'), o.bootstrapFile))
      return
    }
    const hashed = target !== o.bootstrapFile && relative(o.dist, target).startsWith(`assets${sep}`)
    res.writeHead(200, {
      'content-type': TYPES[extname(target)] ?? 'application/octet-stream',
      'cache-control': hashed ? IMMUTABLE : 'no-cache',
      'x-content-type-options': 'nosniff',
    })
    createReadStream(target).pipe(res)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve(server))
  })
}

/**
 * index.html with the bootstrap file inlined before `</head>`; unchanged when the file is missing
 * or is not JSON (the app then fetches it, and says what is wrong). `<` is escaped so the JSON
 * cannot close its script element.
 */
export function withBootstrap(html: string, bootstrapFile: string): string {
  let json: string
  try {
    json = JSON.stringify(JSON.parse(readFileSync(bootstrapFile, 'utf8')))
  } catch {
    return html
  }
  const tag = `<script type="application/json" id="rootsync-bootstrap">${json.replace(/</g, '\\u003c')}</script>`
  return html.replace('</head>', `${tag}\n  </head>`)
}
