#!/usr/bin/env node
/**
 * Adds lockfile entries for optional platform packages the registry here does not serve.
 *
 * Why: this workplace's npm registry lacks some platform builds (e.g. @biomejs/cli-win32-x64), so
 * `npm install` leaves them out of package-lock.json, and `npm ci` then refuses the lock as out of
 * sync. The entries only need to exist: `npm ci` never fetches a platform package for another
 * platform. Run after `npm install` changes the lock: `node scripts/lock-platforms.mjs`.
 */
import { readFileSync, writeFileSync } from 'node:fs'

const file = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(file, 'utf8'))
const pkgs = lock.packages
let added = 0
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`
    if (pkgs[key] || pkgs[`${path}/${key}`]) continue
    const m =
      /-(android|darwin|linux|win32|freebsd|openbsd|netbsd|sunos|aix|openharmony)-(arm64|x64|ia32|arm|ppc64|s390x|riscv64|loong64)(-(musl|gnu|msvc|gnueabihf|eabi|musleabihf))?$/.exec(
        name,
      )
    if (!m) continue
    pkgs[key] = {
      version,
      ...(meta.dev ? { dev: true } : {}),
      optional: true,
      os: [m[1]],
      cpu: [m[2]],
      ...(m[4]?.startsWith('musl') ? { libc: ['musl'] } : m[1] === 'linux' ? { libc: ['glibc'] } : {}),
    }
    added++
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`lock-platforms: added ${added} optional platform entries`)
