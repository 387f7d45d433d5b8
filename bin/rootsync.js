#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so the package needs no build step on Node ≥ 20.6.
import { register } from 'tsx/esm/api'

register()
await import('../src/node/cli.ts')
