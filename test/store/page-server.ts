/**
 * Serves one test page to Chromium: `entry` bundled by esbuild as an ES module behind a bare HTML
 * page, on a local port (IndexedDB is per origin, so the port stays for the whole test file).
 */
import { createServer } from 'node:http'
import { join } from 'node:path'
import { build } from 'esbuild'
import { ROOT } from '../helpers/cli.ts'

/** `entry` (a path from the repository's root) bundled as one browser ES module, lazy imports inlined. */
export async function bundleEntry(entry: string): Promise<string> {
  const bundle = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
  })
  return bundle.outputFiles[0]!.text
}

/** `scripts`: more entries served as `/<name>.js` (a worker the page starts). */
export async function servePage(
  entry: string,
  scripts: Record<string, string> = {},
): Promise<{ url: string; close: () => void }> {
  const js: Record<string, string> = { '/page.js': await bundleEntry(entry) }
  for (const [name, file] of Object.entries(scripts)) js[`/${name}.js`] = await bundleEntry(file)
  const server = createServer((req, res) => {
    const body = js[req.url ?? '']
    if (body !== undefined) res.writeHead(200, { 'content-type': 'text/javascript' }).end(body)
    else
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><script type="module" src="/page.js"></script>')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    close: () => server.close(),
  }
}
