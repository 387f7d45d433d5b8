#!/usr/bin/env node
/**
 * Draws the app's icons into public/icons/: a white Merkle-trie glyph (a root node over two branches
 * and their leaves) on the app's green. The PNGs are committed; run `node scripts/make-icons.mjs`
 * again only after changing the drawing. No dependencies: a tiny anti-aliased rasteriser and a PNG
 * encoder on node:zlib.
 *
 * - icon-192.png, icon-512.png: purpose "any", a rounded square with a transparent corner.
 * - maskable-192.png, maskable-512.png: purpose "maskable", full-bleed green with the glyph inside
 *   the 80% safe-zone circle (launchers crop these to their own shape).
 * - apple-touch-icon.png (180): full-bleed, iOS rounds it itself.
 * - icon.svg: the same drawing as a vector (the page's favicon).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { deflateSync } from 'node:zlib'

const GREEN = [0x2f, 0x7d, 0x32]
const WHITE = [0xff, 0xff, 0xff]

// The glyph in a unit box: nodes (x, y, r) and edges between them (indices), line width W.
const NODES = [
  [0.5, 0.14, 0.11], // root
  [0.24, 0.5, 0.09],
  [0.76, 0.5, 0.09],
  [0.1, 0.86, 0.075],
  [0.38, 0.86, 0.075],
  [0.76, 0.86, 0.075],
]
const EDGES = [
  [0, 1],
  [0, 2],
  [1, 3],
  [1, 4],
  [2, 5],
]
const W = 0.055

/** Distance from p to segment ab. */
function segDist(px, py, ax, ay, bx, by) {
  const dx = bx - ax
  const dy = by - ay
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
  return Math.hypot(px - ax - t * dx, py - ay - t * dy)
}

function inGlyph(u, v) {
  for (const [x, y, r] of NODES) if (Math.hypot(u - x, v - y) <= r) return true
  for (const [a, b] of EDGES) {
    const [ax, ay] = NODES[a]
    const [bx, by] = NODES[b]
    if (segDist(u, v, ax, ay, bx, by) <= W / 2) return true
  }
  return false
}

function inRoundedSquare(x, y, radius) {
  const cx = Math.min(Math.max(x, radius), 1 - radius)
  const cy = Math.min(Math.max(y, radius), 1 - radius)
  return Math.hypot(x - cx, y - cy) <= radius
}

/**
 * `corner`: the background's corner radius (0 = full bleed); `glyph`: the glyph box's side as a
 * fraction of the icon, centred.
 */
function draw(size, { corner, glyph }) {
  const SS = 4 // 4×4 samples per pixel
  const rgba = Buffer.alloc(size * size * 4)
  const g0 = (1 - glyph) / 2
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let bg = 0
      let fg = 0
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const x = (px + (sx + 0.5) / SS) / size
          const y = (py + (sy + 0.5) / SS) / size
          if (corner > 0 && !inRoundedSquare(x, y, corner)) continue
          bg++
          if (inGlyph((x - g0) / glyph, (y - g0) / glyph)) fg++
        }
      }
      const i = (py * size + px) * 4
      const a = bg / (SS * SS)
      const f = bg ? fg / bg : 0
      for (let c = 0; c < 3; c++) rgba[i + c] = Math.round(GREEN[c] * (1 - f) + WHITE[c] * f)
      rgba[i + 3] = Math.round(a * 255)
    }
  }
  return rgba
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

/** An 8-bit RGBA PNG (filter 0 on every row). */
function png(size, rgba) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0)
  ihdr.writeUInt32BE(size, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1))
  for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4)
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

function svg({ corner, glyph }) {
  const hex = `#${GREEN.map((c) => c.toString(16).padStart(2, '0')).join('')}`
  const s = 512
  const g0 = ((1 - glyph) / 2) * s
  const k = glyph * s
  const at = (v) => +(g0 + v * k).toFixed(2)
  const lines = EDGES.map(([a, b]) => {
    const [ax, ay] = NODES[a]
    const [bx, by] = NODES[b]
    return `<line x1="${at(ax)}" y1="${at(ay)}" x2="${at(bx)}" y2="${at(by)}"/>`
  }).join('')
  const circles = NODES.map(([x, y, r]) => `<circle cx="${at(x)}" cy="${at(y)}" r="${+(r * k).toFixed(2)}"/>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${s} ${s}"><title>rootsync</title><rect width="${s}" height="${s}" rx="${corner * s}" fill="${hex}"/><g stroke="#fff" stroke-width="${+(W * k).toFixed(2)}" stroke-linecap="round">${lines}</g><g fill="#fff">${circles.join('')}</g></svg>\n`
}

const out = new URL('../public/icons/', import.meta.url)
mkdirSync(out, { recursive: true })
const ANY = { corner: 0.18, glyph: 0.62 }
const MASKABLE = { corner: 0, glyph: 0.5 } // glyph corners at 0.354 of the size from the centre: inside the 0.4 safe zone
const files = {
  'icon-192.png': png(192, draw(192, ANY)),
  'icon-512.png': png(512, draw(512, ANY)),
  'maskable-192.png': png(192, draw(192, MASKABLE)),
  'maskable-512.png': png(512, draw(512, MASKABLE)),
  'apple-touch-icon.png': png(180, draw(180, { corner: 0, glyph: 0.62 })),
  'icon.svg': svg(ANY),
}
for (const [name, data] of Object.entries(files)) {
  writeFileSync(new URL(name, out), data)
  console.log(`public/icons/${name}: ${data.length} bytes`)
}
