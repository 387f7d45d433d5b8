/** A token bucket per key (peer id): `take()` is false once a peer exceeds `perSecond` with `burst` slack. */
export interface RateLimiter {
  take(key: string, now?: number): boolean
}

export function createRateLimiter(perSecond: number, burst: number, maxKeys = 10_000): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    take(key, now = Date.now()) {
      let b = buckets.get(key)
      if (!b) {
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!)
        b = { tokens: burst, at: now }
        buckets.set(key, b)
      }
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond)
      b.at = now
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
  }
}
