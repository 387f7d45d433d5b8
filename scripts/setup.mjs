#!/usr/bin/env node
/**
 * Runs before `npm start` and `npm test` (their first step), so that after `git clone` those two
 * commands are all a new machine needs. Plain Node with no dependencies, since it runs before any
 * are installed. `node scripts/setup.mjs start|test`:
 *
 * - Node: at least the version package.json's `engines` asks for.
 * - Dependencies: when `node_modules` is missing or stale against package-lock.json, runs `npm ci`
 *   (it removes node_modules and installs exactly the versions the lockfile lists). Stale means
 *   npm's own record of what it installed (node_modules/.package-lock.json) disagrees with the
 *   lockfile: a package at another version or integrity, one installed that the lockfile no longer
 *   lists, or a required one missing (optional ones for other platforms are never installed).
 *   Comparing the two files takes milliseconds, so a machine that is set up (CI runs `npm ci`
 *   itself first) pays nothing.
 * - `test` only: Chromium for the browser tests (scripts/chromium.mjs, the same lookup the tests
 *   use). When it is missing and this runs as root with apt-get, installs Debian's `chromium`;
 *   otherwise says how to get it and stops.
 *
 * `start` needs nothing more: scripts/start.ts builds the app itself.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CHROMIUM_HELP, findChromium, onPath } from './chromium.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const mode = process.argv[2]
if (mode !== 'start' && mode !== 'test') fail('usage: node scripts/setup.mjs start|test')

checkNode()
const stale = dependenciesStale()
if (stale) {
  say(
    `installing dependencies: ${stale}; running \`npm ci\` (a clean install of exactly the versions in package-lock.json)…`,
  )
  run('npm', ['ci', '--no-audit', '--no-fund'])
  const still = dependenciesStale()
  if (still) fail(`\`npm ci\` finished but node_modules is still not as package-lock.json says: ${still}`)
}
if (mode === 'test') ensureChromium()

function checkNode() {
  const wanted = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines?.node ?? ''
  const min = /(\d+)\.(\d+)/.exec(wanted)
  const [major, minor] = process.versions.node.split('.').map(Number)
  if (min && (major < Number(min[1]) || (major === Number(min[1]) && minor < Number(min[2])))) {
    fail(
      `rootsync needs Node.js ${wanted}; this is ${process.version}. Install a newer Node.js (https://nodejs.org).`,
    )
  }
}

/** Why node_modules does not match package-lock.json, or '' when it does. */
function dependenciesStale() {
  if (!existsSync(join(ROOT, 'node_modules'))) return 'node_modules is missing'
  const installedFile = join(ROOT, 'node_modules', '.package-lock.json')
  if (!existsSync(installedFile)) return 'node_modules has no record of an npm install (.package-lock.json)'
  const wanted = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages ?? {}
  const installed = JSON.parse(readFileSync(installedFile, 'utf8')).packages ?? {}
  for (const [path, got] of Object.entries(installed)) {
    const want = wanted[path]
    if (!want) return `${path} is installed but package-lock.json no longer lists it`
    for (const field of ['version', 'integrity', 'resolved']) {
      if (want[field] !== got[field])
        return `${path} is ${got[field]} in node_modules, ${want[field]} in package-lock.json`
    }
  }
  for (const [path, want] of Object.entries(wanted)) {
    if (path !== '' && !installed[path] && !want.optional && !want.devOptional)
      return `${path} is not installed`
  }
  return ''
}

function ensureChromium() {
  const found = findChromium()
  if (found.path) return
  const root = process.getuid?.() === 0
  const apt = onPath('apt-get') !== undefined
  if (process.env.CHROMIUM_PATH || !root || !apt)
    fail(`Chromium not found (${found.error}).\n${CHROMIUM_HELP}`)
  say(`Chromium not found (${found.error}); running as root with apt: installing Debian's chromium`)
  say('  apt-get update && apt-get install -y chromium')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  run('apt-get', ['update', '-qq'], env)
  run('apt-get', ['install', '-y', '-qq', 'chromium'], env)
  const after = findChromium()
  if (!after.path)
    fail(`apt-get installed chromium but it is still not found (${after.error}).\n${CHROMIUM_HELP}`)
  say(`Chromium installed: ${after.path}`)
}

function run(command, args, env = process.env) {
  const r = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env })
  if (r.status !== 0)
    fail(`\`${command} ${args.join(' ')}\` failed (${r.error?.message ?? `exit code ${r.status}`})`)
}

function say(message) {
  console.log(`setup: ${message}`)
}

function fail(message) {
  console.error(`setup: ${message}`)
  process.exit(1)
}
